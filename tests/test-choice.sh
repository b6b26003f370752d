#!/bin/sh
# test-choice.sh - with Cyrus' libgssapiv2.so (which registers GSS-SPNEGO
# too) in the same plugin directory, libsasl2 chooses this plugin for
# GSS-SPNEGO on the server and on the client, whichever file readdir()
# returns first, on the filesystem of $TMPDIR and on a tmpfs (whose
# readdir order is another: newest first), and Cyrus' GSSAPI mechanism
# stays available.  The choice is what saslpluginviewer lists first: the
# order of libsasl2's sorted mechanism list, which both sasl_server_start
# and sasl_client_start use (the first plugin of a name wins).
#
# libsasl2 2.1.28 sorts by the security flags, the channel-binding feature,
# max_ssf, then the hash strength in the security flags; ours declares 128
# bits (plugins/plugin.h, SPNEGO_HASH_STRENGTH), Cyrus' nothing, so equal
# plugins no longer fall back to load order.
#
#   top_srcdir=... top_builddir=... sh tests/test-choice.sh
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"

OURS=$top_builddir/plugins/.libs/libgssspnego.so
sysdir=
for d in "$(pkg-config --variable=libdir libsasl2 2>/dev/null)/sasl2" \
    /usr/lib/*/sasl2 /usr/lib/sasl2; do
    if [ -e "$d/libgssapiv2.so" ]; then
        sysdir=$d
        break
    fi
done
if [ -z "$sysdir" ] || ! command -v saslpluginviewer >/dev/null 2>&1 ||
    [ ! -f "$OURS" ]; then
    echo "1..0 # SKIP needs libgssapiv2.so (libsasl2-modules-gssapi-mit), saslpluginviewer (sasl2-bin) and the built plugin"
    exit 0
fi
CYRUS=$sysdir/libgssapiv2.so
# saslpluginviewer is not a sanitizer build: it cannot load a plugin built
# with ASan (the runtime must come first); the normal build runs this.
if ldd "$OURS" 2>/dev/null | grep -q 'libasan\.so'; then
    echo "1..0 # SKIP sanitizer build of the plugin: saslpluginviewer cannot load it"
    exit 0
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The .so files of DIR in readdir() order (ls -f does not sort).
so_order() {
    ls -f "$1" | grep '\.so$' | sed 's/\..*//' | tr '\n' ' '
}

# fill DIR FIRST: symlinks to both plugins such that readdir() returns the
# one named FIRST (libgssspnego or libgssapiv2) first.  File names are
# libNAME.N.so: libsasl2 takes the plugin name up to the first dot, so the
# names stay "gssspnego" and "gssapiv2" whatever N makes the order.
fill() {
    f_dir=$1 f_first=$2 f_n=0
    while [ "$f_n" -lt 200 ]; do
        rm -rf "$f_dir" && mkdir -p "$f_dir" || return 1
        if [ "$f_first" = libgssspnego ]; then
            ln -s "$OURS" "$f_dir/libgssspnego.$f_n.so"
            ln -s "$CYRUS" "$f_dir/libgssapiv2.$f_n.so"
        else
            ln -s "$CYRUS" "$f_dir/libgssapiv2.$f_n.so"
            ln -s "$OURS" "$f_dir/libgssspnego.$f_n.so"
        fi
        case $(so_order "$f_dir") in
            "$f_first "*) return 0 ;;
        esac
        f_n=$((f_n + 1))
    done
    return 1
}

# The plugin saslpluginviewer lists first for MECH on SIDE (-s or -c).
first_plugin() {
    SASL_PATH=$1 saslpluginviewer "$2" -m "$3" 2>&1 |
        awk -v m="$3" '/^Plugin "/ { split($0, q, "\""); p = q[2] }
            $0 ~ "SASL mechanism: " m "," && p != "" { print p; exit }'
}

# check DIR WHERE: ours for GSS-SPNEGO on both sides, Cyrus' for GSSAPI.
check() {
    c_order=$(so_order "$1")
    for side in -s -c; do
        c_got=$(first_plugin "$1" "$side" GSS-SPNEGO)
        tap_is "$c_got" gssspnego \
            "$2, readdir order: $c_order; GSS-SPNEGO ($side): our plugin"
    done
    c_got=$(first_plugin "$1" -s GSSAPI)
    tap_is "$c_got" gssapiv2 "$2, readdir order: $c_order; GSSAPI: Cyrus' plugin still there"
}

tap_plan 12
for first in libgssspnego libgssapiv2; do
    if fill "$tmp/$first" "$first"; then
        check "$tmp/$first" "$(stat -f -c %T "$tmp") ($first read first)"
    else
        tap_ok 1 "$(stat -f -c %T "$tmp"): cannot make readdir return $first first"
        tap_skip "GSS-SPNEGO (-c)" "no directory"
        tap_skip "GSSAPI" "no directory"
    fi
done

# A tmpfs, in a private mount namespace (root): readdir returns the
# newest entry first there.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m sh -c '
        mkdir -p "$1/tmpfs" && mount -t tmpfs none "$1/tmpfs" || exit 1
        for first in libgssspnego libgssapiv2; do
            d=$1/tmpfs/$first
            mkdir "$d"
            if [ $first = libgssspnego ]; then
                ln -s "$2" "$d/libgssapiv2.so"; ln -s "$3" "$d/libgssspnego.so"
            else
                ln -s "$3" "$d/libgssspnego.so"; ln -s "$2" "$d/libgssapiv2.so"
            fi
            for side in -s -c; do
                SASL_PATH=$d saslpluginviewer $side -m GSS-SPNEGO 2>&1 |
                    awk "/^Plugin \"/ { split(\$0, q, \"\\\"\"); p = q[2] }
                        /SASL mechanism: GSS-SPNEGO,/ && p != \"\" { print p; exit }" \
                    >"$1/tmpfs-$first$side"
            done
            SASL_PATH=$d saslpluginviewer -s -m GSSAPI 2>&1 |
                awk "/^Plugin \"/ { split(\$0, q, \"\\\"\"); p = q[2] }
                    /SASL mechanism: GSSAPI,/ && p != \"\" { print p; exit }" \
                >"$1/tmpfs-$first-gssapi"
            ls -f "$d" | grep "\.so\$" | sed "s/\..*//" | tr "\n" " " \
                >"$1/tmpfs-$first-order"
        done
        umount "$1/tmpfs"' sh "$tmp" "$CYRUS" "$OURS"
    for first in libgssspnego libgssapiv2; do
        order=$(cat "$tmp/tmpfs-$first-order" 2>/dev/null)
        for side in -s -c; do
            tap_is "$(cat "$tmp/tmpfs-$first$side" 2>/dev/null)" gssspnego \
                "tmpfs, readdir order: $order; GSS-SPNEGO ($side): our plugin"
        done
        tap_is "$(cat "$tmp/tmpfs-$first-gssapi" 2>/dev/null)" gssapiv2 \
            "tmpfs, readdir order: $order; GSSAPI: Cyrus' plugin still there"
    done
else
    for i in 1 2 3 4 5 6; do
        tap_skip "tmpfs case $i" "needs root and unshare (a private tmpfs mount)"
    done
fi
tap_done

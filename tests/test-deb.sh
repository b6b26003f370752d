#!/bin/sh
# test-deb.sh - the Debian packages, end to end: build them from a clean
# copy of the source tree, check them with lintian, install them into the
# system, bind once with `ldapwhoami -Y GSS-SPNEGO` through the INSTALLED
# plugin, and purge them again.  TAP on stdout.
#
#   top_srcdir=/src tests/fixture/with-krb5 sh tests/test-deb.sh
#
# (started inside tests/fixture/with-krb5 by itself when not run there).
#
# The source copy: the files git knows (tracked, and untracked but not
# ignored, with their working-tree contents) copied into a fresh temporary
# directory, so the packages are built from what is in the tree now and
# never from an earlier build in it (configure outputs, _build/, objects and
# programs of an in-tree build are left out).  Not a `make dist` tarball:
# that has no debian/ (an upstream tarball should not), holds generated
# files, and needs a configured build tree first.
#
# The system is left as it was: the packages are purged at the end (on
# failure too), packages that `apt-get -f install` had to add are purged
# again, an unpackaged libgssspnego.so (from `make install`) is put back,
# and libsasl2-modules-gssapi-mit is never touched (checked at the end).
#
# Skips (1..0) when not root, without dpkg-buildpackage, outside a git
# checkout (make distcheck), inside a package build (debian/rules exports
# SASL_SPNEGO_PACKAGE_BUILD; no recursion), when the build dependencies are
# missing (listed), or when the packages are already installed.
#
# Environment:
#   TEST_DEB_BUILD_OPTIONS   DEB_BUILD_OPTIONS for the build (default:
#                            "parallel=N"; "nocheck" skips make check)
#   TEST_DEB_KEEP=1          keep the temporary directory (build log, .debs)

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
top_srcdir=$(cd "$top_srcdir" && pwd) || exit 99
export top_srcdir

skip_all() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ -n "${SASL_SPNEGO_PACKAGE_BUILD:-}" ] &&
    skip_all "inside a package build (no recursion)"
[ "$(id -u)" = 0 ] || skip_all "needs root (dpkg -i / dpkg --purge)"
command -v dpkg-buildpackage >/dev/null 2>&1 ||
    skip_all "dpkg-buildpackage not installed (package dpkg-dev)"
if ! command -v git >/dev/null 2>&1 ||
    ! git -C "$top_srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    skip_all "$top_srcdir is not a git checkout (e.g. make distcheck)"
fi
[ -f "$top_srcdir/debian/control" ] || skip_all "no debian/ in $top_srcdir"

# Not inside a realm yet: run again inside a throwaway KDC (ldapwhoami
# needs one).  with-krb5 exits 77 before running us without the KDC tools.
if [ -z "${SPNEGO_TEST_HOST:-}" ]; then
    rc=0
    "$top_srcdir/tests/fixture/with-krb5" "${SHELL:-/bin/sh}" "$0" "$@" ||
        rc=$?
    if [ "$rc" = 77 ]; then
        skip_all "the Kerberos KDC tools are not installed (krb5-kdc, krb5-admin-server, krb5-user)"
    fi
    exit "$rc"
fi

# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"

PKG_PLUGIN=libsasl2-modules-gss-spnego
PKG_TOOLS=sasl-spnego-tools
PACKAGES="$PKG_PLUGIN $PKG_TOOLS"
CYRUS_PKG=libsasl2-modules-gssapi-mit
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
    gcc -print-multiarch 2>/dev/null)
SYSDIR=/usr/lib/$MULTIARCH/sasl2
SYSPLUGIN=$SYSDIR/libgssspnego.so
ALICE_DN=uid=alice,ou=people,dc=spnego,dc=test

installed() {   # installed PACKAGE: true if dpkg has it installed
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'
}
present() {     # present PACKAGE: true if dpkg knows more than its name
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.[^n]'
}
unpacked() {    # unpacked PACKAGE: its files are (partly) on the system
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.[^nc]'
}

for p in $PACKAGES; do
    unpacked "$p" &&
        skip_all "$p is already installed: purge it first (dpkg --purge $PACKAGES)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-deb.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 99
}
# World-readable: make check runs parts of the tests as nobody (runuser).
chmod 755 "$tmp"

cyrus_before=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$CYRUS_PKG" 2>/dev/null)
dpkg-query -W -f='${binary:Package} ${db:Status-Abbrev}\n' 2>/dev/null |
    awk '$2 == "ii" { print $1 }' | sort >"$tmp/pkgs.before"
backup=
if [ -e "$SYSPLUGIN" ] && ! dpkg -S "$SYSPLUGIN" >/dev/null 2>&1; then
    backup=$tmp/unpackaged-libgssspnego.so
    mv -f -- "$SYSPLUGIN" "$backup"
    tap_diag "moved the unpackaged $SYSPLUGIN (make install?) aside; put back at the end"
fi

purge_all() {
    for p in $PACKAGES; do
        present "$p" && dpkg --purge "$p" >>"$tmp/purge.log" 2>&1
    done
    # What apt-get -f install added for them.
    if [ -f "$tmp/pkgs.added" ] && [ -s "$tmp/pkgs.added" ]; then
        # shellcheck disable=SC2046
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
            $(cat "$tmp/pkgs.added") >>"$tmp/purge.log" 2>&1
        : >"$tmp/pkgs.added"
    fi
    if [ -n "$backup" ] && [ -e "$backup" ] && [ ! -e "$SYSPLUGIN" ]; then
        mv -f -- "$backup" "$SYSPLUGIN"
    fi
}

cleanup() {
    purge_all
    if [ "${TEST_DEB_KEEP:-0}" = 1 ]; then
        echo "# kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- 1. a clean copy of the source tree -------------------------------------

version=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version)
upstream=${version%-*}
src=$tmp/sasl-spnego-$upstream
"$top_srcdir/tests/clean-copy" "$top_srcdir" "$src"
copied=$?
(cd "$src" && find . -type f) >"$tmp/files"
leftover=$(cd "$src" && ls -d configure Makefile.in config.status _build 2>/dev/null)
[ "$copied" = 0 ] && [ -z "$leftover" ] && [ -x "$src/debian/rules" ]
tap_ok $? "a clean copy of the tree: $(wc -l <"$tmp/files") files, no build artefacts"

# ---- 2. the build -----------------------------------------------------------

build_opts=${TEST_DEB_BUILD_OPTIONS-parallel=$(nproc 2>/dev/null || echo 1)}
profiles=
case " $build_opts " in *" nocheck "*) profiles=-Pnocheck ;; esac

if ! missing=$(cd "$src" && dpkg-checkbuilddeps $profiles 2>&1); then
    tap_skip "dpkg-buildpackage" "build dependencies missing: $(printf '%s' "$missing" |
        sed -n 's/.*Unmet build dependencies: //p')"
    tap_done
fi

# failed_tests_of_build LOG: the FAIL/ERROR lines of make check in a
# package build's log, then each failing case with the lines after it
# (VERBOSE=1 put the failing tests' own logs into the build log), so a
# failure in CI names its cause and not only the last test's output.
failed_tests_of_build() {
    grep -E '^(FAIL|ERROR): ' "$1"
    grep -v '# TODO' "$1" | grep -A 8 -E '^not ok ' | head -n 120
}

# A clean environment: not the KDC of with-krb5, not the outer make's
# jobserver; make check inside the build starts KDCs of its own.
start=$(date +%s)
(cd "$src" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="${HOME:-/root}" TMPDIR="${TMPDIR:-/tmp}" LANG=C.UTF-8 \
    DEB_BUILD_OPTIONS="$build_opts" \
    dpkg-buildpackage -us -uc -b $profiles) >"$tmp/build.log" 2>&1
rc=$?
tap_ok "$rc" "dpkg-buildpackage -us -uc -b${profiles:+ $profiles} (DEB_BUILD_OPTIONS=$build_opts; $(($(date +%s) - start)) s)" || {
    failed_tests_of_build "$tmp/build.log" | sed 's/^/#   /'
    tail -n 40 "$tmp/build.log" | sed 's/^/#   /'
    tap_done
}
summary=$(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):' "$tmp/build.log" | sed 's/^# //' | tr -s ' ' | tr '\n' ' ')
[ -z "$summary" ] || tap_diag "make check in the build: $summary"

arch=$(dpkg --print-architecture)
deb_plugin=$tmp/${PKG_PLUGIN}_${version}_$arch.deb
deb_tools=$tmp/${PKG_TOOLS}_${version}_$arch.deb
changes=$tmp/sasl-spnego_${version}_$arch.changes

# ---- 3. lintian ---------------------------------------------------------------

if command -v lintian >/dev/null 2>&1; then
    # (With --show-overrides lintian's exit status counts overridden tags
    # too: the E:/W: lines decide.)
    lintian -I --show-overrides "$changes" >"$tmp/lintian.log" 2>&1
    rc=$?
    grep -v 'running with root privileges' "$tmp/lintian.log" | sed 's/^/# lintian: /'
    [ "$rc" -le 2 ] && ! grep -q '^[EW]: ' "$tmp/lintian.log"
    tap_ok $? "lintian: no errors or warnings (overrides: debian/*.lintian-overrides)"
else
    tap_skip "lintian" "lintian not installed"
fi

# ---- 4. the package contents ------------------------------------------------

contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|'; }
c_plugin=$(contents "$deb_plugin")
c_tools=$(contents "$deb_tools")
ok=0
for f in "$SYSPLUGIN" /usr/share/man/man7/gss_spnego.7.gz \
    /usr/share/doc/$PKG_PLUGIN/README.md.gz /usr/share/doc/$PKG_PLUGIN/copyright; do
    printf '%s\n' "$c_plugin" | grep -qx -- "$f" || {
        tap_diag "$PKG_PLUGIN lacks $f"
        ok=1
    }
done
printf '%s\n' "$c_plugin" | grep -q '\.la$' && {
    tap_diag "$PKG_PLUGIN ships a libtool archive"
    ok=1
}
tap_ok "$ok" "$PKG_PLUGIN: $SYSPLUGIN, gss_spnego(7), README.md, no .la"

ok=0
for f in /usr/bin/spnego-dump /usr/share/man/man1/spnego-dump.1.gz; do
    printf '%s\n' "$c_tools" | grep -qx -- "$f" || {
        tap_diag "$PKG_TOOLS lacks $f"
        ok=1
    }
done
tap_ok "$ok" "$PKG_TOOLS: spnego-dump and spnego-dump(1)"

depends=$(dpkg-deb -f "$deb_plugin" Depends)
ok=0
for d in libsasl2-2 libgssapi-krb5-2 libkrb5-3; do
    printf '%s\n' "$depends" | grep -q "$d" || ok=1
done
tap_ok "$ok" "$PKG_PLUGIN depends on libsasl2-2, libgssapi-krb5-2, libkrb5-3" ||
    tap_diag "Depends: $depends"

# ---- 5. install into the system -------------------------------------------

if ! dpkg -i "$deb_plugin" "$deb_tools" >"$tmp/install.log" 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q \
        >>"$tmp/install.log" 2>&1
fi
dpkg-query -W -f='${binary:Package} ${db:Status-Abbrev}\n' 2>/dev/null |
    awk '$2 == "ii" { print $1 }' | sort >"$tmp/pkgs.after"
comm -13 "$tmp/pkgs.before" "$tmp/pkgs.after" |
    grep -v -x -e "$PKG_PLUGIN" -e "$PKG_PLUGIN:$arch" -e "$PKG_TOOLS" \
        -e "$PKG_TOOLS:$arch" >"$tmp/pkgs.added"
installed "$PKG_PLUGIN" && installed "$PKG_TOOLS" &&
    [ "$(dpkg -S "$SYSPLUGIN" 2>/dev/null | cut -d: -f1)" = "$PKG_PLUGIN" ]
tap_ok $? "dpkg -i: both installed, $SYSPLUGIN belongs to $PKG_PLUGIN" ||
    sed 's/^/#   /' "$tmp/install.log"
[ -s "$tmp/pkgs.added" ] &&
    tap_diag "apt-get -f install added: $(tr '\n' ' ' <"$tmp/pkgs.added")"

out=$(echo a1143012a0030a0100a10b06092a864882f712010202 | /usr/bin/spnego-dump 2>&1)
printf '%s\n' "$out" | grep -q 'accept-completed'
tap_ok $? "the installed spnego-dump decodes a token" ||
    printf '%s\n' "$out" | sed 's/^/#   /'

# ---- 6. ldapwhoami -Y GSS-SPNEGO through the installed plugin ---------------
#
# slapd and ldapwhoami get SASL_PATH = a directory holding only a symlink to
# the INSTALLED $SYSPLUGIN (ldap-test/slapd-fixture with SPNEGO_PLUGIN).  The
# last case then uses the system directory itself, which also holds Cyrus'
# libgssapiv2.so (GSS-SPNEGO too): libsasl2 must choose ours there, without
# any SASL_PATH, whatever the order readdir() returns the files in.
#
# SPNEGO_MECHS=krb5 is read by our client only (Cyrus' client offers every
# mechanism MIT's SPNEGO has), and "initiator offers:" is logged by our
# server only: "initiator offers: krb5 (" in slapd's log shows both ends
# were ours.

with_slapd=$top_srcdir/ldap-test/with-slapd
have_ldap=1
for t in slapd ldapwhoami; do
    command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || have_ldap=0
done

if [ ! -x "$with_slapd" ]; then
    tap_skip "ldapwhoami through the installed plugin" "ldap-test/with-slapd not there"
    tap_skip "which GSS-SPNEGO libsasl2 uses in $SYSDIR" "ldap-test/with-slapd not there"
elif [ "$have_ldap" = 0 ]; then
    tap_skip "ldapwhoami through the installed plugin" "slapd or ldap-utils not installed"
    tap_skip "which GSS-SPNEGO libsasl2 uses in $SYSDIR" "slapd or ldap-utils not installed"
else
    cat >"$tmp/ldap-case.sh" <<'EOF'
# Runs inside ldap-test/with-slapd; $1 = output directory.
out=$1
readlink "$SASL_PATH/libgssspnego.so" >"$out/link"
ls "$SASL_PATH" >"$out/dir"
n=$(wc -l <"$LDAP_TEST_LOG")
SPNEGO_MECHS=krb5 timeout 60 ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
    >"$out/whoami.out" 2>"$out/whoami.err"
echo $? >"$out/whoami.rc"
sleep 0.2
tail -n +"$((n + 1))" "$LDAP_TEST_LOG" >"$out/whoami.log"
# The system directory as the client's SASL_PATH: which GSS-SPNEGO runs?
# (slapd stays on ours.  SPNEGO_MECHS=ms-krb5: only our client offers
# Microsoft's Kerberos OID alone; Cyrus' offers what MIT's SPNEGO has.)
n=$(wc -l <"$LDAP_TEST_LOG")
SASL_PATH=$SYSDIR SPNEGO_MECHS=ms-krb5 timeout 60 ldapwhoami -Y GSS-SPNEGO \
    -H "$LDAP_TEST_URI" >"$out/sys.out" 2>"$out/sys.err"
echo $? >"$out/sys.rc"
sleep 0.2
tail -n +"$((n + 1))" "$LDAP_TEST_LOG" >"$out/sys.log"
EOF
    mkdir "$tmp/ldap"
    SPNEGO_PLUGIN=$SYSPLUGIN SYSDIR=$SYSDIR "$with_slapd" -- \
        sh "$tmp/ldap-case.sh" "$tmp/ldap" >"$tmp/ldap/fixture.log" 2>&1
    rc=$?
    if [ "$rc" = 77 ]; then
        tap_skip "ldapwhoami through the installed plugin" "slapd-fixture: $(tail -n 1 "$tmp/ldap/fixture.log")"
        tap_skip "which GSS-SPNEGO libsasl2 uses in $SYSDIR" "slapd-fixture skipped"
    else
        ok=0
        [ "$rc" = 0 ] || { tap_diag "with-slapd exited $rc"; ok=1; }
        if [ "$(cat "$tmp/ldap/link" 2>/dev/null)" != "$SYSPLUGIN" ] ||
            [ "$(cat "$tmp/ldap/dir" 2>/dev/null)" != libgssspnego.so ]; then
            tap_diag "SASL_PATH does not hold just a link to $SYSPLUGIN"
            ok=1
        fi
        [ "$(cat "$tmp/ldap/whoami.rc" 2>/dev/null)" = 0 ] &&
            grep -qx "dn:$ALICE_DN" "$tmp/ldap/whoami.out" || ok=1
        grep -q 'GSS-SPNEGO: initiator offers: krb5 (' "$tmp/ldap/whoami.log" || {
            tap_diag "slapd did not log our plugin's 'initiator offers: krb5 ('"
            ok=1
        }
        tap_ok "$ok" "ldapwhoami -Y GSS-SPNEGO: $ALICE_DN, our installed plugin on both ends" || {
            cat "$tmp/ldap/fixture.log" "$tmp/ldap/whoami.out" \
                "$tmp/ldap/whoami.err" 2>/dev/null | sed 's/^/#   /'
            grep -E 'SASL|conn=10' "$tmp/ldap/whoami.log" 2>/dev/null |
                tail -n 20 | sed 's/^/#   slapd: /'
        }

        # Both plugins in one directory: what libsasl2 actually used must be
        # what its mechanism list (saslpluginviewer, first entry) predicts.
        if [ ! -e "$SYSDIR/libgssapiv2.so" ]; then
            tap_skip "which GSS-SPNEGO libsasl2 uses in $SYSDIR" "$CYRUS_PKG not installed"
        elif ! command -v saslpluginviewer >/dev/null 2>&1 &&
            [ ! -x /usr/sbin/saslpluginviewer ]; then
            tap_skip "which GSS-SPNEGO libsasl2 uses in $SYSDIR" "saslpluginviewer not installed (sasl2-bin)"
        else
            viewer=$(command -v saslpluginviewer || echo /usr/sbin/saslpluginviewer)
            first=$("$viewer" -c -m GSS-SPNEGO -p "$SYSDIR" 2>/dev/null |
                sed -n 's/^Plugin "\([^"]*\)".*/\1/p' | head -n 1)
            if grep -q 'GSS-SPNEGO: initiator offers: ms-krb5 (' "$tmp/ldap/sys.log"; then
                used=gssspnego
            elif grep -q 'GSS-SPNEGO: initiator offers:' "$tmp/ldap/sys.log"; then
                used=gssapiv2
            else
                used=unknown
            fi
            # ls -f: unsorted, in readdir() order, which is what matters.
            # shellcheck disable=SC2010
            order=$(ls -f "$SYSDIR" | grep -E '^lib(gssapiv2|gssspnego)\.so$' | tr '\n' ' ')
            case $used in
                gssspnego) who="ours" ;;
                gssapiv2) who="Cyrus SASL libgssapiv2" ;;
                *) who="no GSS-SPNEGO exchange seen" ;;
            esac
            tap_diag "both plugins in $SYSDIR (readdir order: $order): the client used $used ($who); saslpluginviewer lists $first first"
            tap_is "$used/$first" "gssspnego/gssspnego" "with Cyrus' libgssapiv2.so beside it in $SYSDIR and no SASL_PATH, libsasl2 lists our GSS-SPNEGO first and the client uses it"
        fi
    fi
fi

# ---- 7. purge, and the system as it was ------------------------------------

purge_all
ok=0
for p in $PACKAGES; do
    if present "$p"; then
        tap_diag "$p is still there after dpkg --purge"
        ok=1
    fi
done
if [ -n "$backup" ]; then
    [ -e "$SYSPLUGIN" ] || ok=1
else
    [ ! -e "$SYSPLUGIN" ] || { tap_diag "$SYSPLUGIN is still there"; ok=1; }
fi
[ ! -e /usr/bin/spnego-dump ] || ok=1
cyrus_after=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$CYRUS_PKG" 2>/dev/null)
[ "$cyrus_after" = "$cyrus_before" ] || {
    tap_diag "$CYRUS_PKG was '$cyrus_before', is '$cyrus_after'"
    ok=1
}
tap_ok "$ok" "purged; $CYRUS_PKG as before (${cyrus_before:-not installed})"

tap_done

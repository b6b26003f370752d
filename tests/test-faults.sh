#!/bin/sh
# test-faults.sh - faults around the plugin: KDC unreachable, keytab
# missing / unreadable / corrupt, clock skew, expired ticket, a mechanism
# library that is not installed.  Each must give a specific, actionable
# error on the side that sees it, and no crash.  Client and server are
# separate tests/sasl-peer processes (so one can run with a skewed clock
# through faketime, or as another user), each loading only our plugin.
#
#   top_srcdir=... top_builddir=... sh tests/test-faults.sh
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SASL_PEER=${SASL_PEER:-$top_builddir/tests/sasl-peer}
OUR_SO=$top_builddir/plugins/.libs/libgssspnego.so

# Not inside a realm yet: run again inside a throwaway KDC.
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
tap_in_realm "$0" "$@"

if [ ! -x "$SASL_PEER" ] || [ ! -f "$OUR_SO" ]; then
    echo "Bail out! $SASL_PEER or $OUR_SO not built"
    exit 99
fi

HOST=$SPNEGO_TEST_HOST
# Sanitizer builds: full stacks, so that tests/lsan.supp can name the
# third-party function that leaks on these error paths.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export ASAN_OPTIONS
tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 755 "$tmp"
mkdir "$tmp/plugins"
ln -s "$OUR_SO" "$tmp/plugins/libgssspnego.so"
chmod -R a+rX "$tmp/plugins"

now() { date +%s; }

# run_pair: start a server (SERVER_PREFIX, SERVER_ENV), wait for its port,
# run a client (CLIENT_PREFIX, CLIENT_ENV), stop the server.  Leaves the
# outputs in $case_dir.
case_no=0
run_pair() {
    case_no=$((case_no + 1))
    case_dir=$tmp/case$case_no
    mkdir "$case_dir"
    chmod 777 "$case_dir"
    # shellcheck disable=SC2086
    env $SERVER_ENV $SERVER_PREFIX "$SASL_PEER" server \
        --plugin-dir "$tmp/plugins" --service ldap --host "$HOST" \
        --listen "$case_dir/port" --log-level 5 --size 100 \
        >"$case_dir/server.out" 2>"$case_dir/server.err" &
    server_pid=$!
    deadline=$(($(now) + 20))
    while [ ! -s "$case_dir/port" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null ||
            [ "$(now)" -ge "$deadline" ]; then
            echo "no port from the server" >"$case_dir/client.out"
            wait "$server_pid" 2>/dev/null
            server_pid=
            return
        fi
        sleep 0.01
    done
    # shellcheck disable=SC2086
    env $CLIENT_ENV $CLIENT_PREFIX "$SASL_PEER" client \
        --plugin-dir "$tmp/plugins" --service ldap --host "$HOST" \
        --connect "127.0.0.1:$(cat "$case_dir/port")" --log-level 5 \
        --size 100 >"$case_dir/client.out" 2>"$case_dir/client.err"
    wait "$server_pid" 2>/dev/null
    server_pid=
}

# expect SIDE PATTERN NAME: SIDE's FAIL line matches PATTERN; no crash.
expect() {
    side=$1 pattern=$2 name=$3
    line=$(grep '^FAIL' "$case_dir/$side.out" | head -n 1)
    if [ -n "$line" ] && printf '%s\n' "$line" | grep -Eq -- "$pattern" &&
        ! grep -Eq 'AddressSanitizer|runtime error|Segmentation' \
            "$case_dir"/*.err; then
        tap_ok 0 "$name"
        tap_diag "$side: $line"
    else
        tap_ok 1 "$name"
        tap_diag "want $side to fail with /$pattern/"
        for f in "$case_dir"/*.out "$case_dir"/*.err; do
            sed "s|^|# $(basename "$f"): |" "$f" | tail -n 15
        done
    fi
}

SERVER_ENV=
SERVER_PREFIX=
CLIENT_ENV="SPNEGO_MECHS=krb5"
CLIENT_PREFIX=

tap_plan 9

# ---- the KDC unreachable: no service ticket can be had -------------------
# A ticket cache with only the TGT, and a krb5.conf naming a closed port.
sed "s/127\.0\.0\.1:$SPNEGO_TEST_KDC_PORT/127.0.0.1:9/" "$KRB5_CONFIG" \
    >"$tmp/krb5-nokdc.conf"
KRB5CCNAME=FILE:$tmp/tgt-only kinit -k -t "${KRB5_CLIENT_KTNAME#FILE:}" \
    alice >/dev/null 2>&1
CLIENT_ENV="SPNEGO_MECHS=krb5 KRB5_CONFIG=$tmp/krb5-nokdc.conf KRB5CCNAME=FILE:$tmp/tgt-only"
run_pair
expect client "no mechanism could start: krb5: .*(Cannot contact any KDC|Connection refused)" \
    "KDC unreachable: the client says it cannot contact the KDC"
CLIENT_ENV="SPNEGO_MECHS=krb5"

# ---- the keytab -------------------------------------------------------------
SERVER_ENV="SASL_PEER_OPT_spnego_keytab=FILE:$tmp/missing.keytab SASL_PEER_OPT_spnego_mechs=krb5"
run_pair
expect server "cannot accept as [^:]*: .*missing.keytab, which cannot be read" \
    "keytab missing: the server names it"

printf 'this is not a keytab\n' >"$tmp/corrupt.keytab"
SERVER_ENV="SASL_PEER_OPT_spnego_keytab=FILE:$tmp/corrupt.keytab SASL_PEER_OPT_spnego_mechs=krb5"
run_pair
expect server "cannot accept as [^:]*: .*krb5: .*(format|version|keytab).*corrupt.keytab" \
    "keytab corrupt: the server says what is wrong with which file"

# No spnego_keytab and no KRB5_KTNAME: the keytab is krb5.conf's
# default_keytab_name, as the Kerberos library has it, both for the
# credentials and in what the server says.
conf_keytab() {
    awk -v kt="$1" '{ print } /^\[libdefaults\]/ { print "    default_keytab_name = " kt }' \
        "$KRB5_CONFIG" >"$tmp/krb5-kt.conf"
}
conf_keytab "$KRB5_KTNAME"
SERVER_ENV="-u KRB5_KTNAME KRB5_CONFIG=$tmp/krb5-kt.conf SASL_PEER_OPT_spnego_mechs=krb5"
run_pair
if grep -q '^AUTH OK' "$case_dir/server.out" && grep -q '^AUTH OK' "$case_dir/client.out"; then
    tap_ok 0 "default keytab from krb5.conf (default_keytab_name): the server accepts with it"
else
    tap_ok 1 "default keytab from krb5.conf (default_keytab_name): the server accepts with it"
    for f in "$case_dir"/*.out; do sed "s|^|# $(basename "$f"): |" "$f" | tail -n 5; done
fi
conf_keytab "FILE:$tmp/conf-missing.keytab"
run_pair
expect server "cannot accept as [^:]*: .*conf-missing.keytab, which cannot be read" \
    "default keytab from krb5.conf, missing: the server names that file"
SERVER_ENV=

# Unreadable: the server runs as an unprivileged user, the keytab is root's.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1 &&
    runuser -u nobody -- test -x "$SASL_PEER" 2>/dev/null &&
    runuser -u nobody -- test -r "$OUR_SO" 2>/dev/null; then
    cp "${KRB5_KTNAME#FILE:}" "$tmp/root-only.keytab"
    chmod 600 "$tmp/root-only.keytab"
    cp "$KRB5_CONFIG" "$tmp/krb5.conf"
    chmod 644 "$tmp/krb5.conf"
    SERVER_ENV="KRB5_CONFIG=$tmp/krb5.conf KRB5RCACHEDIR=$case_dir SASL_PEER_OPT_spnego_keytab=FILE:$tmp/root-only.keytab SASL_PEER_OPT_spnego_mechs=krb5"
    SERVER_PREFIX="runuser -u nobody --"
    run_pair
    expect server "cannot accept as [^:]*: .*root-only.keytab, which cannot be read" \
        "keytab unreadable (permissions): the server says so"
    SERVER_PREFIX=
else
    tap_skip "keytab unreadable (permissions)" "needs root, runuser, and a build tree the user nobody can read"
fi
SERVER_ENV=

# ---- clock skew and an expired ticket (libfaketime) ---------------------------
# libfaketime is preloaded directly (not through the faketime wrapper,
# whose shared state can collide with what killed processes left in
# /dev/shm): an ASan build must then not insist on its runtime coming
# first.  The times are absolute (seconds since the epoch, FAKETIME_FMT=%s),
# counted from the clock this test sees, which tests/check's time-travel
# phase has moved already: a relative offset would replace that phase's
# offset instead of adding to it.  FAKETIME_SHARED is dropped so that the
# absolute time starts when the peer starts, not when that phase did.
faketime_lib=$(find /usr/lib /usr/lib64 -name libfaketime.so.1 \
    -path '*faketime*' 2>/dev/null | head -n 1)
if [ -n "$faketime_lib" ]; then
    fake_at() {
        echo "-u FAKETIME_SHARED LD_PRELOAD=$faketime_lib${LD_PRELOAD:+:$LD_PRELOAD} FAKETIME=@$1 FAKETIME_FMT=%s ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0"
    }
    SERVER_ENV="$(fake_at $(($(now) + 3600))) SASL_PEER_OPT_spnego_mechs=krb5"
    run_pair
    expect server "Clock skew too great" \
        "clock skew: the server reports the skew"
    SERVER_ENV=
    if KRB5CCNAME=FILE:$tmp/short kinit -l 10m -k -t \
        "${KRB5_CLIENT_KTNAME#FILE:}" alice >"$tmp/kinit.out" 2>&1; then
        CLIENT_ENV="$(fake_at $(($(now) + 7200))) SPNEGO_MECHS=krb5 KRB5CCNAME=FILE:$tmp/short KRB5_CLIENT_KTNAME=FILE:$tmp/none"
        run_pair
        expect client "krb5: .*[Ee]xpired" \
            "expired ticket: the client says its credentials expired"
    else
        tap_ok 1 "expired ticket: the client says its credentials expired"
        tap_diag "kinit -l 10m failed: $(cat "$tmp/kinit.out")"
    fi
    CLIENT_ENV="SPNEGO_MECHS=krb5"
else
    tap_skip "clock skew" "libfaketime is not installed (package faketime)"
    tap_skip "expired ticket" "libfaketime is not installed (package faketime)"
fi

# ---- a mechanism library that is not installed --------------------------------
printf 'gssntlmssp_v1 1.3.6.1.4.1.311.2.2.10 %s\n' \
    "$tmp/no-such-gssntlmssp.so" >"$tmp/mech.conf"
CLIENT_ENV="SPNEGO_MECHS=ntlmssp GSS_MECH_CONFIG=$tmp/mech.conf"
run_pair
expect client "ntlmssp: mechanism not installed" \
    "NTLM library missing: the client says the mechanism is not installed"
CLIENT_ENV="SPNEGO_MECHS=krb5"

tap_done

#!/bin/sh
# test-cyrus-interop.sh - our GSS-SPNEGO plugin against Cyrus SASL's own
# (libgssapiv2, libsasl2-modules-gssapi-mit), each side a real process.
#
# Runs inside tests/fixture/with-krb5 (KRB5_*, NTLM_USER_FILE and
# SPNEGO_TEST_* come from there; started here if not yet), with top_srcdir
# and top_builddir set:
#
#   top_srcdir=/src top_builddir=/build \
#       tests/fixture/with-krb5 sh tests/test-cyrus-interop.sh
#
# Every case starts `sasl-peer server` in the background with a plugin
# directory holding only one implementation, polls for its port file (with
# a deadline), runs `sasl-peer client` with the other directory, then
# waits for the server's PID.  Both sides must print AUTH OK with the same
# user (modulo realm spelling, see norm_user) and SSF, and DATA OK after
# echoing a payload through the security layer.
#
# Environment:
#   SASL_PEER              the sasl-peer binary ($top_builddir/tests/sasl-peer)
#   CYRUS_PLUGIN_DIR       where libgssapiv2.so is (libsasl2's libdir/sasl2)
#   CYRUS_INTEROP_LOG      sasl-peer --log-level for both sides (5)
#   CYRUS_INTEROP_KEEP=1   keep the temporary directory (logs, traces)
#
# TAP on stdout.  The whole file is skipped when Cyrus' GSSAPI plugin (or
# its GSS-SPNEGO mechanism) is not installed.

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

SASL_PEER=${SASL_PEER:-$top_builddir/tests/sasl-peer}
OUR_SO=$top_builddir/plugins/.libs/libgssspnego.so
LOG_LEVEL=${CYRUS_INTEROP_LOG:-5}
START_TIMEOUT=20    # seconds for the server to publish its port
RUN_TIMEOUT=120     # seconds for one side to finish
STOP_TIMEOUT=10     # seconds for the server to exit after the client

# ---- prerequisites ---------------------------------------------------------

find_cyrus_dir() {
    if [ -n "${CYRUS_PLUGIN_DIR:-}" ]; then
        printf '%s\n' "$CYRUS_PLUGIN_DIR"
        return
    fi
    for d in "$(pkg-config --variable=libdir libsasl2 2>/dev/null)/sasl2" \
        "$(pkg-config --variable=plugindir libsasl2 2>/dev/null)" \
        /usr/lib/x86_64-linux-gnu/sasl2 /usr/lib64/sasl2 /usr/lib/sasl2; do
        if [ -e "$d/libgssapiv2.so" ]; then
            printf '%s\n' "$d"
            return
        fi
    done
}

cyrus_dir=$(find_cyrus_dir)
if [ -z "$cyrus_dir" ] || [ ! -e "$cyrus_dir/libgssapiv2.so" ]; then
    echo "1..0 # SKIP Cyrus SASL's libgssapiv2.so is not installed (libsasl2-modules-gssapi-mit)"
    exit 0
fi
if ! grep -q 'GSS-SPNEGO' "$cyrus_dir/libgssapiv2.so"; then
    echo "1..0 # SKIP $cyrus_dir/libgssapiv2.so has no GSS-SPNEGO mechanism (Cyrus SASL < 2.1.27)"
    exit 0
fi
if [ ! -x "$SASL_PEER" ]; then
    echo "Bail out! $SASL_PEER not built (make check builds it; or set SASL_PEER)"
    exit 99
fi
if [ ! -f "$OUR_SO" ]; then
    echo "Bail out! $OUR_SO not built"
    exit 99
fi

# Not inside a realm yet (e.g. run by make check through $(SHELL)): run
# again inside a throwaway KDC.  with-krb5 exits 77 before running us
# when the Kerberos tools are missing.
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
tap_in_realm "$0" "$@"

if [ -z "${SPNEGO_TEST_REALM:-}" ] || [ -z "${NTLM_USER_FILE:-}" ]; then
    echo "Bail out! SPNEGO_TEST_REALM or NTLM_USER_FILE unset: not a tests/fixture/with-krb5 environment"
    exit 99
fi

HOST=$SPNEGO_TEST_HOST
REALM=$SPNEGO_TEST_REALM
NTLM_DOMAIN=${SPNEGO_TEST_NTLM_DOMAIN:-SPNEGO}
TIMEOUT=
if command -v timeout >/dev/null 2>&1; then
    TIMEOUT="timeout $RUN_TIMEOUT"
fi

# ---- temporary directories -------------------------------------------------

tmp=
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    server_pid=
    if [ -n "$tmp" ]; then
        if [ "${CYRUS_INTEROP_KEEP:-0}" = 1 ]; then
            echo "# keeping $tmp" >&2
        else
            rm -rf -- "$tmp"
        fi
    fi
    tmp=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cyrus-interop.XXXXXXXX") ||
    { echo "Bail out! mktemp failed"; exit 99; }

# Each directory holds one implementation and nothing else: libsasl2 then
# has exactly one GSS-SPNEGO to choose from.
OURS=$tmp/ours
CYRUS=$tmp/cyrus
mkdir "$OURS" "$CYRUS"
ln -s "$OUR_SO" "$OURS/libgssspnego.so"
for f in "$cyrus_dir"/libgssapiv2.so*; do
    ln -s "$f" "$CYRUS/${f##*/}"
done

# ---- helpers ---------------------------------------------------------------

now() { date +%s; }

# The same identity as both sides spell it: "DOMAIN\user" -> "user@DOMAIN",
# and the default realm dropped ("alice@SPNEGO.TEST" -> "alice").  Cyrus'
# client reports the full principal and its server strips the default
# realm; NTLM names come as "SPNEGO\alice" from Cyrus and as
# "alice@SPNEGO" from our server.
norm_user() {
    _u=$1
    case $_u in
        *\\*) _u="${_u#*\\}@${_u%%\\*}" ;;
    esac
    case $_u in
        *"@$REALM") _u=${_u%"@$REALM"} ;;
    esac
    printf '%s\n' "$_u"
}

# field NAME FILE: the value of NAME= on the AUTH OK line of FILE.
field() {
    sed -n "s/^AUTH OK.* $1=\\([^ ]*\\).*/\\1/p" "$2" | head -n 1
}

# Print both sides' output (and the end of their logs) as TAP comments.
show_logs() {
    for side in server client; do
        tap_diag "--- $side stdout:"
        tap_diag "$(cat "$case_dir/$side.out" 2>/dev/null)"
        tap_diag "--- $side stderr (last 25 lines):"
        tap_diag "$(tail -n 25 "$case_dir/$side.err" 2>/dev/null)"
        if [ -s "$case_dir/$side.krb5trace" ]; then
            tap_diag "--- $side KRB5_TRACE (last 10 lines):"
            tap_diag "$(tail -n 10 "$case_dir/$side.krb5trace")"
        fi
    done
}

# Stop the server: it normally exits by itself once the client is done;
# after STOP_TIMEOUT it is sent TERM.  Sets server_rc.
stop_server() {
    _deadline=$(($(now) + STOP_TIMEOUT))
    while kill -0 "$server_pid" 2>/dev/null &&
        [ -z "$(awk '$1 == "State:" && $2 == "Z" { print }' \
            "/proc/$server_pid/status" 2>/dev/null)" ]; do
        if [ "$(now)" -ge "$_deadline" ]; then
            echo "server pid $server_pid still running ${STOP_TIMEOUT}s after the client; sending TERM" \
                >>"$case_dir/server.err"
            kill -TERM "$server_pid" 2>/dev/null
            break
        fi
        sleep 0.05
    done
    server_rc=0
    wait "$server_pid" || server_rc=$?
    server_pid=
}

# In a sanitizer build, leaks are checked only in processes that load our
# plugin: Cyrus' own (e.g. the credential it acquires for maxssf 0 and
# never releases) are not ours to report.
asan_options() {
    if [ "$1" = "$CYRUS" ]; then
        printf '%s\n' "${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    else
        printf '%s\n' "${ASAN_OPTIONS:-}"
    fi
}

case_no=0

# run_pair SERVER_DIR CLIENT_DIR [ARGS...]: one server and one client with
# ARGS on both command lines; $SERVER_ARGS / $CLIENT_ARGS for one side only,
# $CLIENT_ENV (VAR=value words) for the client's environment.  Sets
# case_dir, server_rc, client_rc; returns 1 if the server never listened.
run_pair() {
    _sdir=$1
    _cdir=$2
    shift 2
    case_no=$((case_no + 1))
    case_dir=$tmp/case$case_no
    mkdir "$case_dir"
    : >"$case_dir/client.out"
    : >"$case_dir/client.err"
    # shellcheck disable=SC2086  # SERVER_ARGS is a list of words
    ASAN_OPTIONS=$(asan_options "$_sdir") \
        KRB5_TRACE=$case_dir/server.krb5trace $TIMEOUT "$SASL_PEER" server \
        --plugin-dir "$_sdir" --service ldap --host "$HOST" \
        --listen "$case_dir/port" --log-level "$LOG_LEVEL" \
        $SERVER_ARGS "$@" >"$case_dir/server.out" 2>"$case_dir/server.err" &
    server_pid=$!
    _deadline=$(($(now) + START_TIMEOUT))
    while [ ! -s "$case_dir/port" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null ||
            [ "$(now)" -ge "$_deadline" ]; then
            echo "the server published no port within ${START_TIMEOUT}s" \
                >>"$case_dir/client.err"
            client_rc=99
            stop_server
            return 1
        fi
        sleep 0.01
    done
    _port=$(cat "$case_dir/port")
    client_rc=0
    # shellcheck disable=SC2086
    env $CLIENT_ENV ASAN_OPTIONS="$(asan_options "$_cdir")" \
        KRB5_TRACE="$case_dir/client.krb5trace" $TIMEOUT \
        "$SASL_PEER" client --plugin-dir "$_cdir" --service ldap \
        --host "$HOST" --connect "127.0.0.1:$_port" \
        --log-level "$LOG_LEVEL" $CLIENT_ARGS "$@" \
        >"$case_dir/client.out" 2>"$case_dir/client.err" || client_rc=$?
    stop_server
    return 0
}

# ssf_matches GOT WANT: WANT is a number, or "conf" for any SSF >= 56
# (a confidentiality layer: 56 is the fallback, 256 for aes256, 64 NTLM).
ssf_matches() {
    case $2 in
        conf) [ -n "$1" ] && [ "$1" -ge 56 ] 2>/dev/null ;;
        *) [ "$1" = "$2" ] ;;
    esac
}

# check NAME WANT_USER WANT_SSF SIZE [NOTE]: judge the last run_pair.
# WANT_USER is normalized (norm_user).  NOTE is printed on failure.
check() {
    _name=$1 _want_user=$2 _want_ssf=$3 _size=$4 _note=${5:-}
    _why=
    _su=$(field user "$case_dir/server.out")
    _cu=$(field user "$case_dir/client.out")
    _ss=$(field ssf "$case_dir/server.out")
    _cs=$(field ssf "$case_dir/client.out")
    if [ "$server_rc" != 0 ] || [ "$client_rc" != 0 ]; then
        _why="exit status: server $server_rc, client $client_rc"
    elif [ "$(field mech "$case_dir/server.out")" != GSS-SPNEGO ] ||
        [ "$(field mech "$case_dir/client.out")" != GSS-SPNEGO ]; then
        _why="an AUTH OK line is missing, or the mechanism is not GSS-SPNEGO"
    elif [ "$(norm_user "$_su")" != "$(norm_user "$_cu")" ]; then
        _why="the sides disagree on the user: server \"$_su\", client \"$_cu\""
    elif [ "$(norm_user "$_su")" != "$_want_user" ]; then
        _why="user \"$_su\" (client \"$_cu\"), want \"$_want_user\""
    elif [ "$_ss" != "$_cs" ]; then
        _why="the sides disagree on the SSF: server $_ss, client $_cs"
    elif ! ssf_matches "$_ss" "$_want_ssf"; then
        _why="SSF $_ss on both sides, want $_want_ssf"
    elif ! grep -qx "DATA OK bytes=$_size" "$case_dir/server.out" ||
        ! grep -qx "DATA OK bytes=$_size" "$case_dir/client.out"; then
        _why="no \"DATA OK bytes=$_size\" on both sides"
    fi
    [ -z "$_ss$_cs" ] || _name="$_name (user $_su / $_cu, ssf $_ss)"
    if tap_is "${_why:-ok}" ok "$_name"; then
        return 0
    fi
    [ -z "$_note" ] || tap_diag "note: $_note"
    show_logs
    return 1
}

# check_refused NAME PATTERN: the last run_pair must fail on both sides,
# the server's FAIL line matching PATTERN (grep -E).
check_refused() {
    _name=$1 _pattern=$2
    _why="want both sides to fail (exit 1) and the server to say /$_pattern/; got exit status server $server_rc, client $client_rc"
    if [ "$server_rc" = 1 ] && [ "$client_rc" = 1 ] &&
        grep -q '^FAIL: server: ' "$case_dir/server.out" &&
        grep -Eq "$_pattern" "$case_dir/server.out" &&
        grep -q '^FAIL: client: the server refused' "$case_dir/client.out"; then
        _why=
    fi
    if tap_is "${_why:-ok}" ok "$_name"; then
        return 0
    fi
    show_logs
    return 1
}

# check_agree NAME: the last run_pair ended the same way on both sides:
# both authenticated with the same SSF and moved data through the layer,
# or both failed.  Never one side in a session the other refused.
check_agree() {
    _name=$1
    _ss=$(field ssf "$case_dir/server.out")
    _cs=$(field ssf "$case_dir/client.out")
    if [ "$server_rc" = 0 ] && [ "$client_rc" = 0 ]; then
        _why=ok
        [ -n "$_ss" ] && [ "$_ss" = "$_cs" ] ||
            _why="the sides disagree on the SSF: server $_ss, client $_cs"
        grep -qx "DATA OK bytes=100000" "$case_dir/server.out" &&
            grep -qx "DATA OK bytes=100000" "$case_dir/client.out" ||
            _why="no \"DATA OK\" on both sides"
        _name="$_name: both authenticated, SSF $_ss"
    elif [ "$server_rc" != 0 ] && [ "$client_rc" != 0 ]; then
        _why=ok
        _name="$_name: both refused ($(sed -n 's/^FAIL: server: //p' "$case_dir/server.out" | head -n 1 | cut -c1-150))"
    else
        _why="one side only failed: server $server_rc, client $client_rc"
    fi
    tap_is "$_why" ok "$_name" || show_logs
}

SERVER_ARGS=
CLIENT_ARGS=
CLIENT_ENV=

# Security properties for the SSF table: client-min:client-max:
# server-min:server-max per row.
SSF_ROWS="0:0:0:0 0:1:0:1 0:56:0:56 0:256:0:256 0:256:56:256 56:256:0:0
0:0:56:256 0:1:0:256 0:256:0:1"

# A client that can only do NTLM: no Kerberos ticket, no client keytab.
NTLM_CLIENT_ENV="KRB5CCNAME=FILE:/nonexistent KRB5_CLIENT_KTNAME=FILE:/nonexistent NTLM_USER_FILE=$NTLM_USER_FILE"

tap_plan 38

# ---- Kerberos, both directions, with and without a layer and success data --

for dir in "our client -> Cyrus server" "Cyrus client -> our server"; do
    case $dir in
        our*) sdir=$CYRUS cdir=$OURS ;;
        *) sdir=$OURS cdir=$CYRUS ;;
    esac
    for sd in "" --success-data; do
        sdname="libsasl2's extra step"
        [ -z "$sd" ] || sdname="SASL_SUCCESS_DATA"
        # shellcheck disable=SC2086
        run_pair "$sdir" "$cdir" --maxssf 0 $sd
        check "$dir: Kerberos, maxssf 0 (no layer), $sdname" alice 0 100000
        # shellcheck disable=SC2086
        run_pair "$sdir" "$cdir" $sd
        check "$dir: Kerberos, confidentiality, $sdname" alice conf 100000
    done
done

# ---- NTLM, both directions -------------------------------------------------

CLIENT_ENV=$NTLM_CLIENT_ENV
for sd in "" --success-data; do
    sdname="libsasl2's extra step"
    [ -z "$sd" ] || sdname="SASL_SUCCESS_DATA"
    # shellcheck disable=SC2086
    run_pair "$CYRUS" "$OURS" $sd
    check "our client -> Cyrus server: NTLM, confidentiality, $sdname" \
        "alice@$NTLM_DOMAIN" conf 100000
    # shellcheck disable=SC2086
    run_pair "$OURS" "$CYRUS" $sd
    check "Cyrus client -> our server: NTLM, confidentiality, $sdname" \
        "alice@$NTLM_DOMAIN" conf 100000
done
CLIENT_ENV=

# ---- integrity only --------------------------------------------------------

run_pair "$CYRUS" "$OURS" --maxssf 1
check "our client -> Cyrus server: Kerberos, maxssf 1 (integrity only)" \
    alice 1 100000
# Cyrus' client asks for INTEG without CONF here, but suppresses MIT's
# implicit CONF|INTEG (GSS_KRB5_CRED_NO_CI_FLAGS_X) only when max_ssf <=
# external_ssf, so MIT's krb5 mechanism adds CONF anyway: the flags say
# confidentiality.  Our server, whose application allows at most SSF 1,
# refuses a layer above its max_ssf with a clear reason (Postfix, with
# max_ssf 0, would otherwise accept and then break); our own client (the
# case above) gets integrity only.
run_pair "$OURS" "$CYRUS" --maxssf 1
check_refused "Cyrus client -> our server: Kerberos, maxssf 1 on both (Cyrus' client gets confidentiality): refused above max_ssf" \
    "security layer of SSF 256 \(confidentiality\), but this side allows integrity only \(max_ssf 1"

# ---- a larger payload over the confidentiality layer -----------------------

run_pair "$CYRUS" "$OURS" --size 1048576
check "our client -> Cyrus server: Kerberos, confidentiality, 1 MiB" \
    alice conf 1048576
run_pair "$OURS" "$CYRUS" --size 1048576
check "Cyrus client -> our server: Kerberos, confidentiality, 1 MiB" \
    alice conf 1048576

# ---- one SSF rule: the table against Cyrus' plugin, both ways --------------

# Whatever each side's properties, the two sides agree (gss_spnego(7),
# SECURITY LAYER).  Cyrus' client gets confidentiality from MIT whenever it
# asks for any layer (see above); our side then refuses what its own
# properties do not allow, and the Cyrus side fails with it.
for row in $SSF_ROWS; do
    cmin=${row%%:*} rest=${row#*:}
    cmax=${rest%%:*} rest=${rest#*:}
    smin=${rest%%:*} smax=${rest#*:}
    for dir in "our client -> Cyrus server" "Cyrus client -> our server"; do
        case $dir in
            our*) sdir=$CYRUS cdir=$OURS ;;
            *) sdir=$OURS cdir=$CYRUS ;;
        esac
        SERVER_ARGS="--minssf $smin --maxssf $smax"
        CLIENT_ARGS="--minssf $cmin --maxssf $cmax"
        run_pair "$sdir" "$cdir"
        check_agree "$dir, SSF client $cmin..$cmax, server $smin..$smax"
    done
done
SERVER_ARGS=
CLIENT_ARGS=

# ---- ours on both sides (sanity for sasl-peer itself) ----------------------

run_pair "$OURS" "$OURS" --success-data --size 1048576
check "our client -> our server: Kerberos, confidentiality, SASL_SUCCESS_DATA, 1 MiB" \
    alice conf 1048576

# ---- our server enforces min_ssf (Cyrus' never does) -----------------------

SERVER_ARGS="--minssf 56"
CLIENT_ARGS="--maxssf 0"
run_pair "$OURS" "$CYRUS"
check_refused "Cyrus client (maxssf 0) -> our server (minssf 56): SASL_TOOWEAK" \
    'too weak|TOOWEAK|SSF 0'
SERVER_ARGS=
CLIENT_ARGS=

# ---- an application with no password callbacks (Kerberos only) -------------

# Such an application registers neither SASL_CB_AUTHNAME nor SASL_CB_PASS
# (not even for interaction); Kerberos needs neither.
CLIENT_ARGS=--no-pass-prompt
run_pair "$CYRUS" "$OURS"
check "our client in a Kerberos-only application (no SASL_CB_PASS) -> Cyrus server" \
    alice conf 100000 \
    "libsasl2 skips a client mechanism whose required_prompts name a callback the application lacks (have_prompts() in lib/client.c; SASL_CB_PASS has no library default): 'No worthy mechs found'."
run_pair "$OURS" "$CYRUS"
check "Cyrus client in a Kerberos-only application (no SASL_CB_PASS) -> our server" \
    alice conf 100000
CLIENT_ARGS=

tap_done

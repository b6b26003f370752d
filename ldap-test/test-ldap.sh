#!/bin/sh
# ldap-test/test-ldap.sh - GSS-SPNEGO through real OpenLDAP: slapd and the
# ldapwhoami/ldapsearch/ldapmodify tools, with this project's plugin on one
# or both sides; TAP output.
#
#   top_srcdir=... top_builddir=... tests/fixture/with-krb5 sh ldap-test/test-ldap.sh
#
# Needs the KDC of tests/fixture/with-krb5 (KRB5_CONFIG, KRB5CCNAME with
# alice's TGT, KRB5_KTNAME with ldap/$(hostname), NTLM_USER_FILE; started by
# re-running itself under with-krb5 when not already inside it), the plugin
# built in $top_builddir, and starts its own slapd servers with
# ldap-test/slapd-fixture:
#   ours     our plugin                     SSFs, big PDUs, NTLM, errors, load
#   cyrus    Cyrus' libgssapiv2             mixed: our client, its server
#   minssf   ours, sasl-secprops minssf=56  a too-weak layer is refused
#   tls      ours, StartTLS/ldaps, sasl-cbinding tls-endpoint, and a TLS
#            man in the middle (ldap-test/tls-relay)
# Every case compares what the client prints with what slapd logged for the
# connection, and prints both when it fails.  Skips (1..0) when slapd or
# ldap-utils are missing, or the plugin is a sanitizer build (see below).
# Runs in about 15 seconds.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/tap.sh"
# shellcheck source=tests/proc.sh
. "$top_srcdir/tests/proc.sh"

FIXTURE=$top_srcdir/ldap-test/slapd-fixture
CLIENT_TIMEOUT=60      # seconds for one client command
LOG_TIMEOUT=5          # seconds to wait for slapd to log a line
ALICE_DN=uid=alice,ou=people,dc=spnego,dc=test

for t in slapd ldapwhoami ldapsearch ldapmodify timeout setsid; do
    if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
        echo "1..0 # SKIP $t not installed (packages slapd, ldap-utils)"
        exit 0
    fi
done
# Not inside the KDC fixture yet (its env.sh sets SPNEGO_TEST_DIR): run
# this script again under it, so that a plain "sh ldap-test/test-ldap.sh"
# (or an automake .sh log compiler) works too.
if [ -z "${SPNEGO_TEST_DIR:-}" ]; then
    if [ -n "${TEST_LDAP_REEXEC:-}" ]; then
        echo "Bail out! tests/fixture/with-krb5 did not set up a KDC"
        exit 99
    fi
    TEST_LDAP_REEXEC=1
    export TEST_LDAP_REEXEC
    exec "$top_srcdir/tests/fixture/with-krb5" sh "$0" "$@"
fi
PLUGIN=${SPNEGO_PLUGIN:-$top_builddir/plugins/.libs/libgssspnego.so}
if [ ! -f "$PLUGIN" ]; then
    echo "Bail out! $PLUGIN missing: build first"
    exit 99
fi
# A sanitizer build of the plugin needs libasan preloaded into slapd and the
# ldap tools, and on Debian 12 every such process (even "ldapsearch -VV"
# with Cyrus' own plugins, without ours) then deadlocks in its exit handlers
# (libp11-kit's destructor waits on glibc's setlocale lock), so each client
# would hang until its timeout.  LDAP_TEST_SANITIZER=1 runs it anyway.
if ldd "$PLUGIN" 2>/dev/null | grep -q 'libasan\.so' &&
    [ "${LDAP_TEST_SANITIZER:-0}" != 1 ]; then
    echo "1..0 # SKIP sanitizer build of the plugin: ASan-preloaded ldap tools hang at exit on this system"
    exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-ldap.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 99
}
T=$TMP/work
mkdir "$T"
SERVERS=
PIDS=

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
    for d in $SERVERS; do
        "$FIXTURE" stop "$d" >/dev/null 2>&1 ||
            echo "# slapd-fixture stop $d failed" >&2
    done
    rm -rf "$TMP"
}
trap cleanup 0
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- helpers -----------------------------------------------------------------

# server_up NAME [FIXTURE-OPTIONS]: start a slapd, source its ldap-env.sh.
# Returns the fixture's status (77: not installed).
server_up() {
    s_name=$1
    shift
    s_dir=$TMP/slapd-$s_name
    SERVERS="$SERVERS $s_dir"
    "$FIXTURE" start "$s_dir" "$@" >"$TMP/start-$s_name.log" 2>&1
    s_rc=$?
    if [ "$s_rc" -ne 0 ]; then
        [ "$s_rc" -eq 77 ] ||
            tap_diag "slapd-fixture start $s_name $* failed (status $s_rc):" \
                "$(tail -n 30 "$TMP/start-$s_name.log")"
        return "$s_rc"
    fi
    # shellcheck source=/dev/null
    . "$s_dir/ldap-env.sh"
    PIDS="$PIDS $LDAP_TEST_PID"
    if [ -f "$s_dir/relay.pid" ]; then
        PIDS="$PIDS $(cat "$s_dir/relay.pid")"
    fi
    return 0
}

server_down() {
    "$FIXTURE" stop "$TMP/slapd-$1"
}

# server_failed NAME STATUS WHAT: report a server that did not start.
server_failed() {
    if [ "$2" -eq 77 ]; then
        tap_skip "$3" "$(tail -n 1 "$TMP/start-$1.log")"
    else
        tap_result_ 1 "$3: slapd ($1) did not start"
    fi
}


# run CMD...: CMD with the sanitizer runtime preloaded when the plugin
# needs it (LDAP_TEST_PRELOAD), without a controlling terminal (password
# prompts read stdin), under a timeout.
run() {
    if [ -n "${RUN_PRELOAD:-}" ]; then
        # added to what is preloaded already (libfaketime in the
        # time-travel phase: without it the client's clock is not the
        # KDC's)
        timeout "$CLIENT_TIMEOUT" \
            env LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD }${LDAP_TEST_PRELOAD:-} $RUN_PRELOAD" \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            setsid -w "$@"
    elif [ -n "${LDAP_TEST_PRELOAD:-}" ]; then
        timeout "$CLIENT_TIMEOUT" env LD_PRELOAD="$LDAP_TEST_PRELOAD" \
            ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            setsid -w "$@"
    else
        timeout "$CLIENT_TIMEOUT" setsid -w "$@"
    fi
}

# client NAME CMD...: run CMD, stdin from $STDIN_FILE (default /dev/null),
# stdout/stderr into $T/NAME.out/.err.  Sets RC, OUT, ERR.
client() {
    c_name=$1
    shift
    run "$@" <"${STDIN_FILE:-/dev/null}" >"$T/$c_name.out" 2>"$T/$c_name.err"
    RC=$?
    OUT=$(cat "$T/$c_name.out")
    ERR=$(cat "$T/$c_name.err")
    LAST=$c_name
}

# mark: remember the end of slapd's log; since: the lines logged after it.
mark() {
    MARK=$(wc -l <"$LDAP_TEST_LOG" | tr -d ' ')
}
since() {
    tail -n "+$((MARK + 1))" "$LDAP_TEST_LOG"
}

# wait_log ERE: wait (up to LOG_TIMEOUT s) for slapd to log a matching line
# after the mark; 1 if it does not.
wait_log() {
    w_end=$(($(date +%s) + LOG_TIMEOUT))
    until since | grep -Eq -- "$1"; do
        [ "$(date +%s)" -lt "$w_end" ] || return 1
        sleep 0.05
    done
}

# The SASL SSF the client printed, and the bind_ssf slapd logged (after
# the mark) for the last GSS-SPNEGO bind; "-" if absent.
client_ssf() {
    v=$(sed -n 's/^SASL SSF: *\([0-9]*\).*/\1/p' "$T/$LAST.err" | tail -n 1)
    echo "${v:--}"
}
slapd_ssf() {
    wait_log 'mech=GSS-SPNEGO bind_ssf=' || { echo -; return; }
    v=$(since | sed -n 's/.* mech=GSS-SPNEGO bind_ssf=\([0-9]*\).*/\1/p' | tail -n 1)
    echo "${v:--}"
}

# The connection numbers of the binds logged after the mark.
bind_conns() {
    since | sed -n 's/.*conn=\([0-9]*\) op=[0-9]* BIND dn="" method=163.*/\1/p' |
        sort -u
}

# Lines slapd logged after the mark about those connections (the SASL
# plugin's messages, binds, results, TLS, closes).
conn_lines() {
    for c in $(bind_conns); do
        since | grep -E "conn=${c}[] ]" |
            grep -E 'SASL|BIND|RESULT|TLS|closed|STARTTLS' | cut -c1-400
    done
    # Security-layer errors are logged without a connection number.
    since | grep -E 'decode|ber_get_next on fd|sasl_generic|packet' |
        head -n 10 | cut -c1-400
}

# diag_client: show the last client's output and slapd's side of it.
diag_client() {
    tap_diag "client exit status: $RC"
    [ -z "$OUT" ] || tap_diag "stdout:" "$(head -c 2000 "$T/$LAST.out")"
    [ -z "$ERR" ] || tap_diag "stderr:" "$(head -c 3000 "$T/$LAST.err")"
    d_lines=$(conn_lines | tail -n 40)
    if [ -n "$d_lines" ]; then
        tap_diag "slapd log ($LDAP_TEST_LOG), this connection:" "$d_lines"
    else
        tap_diag "slapd log ($LDAP_TEST_LOG), last lines:" \
            "$(since | tail -n 25 | cut -c1-400)"
    fi
}

# check COND NAME: a result; on failure the client's and slapd's side.
check() {
    if [ "$1" = 0 ]; then
        tap_result_ 0 "$2"
    else
        tap_result_ 1 "$2"
        diag_client
    fi
}

# ssf_ok GOT WANT: WANT is a number or ">=N".
ssf_ok() {
    case $2 in
        ">="*) [ "$1" != - ] && [ "$1" -ge "${2#>=}" ] ;;
        *) [ "$1" = "$2" ] ;;
    esac
}

# whoami_case NAME WANT-SSF [ldapwhoami options...]: bind as alice with
# GSS-SPNEGO; pass if the DN is alice's and the SASL SSF the client prints
# equals the bind_ssf slapd logs, and matches WANT-SSF.
whoami_case() {
    w_name=$1
    w_want=$2
    shift 2
    mark
    client whoami ldapwhoami -Y GSS-SPNEGO "$@"
    w_c=$(client_ssf)
    w_s=$(slapd_ssf)
    w_ok=1
    if [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] && [ "$w_c" = "$w_s" ] &&
        ssf_ok "$w_c" "$w_want"; then
        w_ok=0
    fi
    check "$w_ok" "$w_name: dn:$ALICE_DN, client SASL SSF $w_c = slapd bind_ssf $w_s (want $w_want)"
}

# gsscreds_case NAME KIND WANT-DN [WANT-MECH]: ldap-test/gsscreds-bind
# lends libldap a GSS credential of KIND (LDAP_OPT_X_SASL_GSS_CREDS) and
# binds with GSS-SPNEGO; pass if the server's whoami is WANT-DN, the
# credential is still valid after the bind (borrowed), and (our slapd)
# slapd logged "complete with WANT-MECH".  alice's ticket stays the
# default all along: the credential given must win over it.
GSSCREDS_BIND=$top_builddir/ldap-test/gsscreds-bind
BOB_DN=uid=bob,ou=people,dc=spnego,dc=test
gsscreds_case() {
    if [ ! -x "$GSSCREDS_BIND" ]; then
        tap_skip "$1" "ldap-test/gsscreds-bind not built (package libldap-dev)"
        return
    fi
    mark
    client "gss-$2" "$GSSCREDS_BIND" "$LDAP_TEST_URI" "$2"
    g_ok=1
    if [ "$RC" = 0 ] && [ "$(head -n 1 "$T/gss-$2.out")" = "dn:$3" ] &&
        { [ -z "${4:-}" ] || wait_log "complete with $4"; }; then
        g_ok=0
    fi
    check "$g_ok" "$1: $(head -n 1 "$T/gss-$2.out") (want dn:$3)"
}

# good_bind_after NAME: slapd still alive and a normal bind still works.
good_bind_after() {
    g_ok=1
    if alive "$LDAP_TEST_PID"; then
        mark
        client good ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI"
        [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] && g_ok=0
    else
        RC=- OUT='' ERR="slapd pid $LDAP_TEST_PID is gone"
    fi
    check "$g_ok" "$1"
}

# A 1 MiB binary value and the LDIF that puts it into alice's jpegPhoto.
head -c 1048576 /dev/urandom >"$T/photo"
printf 'dn: %s\nchangetype: modify\nreplace: jpegPhoto\njpegPhoto:< file://%s\n' \
    "$ALICE_DN" "$T/photo" >"$T/photo.ldif"

# A search request of about 209 KB: a 126 KB filter (the most one
# command-line argument may hold, and ldapsearch -f reads lines of at most
# BUFSIZ) that is 189 KB in BER, plus 4000 requested attribute names.
BIG_FILTER=$(awk 'BEGIN { printf "(|(uid=alice)"; for (i = 0; i < 21000; i++) printf "(cn=x)"; printf ")" }')
BIG_ATTRS=$(awk 'BEGIN { for (i = 0; i < 4000; i++) printf "uid " }')

# photo_put NAME: ldapmodify alice's 1 MiB jpegPhoto (SASL layer required).
# PHOTO_OPTS: more ldapmodify/ldapsearch options (e.g. -O maxssf=1), with
# the SSF wanted in PHOTO_SSF (default >=56).
photo_put() {
    mark
    # shellcheck disable=SC2086 # PHOTO_OPTS is a list of words
    client "$1" ldapmodify -Y GSS-SPNEGO -H "$LDAP_TEST_URI" ${PHOTO_OPTS:-} \
        -f "$T/photo.ldif"
    p_c=$(client_ssf)
    p_ok=1
    if [ "$RC" = 0 ] && ssf_ok "$p_c" "${PHOTO_SSF:->=56}" &&
        wait_log 'op=[0-9]+ RESULT tag=103 err=0 '; then
        p_ok=0
    fi
    check "$p_ok" "$2 (SASL SSF $p_c)"
}

# photo_seed: store the 1 MiB value as the rootdn (simple bind, no SASL)
# so that a photo_get does not depend on an earlier photo_put.
photo_seed() {
    run ldapmodify -x -D "$LDAP_TEST_ROOTDN" -w "$LDAP_TEST_ROOTPW" \
        -H "$LDAP_TEST_URI" -f "$T/photo.ldif" </dev/null >"$T/seed.out" 2>&1 ||
        tap_diag "storing the 1 MiB value as $LDAP_TEST_ROOTDN failed:" \
            "$(cat "$T/seed.out")"
}

# photo_get NAME TEXT: ldapsearch alice's entry back (a result of more than
# 1 MiB) and compare the value with what was stored.
photo_get() {
    rm -rf "$T/dl"
    mkdir "$T/dl"
    mark
    # shellcheck disable=SC2086 # PHOTO_OPTS is a list of words
    client "$1" ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" ${PHOTO_OPTS:-} \
        -b "$ALICE_DN" -s base -T "$T/dl" -t "(objectClass=*)" jpegPhoto cn
    g_c=$(client_ssf)
    g_file=$(sed -n 's|^jpegPhoto:< file://||p' "$T/$1.out")
    g_ok=1
    if [ "$RC" = 0 ] && ssf_ok "$g_c" "${PHOTO_SSF:->=56}" && [ -n "$g_file" ] &&
        cmp -s "$g_file" "$T/photo"; then
        g_ok=0
    fi
    check "$g_ok" "$2 (SASL SSF $g_c; the 1 MiB value comes back intact)"
}

# For "env": a client without any Kerberos credentials.
NOCC=KRB5CCNAME=FILE:/nonexistent
NOKT=KRB5_CLIENT_KTNAME=FILE:/nonexistent

# ---- 1. our plugin on both sides ------------------------------------------------

group_ours() {
    server_up ours
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed ours "$g_rc" "our plugin on both sides"
        return
    fi

    # SSF: what the client says = what slapd logged, per maxssf.
    whoami_case "ldapwhoami -O maxssf=0" 0 -H "$LDAP_TEST_URI" -O maxssf=0
    whoami_case "ldapwhoami -O maxssf=1" 1 -H "$LDAP_TEST_URI" -O maxssf=1
    whoami_case "ldapwhoami -O maxssf=56" ">=56" -H "$LDAP_TEST_URI" -O maxssf=56
    whoami_case "ldapwhoami (default maxssf)" ">=56" -H "$LDAP_TEST_URI"

    # Big PDUs through the confidentiality layer.
    mark
    # shellcheck disable=SC2086 # BIG_ATTRS: 4000 words on purpose
    client bigfilter ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
        -b "$LDAP_TEST_PEOPLE" "$BIG_FILTER" $BIG_ATTRS
    b_len=$(since | sed -n 's/.*ber_get_next: tag 0x30 len \([0-9]*\) .*/\1/p' |
        sort -n | tail -n 1)
    b_ok=1
    if [ "$RC" = 0 ] && [ "$(sed -n 's/^dn: //p' "$T/bigfilter.out")" = "$ALICE_DN" ] &&
        ssf_ok "$(client_ssf)" ">=56" && [ "${b_len:-0}" -ge 200000 ]; then
        b_ok=0
    fi
    check "$b_ok" "ldapsearch with a ${#BIG_FILTER}-byte filter: slapd received a ${b_len:-?}-byte request and found alice"

    photo_put photo-put "ldapmodify adding a 1 MiB jpegPhoto value"
    photo_seed
    photo_get photo-get "ldapsearch returning more than 1 MiB"

    # NTLM only: no Kerberos credentials at all on the client.
    mark
    client ntlm env "$NOCC" "$NOKT" ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI"
    n_ok=1
    if [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] &&
        wait_log 'complete with ntlmssp' &&
        since | grep -q 'BIND authcid="alice@SPNEGO"' &&
        [ "$(client_ssf)" = "$(slapd_ssf)" ]; then
        n_ok=0
    fi
    check "$n_ok" "NTLM only (no ccache, no keytab): bind as SPNEGO\\alice maps to $ALICE_DN, SSF $(client_ssf)"

    mark
    rm -rf "$T/dl"
    mkdir "$T/dl"
    client ntlm-get env "$NOCC" "$NOKT" ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
        -b "$ALICE_DN" -s base -T "$T/dl" -t "(objectClass=*)" jpegPhoto
    n_file=$(sed -n 's|^jpegPhoto:< file://||p' "$T/ntlm-get.out")
    n_ok=1
    if [ "$RC" = 0 ] && [ -n "$n_file" ] && cmp -s "$n_file" "$T/photo" &&
        wait_log 'complete with ntlmssp'; then
        n_ok=0
    fi
    check "$n_ok" "NTLM only: ldapsearch returning more than 1 MiB through NTLM's layer (SSF $(client_ssf))"

    # A credential the application lends (LDAP_OPT_X_SASL_GSS_CREDS).
    gsscreds_case "libldap lends bob's Kerberos credential (alice's ticket is the default)" \
        krb5-bob "$BOB_DN" krb5
    gsscreds_case "libldap lends bob's NTLM credential" ntlm-bob "$BOB_DN" ntlmssp
    gsscreds_case "libldap lends a SPNEGO credential restricted to NTLM (gss_set_neg_mechs)" \
        spnego-ntlm "$ALICE_DN" ntlmssp
    gsscreds_case "libldap lends the default union credential" default \
        "$ALICE_DN" krb5

    # Cyrus' client against our server.
    if [ -z "$LDAP_TEST_SASL_CYRUS" ]; then
        for c in "maxssf=0" "default" "1 MiB modify" "1 MiB search"; do
            tap_skip "Cyrus' client against our slapd: $c" \
                "libgssapiv2.so not installed (libsasl2-modules-gssapi-mit)"
        done
    else
        SASL_PATH=$LDAP_TEST_SASL_CYRUS
        export SASL_PATH
        whoami_case "Cyrus' client against our slapd, -O maxssf=0" 0 \
            -H "$LDAP_TEST_URI" -O maxssf=0
        # Cyrus' plugin hands the credential to MIT's SPNEGO, which needs a
        # SPNEGO credential (or a union holding one)
        gsscreds_case "Cyrus' client lending a SPNEGO credential restricted to NTLM, against our slapd" \
            spnego-ntlm "$ALICE_DN" ntlmssp
        whoami_case "Cyrus' client against our slapd, default maxssf" ">=56" \
            -H "$LDAP_TEST_URI"
        photo_put cy-put "Cyrus' client against our slapd: ldapmodify adding 1 MiB"
        photo_get cy-get "Cyrus' client against our slapd: ldapsearch returning more than 1 MiB"
        SASL_PATH=$LDAP_TEST_SASL_OURS
        export SASL_PATH
    fi

    # Wrong password, then no credentials at all: clear errors, slapd lives.
    mark
    client wrongpw env NTLM_USER_FILE=/nonexistent "$NOCC" "$NOKT" \
        ldapwhoami -Y GSS-SPNEGO -U alice -w wrong -H "$LDAP_TEST_URI"
    e_ok=1
    if [ "$RC" -ne 0 ] && printf '%s\n' "$ERR" | grep -q 'Invalid credentials (49)' &&
        printf '%s\n' "$ERR" | grep -q 'authentication failure: GSS-SPNEGO: '; then
        e_ok=0
    fi
    check "$e_ok" "wrong password (-U alice -w wrong, no ccache, no NTLM file): refused, Invalid credentials"
    good_bind_after "slapd still serves after the wrong password"

    mark
    printf '\n\n\n' >"$T/empty-answers"
    STDIN_FILE=$T/empty-answers
    client nocreds env NTLM_USER_FILE=/nonexistent "$NOCC" "$NOKT" \
        ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI"
    STDIN_FILE=
    e_ok=1
    if [ "$RC" -ne 0 ] && printf '%s\n' "$ERR" | grep -q 'GSS-SPNEGO: no usable credentials' &&
        printf '%s\n' "$ERR" | grep -q 'krb5: ' &&
        printf '%s\n' "$ERR" | grep -q 'ntlmssp: '; then
        e_ok=0
    fi
    check "$e_ok" "no credentials at all (empty name and password): refused, saying what each mechanism lacked"
    good_bind_after "slapd still serves after the credential-less attempt"

    # Load: 200 binds from 8 concurrent clients.
    mark
    w=1
    while [ "$w" -le 8 ]; do
        (
            i=1 n=0
            while [ "$i" -le 25 ]; do
                if run ldapwhoami -Q -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
                    </dev/null >"$T/load$w.out" 2>"$T/load$w.err" &&
                    [ "$(cat "$T/load$w.out")" = "dn:$ALICE_DN" ]; then
                    n=$((n + 1))
                else
                    { echo "worker $w bind $i:"; cat "$T/load$w.out" "$T/load$w.err"; } \
                        >>"$T/load.err"
                fi
                i=$((i + 1))
            done
            echo "$n" >"$T/load$w.count"
        ) &
        w=$((w + 1))
    done
    wait
    l_ok=0
    for w in 1 2 3 4 5 6 7 8; do
        l_ok=$((l_ok + $(cat "$T/load$w.count" 2>/dev/null || echo 0)))
    done
    l_binds=$(since | grep -c 'mech=GSS-SPNEGO bind_ssf=')
    : >"$T/load.out"
    [ -f "$T/load.err" ] || : >"$T/load.err"
    RC=- OUT='' ERR=$(cat "$T/load.err")
    LAST=load
    l_rc=1
    if [ "$l_ok" = 200 ] && [ "$l_binds" = 200 ] && alive "$LDAP_TEST_PID"; then
        l_rc=0
    fi
    check "$l_rc" "200 binds from 8 concurrent clients: $l_ok succeeded, slapd logged $l_binds, slapd alive"

    server_down ours
}

# ---- both plugins in one directory (as on Debian with libgssapiv2) ----------
#
# slapd and ldapwhoami each load both GSS-SPNEGO providers from one
# directory; libsasl2 must choose ours on both sides (tests/test-choice.sh
# covers both readdir orders).  Two signs only ours gives: our client with
# SPNEGO_MECHS=ms-krb5 offers Microsoft's Kerberos OID alone, which only
# our server logs as "initiator offers: ms-krb5 ("; and -O maxssf=1 gives
# SSF 1 with ours, 256 with Cyrus' client (MIT adds confidentiality).
group_both() {
    server_up both --plugin both
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed both "$g_rc" "slapd and ldapwhoami with both plugins in one directory"
        server_failed both "$g_rc" "ldapwhoami with both plugins in one directory"
        return
    fi
    SASL_PATH=$LDAP_TEST_SASL_BOTH
    export SASL_PATH
    mark
    client both env SPNEGO_MECHS=ms-krb5 ldapwhoami -Y GSS-SPNEGO \
        -H "$LDAP_TEST_URI" -O maxssf=1
    b_order=$(ls -f "$LDAP_TEST_SASL_BOTH" | grep '\.so$' | tr '\n' ' ')
    b_ok=1
    if [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] &&
        wait_log 'GSS-SPNEGO: initiator offers: ms-krb5 \('; then
        b_ok=0
    fi
    check "$b_ok" "slapd with both plugins in its directory (readdir order: $b_order) runs ours"
    b_ok=1
    [ "$(client_ssf)" = 1 ] && [ "$b_ok" = 1 ] && [ "$RC" = 0 ] && b_ok=0
    check "$b_ok" "ldapwhoami with both plugins in its directory runs ours (SSF $(client_ssf) for maxssf=1)"
    SASL_PATH=$LDAP_TEST_SASL_OURS
    export SASL_PATH
    server_down both
}

# ---- 2. our client, slapd with Cyrus' libgssapiv2 -------------------------------

group_cyrus() {
    server_up cyrus --plugin cyrus
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed cyrus "$g_rc" "our client against slapd with Cyrus' GSS-SPNEGO"
        return
    fi
    whoami_case "our client against Cyrus' slapd, -O maxssf=0" 0 \
        -H "$LDAP_TEST_URI" -O maxssf=0
    whoami_case "our client against Cyrus' slapd, default maxssf" ">=56" \
        -H "$LDAP_TEST_URI"
    gsscreds_case "our client lending bob's Kerberos credential, against Cyrus' slapd" \
        krb5-bob "$BOB_DN"
    # (Cyrus' server names an NTLM user DOMAIN\user, which the fixture's
    # authz-regexp leaves as it is)
    gsscreds_case "our client lending a SPNEGO credential restricted to NTLM, against Cyrus' slapd" \
        spnego-ntlm 'uid=spnego\5Calice,ou=people,dc=spnego,dc=test'
    # Cyrus' server reads packets of at most 64 KiB (slapd's maxbufsize);
    # GSS-SPNEGO exchanges no sizes, so a client must not send bigger ones.
    photo_put cyrus-put "our client against Cyrus' slapd: ldapmodify adding 1 MiB (packets within the server's 64 KiB buffer)"
    photo_seed
    photo_get cyrus-get "our client against Cyrus' slapd: ldapsearch returning more than 1 MiB"
    fast_client_cases


    # For comparison only (not a test of ours): Cyrus on both sides.
    SASL_PATH=$LDAP_TEST_SASL_CYRUS
    export SASL_PATH
    mark
    client cc-put ldapmodify -Y GSS-SPNEGO -H "$LDAP_TEST_URI" -f "$T/photo.ldif"
    if [ "$RC" = 0 ]; then
        tap_diag "for comparison: Cyrus' client and Cyrus' slapd: 1 MiB ldapmodify worked"
    else
        tap_diag "for comparison: Cyrus' client and Cyrus' slapd: 1 MiB ldapmodify failed (status $RC): $(tail -n 2 "$T/cc-put.err" | tr '\n' ' ')" \
            "slapd: $(since | grep -E 'decode|ber_get_next on' | head -n 3 | cut -c1-200)"
    fi
    SASL_PATH=$LDAP_TEST_SASL_OURS
    export SASL_PATH
    server_down cyrus
}

# ---- the fast security layer (issue 15) against MIT's gss_wrap --------------------
#
# ldap-test/gsscount.so, preloaded, writes a letter per gss_wrap(_iov) or
# gss_unwrap(_iov) call into $GSSCOUNT_FILE: a process whose layer ran on
# the fast path (RFC 4121 tokens on libcrypto) leaves none, MIT's layer one
# per packet.  Cyrus' libgssapiv2 on the other side makes and checks its
# packets with MIT's gss_wrap and gss_unwrap.

GSSCOUNT=$top_builddir/ldap-test/.libs/gsscount.so

# counted NAME FILE CMD...: client NAME CMD with gsscount.so writing FILE.
counted() {
    c_file=$2
    : >"$c_file"
    c_name=$1
    shift 2
    RUN_PRELOAD=$GSSCOUNT
    GSSCOUNT_FILE=$c_file
    export GSSCOUNT_FILE
    client "$c_name" "$@"
    RUN_PRELOAD=
    unset GSSCOUNT_FILE
}

# The letters in FILE: "w" and "u" counts, e.g. "0 wrap, 0 unwrap".
gss_calls() {
    printf '%s wrap, %s unwrap' "$(tr -cd w <"$1" | wc -c | tr -d ' ')" \
        "$(tr -cd u <"$1" | wc -c | tr -d ' ')"
}

# photo_counted NAME TEXT put|get: photo_put/photo_get by our client with
# gsscount.so; passes if it worked and made no gss_wrap/gss_unwrap call.
photo_counted() {
    RUN_PRELOAD=$GSSCOUNT
    GSSCOUNT_FILE=$T/$1.gss
    export GSSCOUNT_FILE
    : >"$GSSCOUNT_FILE"
    if [ "$3" = put ]; then
        photo_put "$1" "$2"
    else
        photo_get "$1" "$2"
    fi
    RUN_PRELOAD=
    unset GSSCOUNT_FILE
    f_ok=1
    [ "$RC" = 0 ] && [ ! -s "$T/$1.gss" ] && f_ok=0
    check "$f_ok" "... and our client moved it on the fast layer ($(gss_calls "$T/$1.gss") calls to MIT's gss_wrap and gss_unwrap)"
}

# Our client against the slapd of the group (Cyrus' libgssapiv2): sealed
# and integrity only, 1 MiB each way, and the layer off for comparison.
fast_client_cases() {
    if [ ! -f "$GSSCOUNT" ]; then
        for c in sealed-put sealed-get integ-put integ-get off; do
            tap_skip "our client's fast layer against Cyrus' slapd: $c" "$GSSCOUNT not built"
        done
        return
    fi
    photo_counted fast-put "our client (fast layer) against Cyrus' slapd: ldapmodify adding 1 MiB, sealed" put
    photo_counted fast-get "our client (fast layer) against Cyrus' slapd: ldapsearch returning more than 1 MiB, sealed" get
    PHOTO_OPTS="-O maxssf=1" PHOTO_SSF=1
    photo_counted fast-iput "our client (fast layer) against Cyrus' slapd: ldapmodify adding 1 MiB, integrity only" put
    photo_counted fast-iget "our client (fast layer) against Cyrus' slapd: ldapsearch returning more than 1 MiB, integrity only" get
    PHOTO_OPTS= PHOTO_SSF=
    # the counter sees MIT's layer when the fast one is off
    mark
    counted fast-off "$T/fast-off.gss" env SPNEGO_FAST_LAYER=no ldapmodify \
        -Y GSS-SPNEGO -H "$LDAP_TEST_URI" -f "$T/photo.ldif"
    f_ok=1
    [ "$RC" = 0 ] && [ -s "$T/fast-off.gss" ] && f_ok=0
    check "$f_ok" "our client with SPNEGO_FAST_LAYER=no against Cyrus' slapd: 1 MiB through MIT's layer ($(gss_calls "$T/fast-off.gss") calls)"
}

# Our slapd (gsscount.so preloaded) against Cyrus' client, 1 MiB each way.
group_fast() {
    if [ ! -f "$GSSCOUNT" ] || [ -z "$LDAP_TEST_SASL_CYRUS" ]; then
        for c in put get layer; do
            tap_skip "Cyrus' client against our slapd's fast layer: $c" \
                "needs $GSSCOUNT and Cyrus' libgssapiv2.so"
        done
        return
    fi
    # (with what is preloaded already: libfaketime in the time-travel phase)
    server_up fast --wrapper "env LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}$GSSCOUNT GSSCOUNT_FILE=$T/slapd-fast.gss"
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed fast "$g_rc" "Cyrus' client against our slapd's fast layer"
        return
    fi
    SASL_PATH=$LDAP_TEST_SASL_CYRUS
    export SASL_PATH
    : >"$T/slapd-fast.gss"
    photo_put fast-cy-put "Cyrus' client (MIT's gss_wrap) against our slapd: ldapmodify adding 1 MiB, sealed"
    f_ok=1
    wait_log 'security layer made with RFC 4121 tokens on libcrypto \(aes256-cts-hmac-sha1-96, sealed\)' &&
        f_ok=0
    check "$f_ok" "... and our slapd logged its layer: RFC 4121 tokens on libcrypto (aes256-cts-hmac-sha1-96, sealed)"
    photo_get fast-cy-get "Cyrus' client (MIT's gss_unwrap) against our slapd: ldapsearch returning more than 1 MiB, sealed"
    f_ok=1
    [ ! -s "$T/slapd-fast.gss" ] && f_ok=0
    check "$f_ok" "... and our slapd made and checked those packets itself ($(gss_calls "$T/slapd-fast.gss") calls to MIT's gss_wrap and gss_unwrap)"
    SASL_PATH=$LDAP_TEST_SASL_OURS
    export SASL_PATH
    server_down fast
}

# ---- spnego-dump reading a real capture (issue 16) -------------------------------
#
# tcpdump on lo records a Kerberos bind with a search through the layer and
# an NTLM bind without signing that slapd (sasl-secprops minssf=1) refuses;
# spnego-dump must tell both, and why the second failed.

group_capture() {
    TCPDUMP=$(command -v tcpdump 2>/dev/null || true)
    [ -n "$TCPDUMP" ] || TCPDUMP=/usr/bin/tcpdump
    if [ ! -x "$TCPDUMP" ] || [ "$(id -u)" != 0 ]; then
        for c in success layer nosign cause; do
            tap_skip "spnego-dump on a tcpdump capture: $c" \
                "needs tcpdump and root (capturing on lo)"
        done
        return
    fi
    server_up capture --secprops minssf=1
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed capture "$g_rc" "spnego-dump on a tcpdump capture"
        return
    fi
    c_port=${LDAP_TEST_URI##*:}
    c_port=${c_port%/}
    # -Z root: tcpdump would drop to its own user, which cannot write
    # here; --immediate-mode -U: every packet is in the file at once
    "$TCPDUMP" --immediate-mode -U -Z root -i lo -w "$T/binds.pcap" \
        "tcp port $c_port" 2>"$T/tcpdump.err" &
    c_pid=$!
    PIDS="$PIDS $c_pid"
    c_end=$(($(date +%s) + LOG_TIMEOUT))
    until grep -q 'listening on' "$T/tcpdump.err"; do
        if ! alive "$c_pid" || [ "$(date +%s)" -ge "$c_end" ]; then
            tap_diag "tcpdump did not start: $(cat "$T/tcpdump.err")"
            break
        fi
        sleep 0.05
    done
    client cap-krb5 ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
        -b "$ALICE_DN" -s base "(objectClass=*)" cn
    client cap-ntlm env SPNEGO_MECHS=ntlmssp "$NOCC" "$NOKT" ldapwhoami \
        -Y GSS-SPNEGO -H "$LDAP_TEST_URI" -O maxssf=0
    # stop tcpdump by its PID and wait until it has written everything
    kill -INT "$c_pid" 2>/dev/null
    c_end=$(($(date +%s) + LOG_TIMEOUT))
    while alive "$c_pid" && [ "$(date +%s)" -lt "$c_end" ]; do
        sleep 0.05
    done
    wait "$c_pid" 2>/dev/null
    c_rc=0
    "$top_builddir/tools/spnego-dump" "$T/binds.pcap" >"$T/story.out" \
        2>"$T/story.err" || c_rc=$?
    story_has() {
        if grep -qF -- "$1" "$T/story.out"; then
            tap_ok 0 "$2"
        else
            tap_ok 1 "$2"
            tap_diag "spnego-dump (status $c_rc) said:" "$(cat "$T/story.out" "$T/story.err")"
        fi
    }
    story_has "optimistic token: Kerberos AP-REQ for ldap/" \
        "spnego-dump on a tcpdump capture: the Kerberos bind and its ticket"
    story_has "sealed Kerberos (RFC 4121) tokens: confidentiality" \
        "... and the sealed layer packets of the search that followed"
    story_has "NTLMSSP AUTHENTICATE, flags ALWAYS_SIGN (no SIGN)" \
        "... the NTLM bind without signing"
    story_has "likely cause: NTLM without signing" \
        "... and why slapd (minssf=1) refused it"
    server_down capture
}

# ---- 3. min_ssf ------------------------------------------------------------------

group_minssf() {
    server_up minssf --secprops minssf=56
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed minssf "$g_rc" "sasl-secprops minssf=56"
        return
    fi
    mark
    client weak ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI" -O maxssf=1
    m_ok=1
    if [ "$RC" -ne 0 ] && [ "$OUT" = "" ] &&
        printf '%s\n' "$ERR" | grep -q 'too weak' &&
        printf '%s\n' "$ERR" | grep -q 'min_ssf 56' &&
        wait_log 'Failure: GSS-SPNEGO: .*min_ssf 56'; then
        m_ok=0
    fi
    check "$m_ok" "slapd minssf=56, client -O maxssf=1: refused, and ldapwhoami says why"
    if [ "$m_ok" = 0 ]; then
        tap_diag "ldapwhoami said: $(grep 'additional info' "$T/weak.err")"
    fi
    whoami_case "slapd minssf=56, default client: accepted" ">=56" -H "$LDAP_TEST_URI"
    server_down minssf
}

# ---- 4. TLS and channel bindings -----------------------------------------------

group_tls() {
    server_up tls --tls --cbinding tls-endpoint --tls-relay
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        server_failed tls "$g_rc" "TLS with sasl-cbinding tls-endpoint"
        return
    fi
    LDAPSASL_CBINDING=tls-endpoint
    export LDAPSASL_CBINDING

    whoami_case "StartTLS (-ZZ), SASL_CBINDING tls-endpoint, -O maxssf=0" 0 \
        -ZZ -H "$LDAP_TEST_URI" -O maxssf=0
    whoami_case "ldaps://, SASL_CBINDING tls-endpoint, -O maxssf=0" 0 \
        -H "$LDAP_TEST_LDAPS_URI" -O maxssf=0
    mark
    client ntlm-tls env "$NOCC" "$NOKT" ldapwhoami -Y GSS-SPNEGO -ZZ -H "$LDAP_TEST_URI" -O maxssf=0
    t_ok=1
    if [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] && wait_log 'complete with ntlmssp'; then
        t_ok=0
    fi
    check "$t_ok" "NTLM only, StartTLS, SASL_CBINDING tls-endpoint, -O maxssf=0"

    # A man in the middle (tls-relay: same CA, its own certificate) changes
    # tls-server-end-point; the binding must not match.
    mark
    client mitm-krb5 env SPNEGO_MECHS=krb5 ldapwhoami -Y GSS-SPNEGO \
        -H "$LDAP_TEST_RELAY_URI" -O maxssf=0
    t_ok=1
    if [ "$RC" -ne 0 ] && [ "$OUT" = "" ] &&
        wait_log 'Failure: GSS-SPNEGO: .*[Cc]hannel binding' &&
        wait_log 'RESULT tag=97 err=49 ' &&
        printf '%s\n' "$ERR" | grep -qi 'channel binding'; then
        t_ok=0
    fi
    check "$t_ok" "Kerberos through a TLS man in the middle (tls-endpoint): refused with invalidCredentials (49, as AD answers), client and slapd log say channel bindings"

    mark
    client mitm ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_RELAY_URI" -O maxssf=0
    t_ok=1
    if [ "$RC" -ne 0 ] && [ "$OUT" = "" ] && wait_log 'RESULT tag=97 err=[1-9]'; then
        t_ok=0
    fi
    check "$t_ok" "default mechanisms (krb5, ntlmssp) through the man in the middle: refused"
    t_ok=1
    if wait_log '[Cc]hannel binding'; then
        t_ok=0
    fi
    check "$t_ok" "... and slapd's log for that connection mentions the channel bindings"
    t_ok=1
    if since | grep -E 'SASL \[conn=[0-9]+\] (Failure|Error): ' | grep -qi 'channel binding' &&
        printf '%s\n' "$ERR" | grep -qi 'channel binding'; then
        t_ok=0
    fi
    check "$t_ok" "... and the failure reported (slapd Failure line, ldapwhoami's error) names the channel-binding mismatch"

    mark
    client mitm-ntlm env "$NOCC" "$NOKT" ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_RELAY_URI" -O maxssf=0
    t_ok=1
    if [ "$RC" -ne 0 ] && [ "$OUT" = "" ] && wait_log 'RESULT tag=97 err=49 '; then
        t_ok=0
    fi
    check "$t_ok" "NTLM only through the man in the middle (tls-endpoint): refused with invalidCredentials (49)"

    # Without bindings the relay goes unnoticed: MIT krb5 and gss-ntlmssp
    # accept an initiator that sends none.  Shown, not tested.
    LDAPSASL_CBINDING=none
    client mitm-none ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_RELAY_URI" -O maxssf=0
    tap_diag "for information: SASL_CBINDING none through the man in the middle: status $RC ($OUT)"
    unset LDAPSASL_CBINDING
    good_bind_after "slapd still serves after the refused binds"
    server_down tls
}

group_ours
group_both
group_cyrus
group_fast
group_minssf
group_capture
group_tls

left=
for p in $PIDS; do
    alive "$p" && left="$left $p"
done
tap_is "${left:-none}" none "every slapd and relay started here has stopped"

tap_done

#!/bin/bash
# ldap-test/test-samba.sh - GSS-SPNEGO against a real Active Directory
# implementation: a throwaway Samba 4 AD DC (ldap-test/samba/samba-dc) on a
# free 127.0.0.N, with this project's plugin as the client of OpenLDAP's
# tools, adcli and SSSD, and as the server (slapd, ldap-test/slapd-fixture)
# of Samba's own LDAP client (ldbsearch); TAP output.
#
#   top_srcdir=... top_builddir=... bash ldap-test/test-samba.sh
#
# Needs (Debian): samba-ad-dc samba-ad-provision ldb-tools (else the whole
# script is one skip), and ldap-utils krb5-user slapd gss-ntlmssp adcli
# sssd-ad sssd-tools libnss-wrapper util-linux (missing ones fail their
# cases), root (samba, sssd's mount namespace), and the plugin built in
# $top_builddir/plugins/.libs.
#
# Nothing outside the run's temporary directory is used or changed:
#   - KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME, KRB5_CLIENT_KTNAME, KRB5RCACHEDIR,
#     LDAPCONF, NTLM_USER_FILE: files of this run.  The krb5.conf names the
#     DC's KDC by address (no DNS, no canonicalisation).
#   - host names: the DC's name (dc1.samdom.test) resolves through
#     nss_wrapper (LD_PRELOAD libnss_wrapper.so, NSS_WRAPPER_HOSTS) for the
#     OpenLDAP tools, adcli and ldbsearch; /etc/hosts is not edited.  SSSD
#     (whose resolver, c-ares, reads /etc/hosts itself) runs in a private
#     mount namespace (ldap-test/samba/sssd-ns) in which its state
#     directories and /etc/hosts, /etc/resolv.conf, /etc/krb5.conf are the
#     run's files; getent reaches it there with nsenter.
#   - SASL_PATH: a directory holding only a symlink to our libgssspnego.so
#     (Cyrus' libgssapiv2.so also registers GSS-SPNEGO).
#   - every daemon (samba, slapd, sssd) is stopped by PID; the last case
#     checks that none of them is left.
#
# The DC runs with three settings of "ldap server require strong auth":
#   yes (Samba's default)  plain LDAP needs sign or seal; inside TLS Samba
#                          refuses a SASL layer ("Sign or Seal are not
#                          allowed if TLS is used") and, with "yes", also a
#                          SASL bind without one ("Sign or Seal are
#                          required"): those refusals are checked
#   allow_sasl_over_tls    SASL without a layer inside StartTLS/ldaps,
#                          with and without channel bindings (tls-endpoint;
#                          Samba 4.17 does not check them, so both succeed)
#   no                     SASL without a layer over plain LDAP
# Every successful bind is checked on both sides: the SSF the client prints
# and the DC's audit record (authType krb5/NTLMSSP, account,
# transportProtection SEAL/SIGN/TLS/NONE), or slapd's bind_ssf.
#
# Cost (Debian 12, 2 CPUs): provisioning and first start ~5 s, each DC
# restart ~0.5 s, the whole script ~15 s (16 s for two runs at once).
# SAMBA_TEST_KEEP=1 keeps the temporary directory (the daemons are stopped
# all the same; ldap-test/samba/samba-dc clean DIR/dc releases the address).

# bash (arrays, EPOCHREALTIME): run again under it when started by sh, as
# automake's SH_LOG_COMPILER does.
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
# shellcheck source=tests/proc.sh
. "$top_srcdir/tests/proc.sh"

HERE=$top_srcdir/ldap-test
DCTL=$HERE/samba/samba-dc
SSSD_NS=$HERE/samba/sssd-ns
FIXTURE=$HERE/slapd-fixture
CLIENT_TIMEOUT=60      # seconds for one client command
LOG_TIMEOUT=5          # seconds to wait for a daemon to log a line
SSSD_TIMEOUT=30        # seconds for SSSD to answer a first lookup
LOOP=100               # binds of the bind loop

# Skip only when Samba is not installed.
for t in samba samba-tool ldbsearch; do
    if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
        echo "1..0 # SKIP $t not installed (packages samba-ad-dc samba-ad-provision ldb-tools)"
        exit 0
    fi
done
if [ ! -e /usr/share/samba/setup/provision.ldif ]; then
    echo "1..0 # SKIP Samba's provisioning data not installed (package samba-ad-provision)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "Bail out! test-samba.sh needs root (samba, sssd's mount namespace)"
    exit 99
fi
PLUGIN=${SPNEGO_PLUGIN:-$top_builddir/plugins/.libs/libgssspnego.so}
if [ ! -f "$PLUGIN" ]; then
    echo "Bail out! $PLUGIN missing: build first"
    exit 99
fi
PLUGIN=$(cd "$(dirname "$PLUGIN")" && pwd -P)/${PLUGIN##*/}
# As in test-ldap.sh: ASan-preloaded ldap tools hang at exit on Debian 12.
if ldd "$PLUGIN" 2>/dev/null | grep -q 'libasan\.so'; then
    echo "1..0 # SKIP sanitizer build of the plugin: ASan-preloaded ldap tools hang at exit on this system"
    exit 0
fi
NSS_WRAPPER_LIB=
for f in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so /usr/lib64/libnss_wrapper.so; do
    [ -e "$f" ] && { NSS_WRAPPER_LIB=$f; break; }
done
if [ -z "$NSS_WRAPPER_LIB" ]; then
    echo "Bail out! libnss_wrapper.so not found (package libnss-wrapper)"
    exit 99
fi
export PATH=$PATH:/usr/sbin:/sbin

T0=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-samba.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 99
}
case $TMP in
    *[[:space:]:\"\'\\]*) printf 'Bail out! %s: TMPDIR must not contain whitespace, quotes, colons or backslashes\n' "$TMP"; exit 99 ;;
esac
T=$TMP/work
DC=$TMP/dc
SLAPD_DIR=$TMP/slapd
SSSD_DIR=$TMP/sssd
mkdir -p "$T" "$T/rcache" "$T/sasl" "$SSSD_DIR"
ln -s "$PLUGIN" "$T/sasl/libgssspnego.so"
PIDS=             # every daemon PID seen, for the final check
SSSD_PID=
SLAPD_UP=0

# shellcheck disable=SC2317 # invoked via trap
cleanup() {
    sssd_stop >/dev/null 2>&1
    if [ "$SLAPD_UP" = 1 ]; then
        "$FIXTURE" stop "$SLAPD_DIR" >/dev/null 2>&1 ||
            echo "# slapd-fixture stop failed" >&2
    fi
    if [ "${SAMBA_TEST_KEEP:-0}" = 1 ]; then
        # (its 127.0.0.N stays reserved until "samba-dc clean $DC")
        "$DCTL" stop "$DC" >/dev/null 2>&1 || echo "# samba-dc stop failed" >&2
        echo "# keeping $TMP" >&2
        return
    fi
    "$DCTL" clean "$DC" >/dev/null 2>&1 || echo "# samba-dc clean failed" >&2
    rm -rf "$TMP"
}
trap cleanup 0
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- environment of the run ----------------------------------------------------

# Not the host's: no ldap.conf/ldaprc, no Kerberos files, no NTLM users.
: >"$T/ldap.conf"
export LDAPCONF=$T/ldap.conf LDAPRC=$T/no-ldaprc
export KRB5CCNAME=FILE:$T/admin.cc
export KRB5_KTNAME=FILE:$T/slapd.keytab
export KRB5_CLIENT_KTNAME=FILE:$T/no-client.keytab
export KRB5RCACHEDIR=$T/rcache
export SASL_PATH=$T/sasl
unset NTLM_USER_FILE SPNEGO_MECHS LDAPSASL_CBINDING LDAPSASL_SECPROPS \
    LDAPTLS_CERT LDAPTLS_KEY LDAPURI LDAPBASE LDAPBINDDN KRB5_TRACE
NOCC=KRB5CCNAME=FILE:$T/no.cc

# ---- helpers ---------------------------------------------------------------------


now_ms() {
    t=${EPOCHREALTIME/[.,]/}
    echo "$((10#${t:0:${#t}-3}))"
}

# run CMD...: under nss_wrapper (the DC's name), a timeout, no terminal.
run() {
    timeout "$CLIENT_TIMEOUT" env LD_PRELOAD="$NSS_WRAPPER_LIB" \
        NSS_WRAPPER_HOSTS="$SAMBA_HOSTS" setsid -w "$@"
}

# client NAME CMD...: run CMD, stdin from /dev/null, output in
# $T/NAME.out/.err.  Sets RC, OUT, ERR, LAST.
client() {
    c_name=$1
    shift
    run "$@" </dev/null >"$T/$c_name.out" 2>"$T/$c_name.err"
    RC=$?
    OUT=$(cat "$T/$c_name.out")
    ERR=$(cat "$T/$c_name.err")
    LAST=$c_name
}

# mark: remember the ends of the DC's (and slapd's) logs; dc_since /
# slapd_since: what was logged after the mark.
mark() {
    DC_AUTH=- DC_ACCOUNT=- DC_PROT=-
    DC_MARK=$(wc -l <"$SAMBA_DC_LOG" | tr -d ' ')
    if [ "$SLAPD_UP" = 1 ]; then
        SLAPD_MARK=$(wc -l <"$LDAP_TEST_LOG" | tr -d ' ')
    fi
}
dc_since() {
    tail -n "+$((DC_MARK + 1))" "$SAMBA_DC_LOG"
}
slapd_since() {
    tail -n "+$((SLAPD_MARK + 1))" "$LDAP_TEST_LOG"
}

# wait_for FUNC ERE: wait up to LOG_TIMEOUT s for FUNC's output to match.
wait_for() {
    w_end=$(($(date +%s) + LOG_TIMEOUT))
    until "$1" | grep -Eq -- "$2"; do
        [ "$(date +%s)" -lt "$w_end" ] || return 1
        sleep 0.05
    done
}

# The last bind the DC audited after the mark: sets DC_AUTH (krb5,
# NTLMSSP), DC_ACCOUNT, DC_PROT (SEAL, SIGN, TLS, NONE); "-" if none.
dc_authz() {
    DC_AUTH=- DC_ACCOUNT=- DC_PROT=-
    wait_for dc_since '"type": "Authorization".*"serviceDescription": "LDAP"' || return 1
    a_line=$(dc_since | grep '"type": "Authorization"' | grep '"serviceDescription": "LDAP"' | tail -n 1)
    DC_AUTH=$(printf '%s\n' "$a_line" | sed -n 's/.*"authType": "\([^"]*\)".*/\1/p')
    DC_ACCOUNT=$(printf '%s\n' "$a_line" | sed -n 's/.*"account": "\([^"]*\)".*/\1/p')
    DC_PROT=$(printf '%s\n' "$a_line" | sed -n 's/.*"transportProtection": "\([^"]*\)".*/\1/p')
}

# The SASL SSF the last client printed; "-" if none.
client_ssf() {
    v=$(sed -n 's/^SASL SSF: *\([0-9]*\).*/\1/p' "$T/$LAST.err" | tail -n 1)
    echo "${v:--}"
}
client_user() {
    v=$(sed -n 's/^SASL username: *//p' "$T/$LAST.err" | tail -n 1)
    echo "${v:--}"
}

# ssf_ok GOT WANT: WANT is a number or ">=N".
ssf_ok() {
    case $2 in
        ">="*) [ "$1" != - ] && [ "$1" -ge "${2#>=}" ] ;;
        *) [ "$1" = "$2" ] ;;
    esac
}

# diag_client: the last client's output and the DC's log since the mark.
diag_client() {
    tap_diag "client exit status: $RC"
    [ -z "$OUT" ] || tap_diag "stdout:" "$(printf '%s\n' "$OUT" | head -c 1500)"
    [ -z "$ERR" ] || tap_diag "stderr:" "$(printf '%s\n' "$ERR" | tail -n 30 | head -c 3000)"
    tap_diag "samba log ($SAMBA_DC_LOG), since the client started:" \
        "$(dc_since | grep -v '^{' | tail -n 15 | cut -c1-300)"
    if [ "$SLAPD_UP" = 1 ]; then
        d_lines=$(slapd_since | grep -E 'SASL|BIND|RESULT|closed|decode|ber_get_next' |
            tail -n 25 | cut -c1-300)
        [ -z "$d_lines" ] || tap_diag "slapd log ($LDAP_TEST_LOG), since the client started:" "$d_lines"
    fi
}

check() {
    if [ "$1" = 0 ]; then
        tap_result_ 0 "$2"
    else
        tap_result_ 1 "$2"
        diag_client
    fi
}

ADMIN_DN=
# search_admin NAME [ENV=VALUE...] -- [ldapsearch options]: read the
# Administrator's sAMAccountName (anonymous users may not) with GSS-SPNEGO.
search_admin() {
    s_name=$1
    shift
    s_env=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        s_env+=("$1")
        shift
    done
    shift
    mark
    client "$s_name" env ${s_env[@]+"${s_env[@]}"} ldapsearch -LLL -Y GSS-SPNEGO \
        -b "$ADMIN_DN" -s base "$@" sAMAccountName
}

# bind_case NAME WANT-SSF WANT-AUTH WANT-PROT [ENV...] -- [options]:
# a bind and search that must work; the client's SSF must be WANT-SSF,
# the DC must have audited WANT-AUTH (krb5|NTLMSSP) for Administrator with
# transportProtection WANT-PROT (an ERE: "SEAL", "SIGN|SEAL").
bind_case() {
    b_name=$1 b_ssf=$2 b_auth=$3 b_prot=$4
    shift 4
    search_admin bind "$@"
    b_c=$(client_ssf)
    b_ok=1
    if [ "$RC" = 0 ] && printf '%s\n' "$OUT" | grep -qx 'sAMAccountName: Administrator' &&
        ssf_ok "$b_c" "$b_ssf" && dc_authz && [ "$DC_AUTH" = "$b_auth" ] &&
        [ "$DC_ACCOUNT" = Administrator ] &&
        printf '%s\n' "$DC_PROT" | grep -Eqx -- "$b_prot"; then
        b_ok=0
    else
        dc_authz
    fi
    check "$b_ok" "$b_name: client SSF $b_c (want $b_ssf), DC: $DC_AUTH $DC_ACCOUNT $DC_PROT (want $b_auth Administrator $b_prot)"
}

# refuse_case NAME RC ERE [ENV...] -- [options]: a bind the DC must refuse
# with result code RC and a message matching ERE.
refuse_case() {
    r_name=$1 r_rc=$2 r_ere=$3
    shift 3
    search_admin refuse "$@"
    r_ok=1
    if [ "$RC" != 0 ] && [ -z "$OUT" ] &&
        printf '%s\n' "$ERR" | grep -q "($r_rc)" &&
        printf '%s\n' "$ERR" | grep -Eq -- "$r_ere"; then
        r_ok=0
    fi
    check "$r_ok" "$r_name: refused by the DC ($r_rc, $(printf '%s\n' "$ERR" | sed -n 's/.*additional info: //p' | head -n 1))"
}

# dc_start STRONG-AUTH: (re)start the DC with that "ldap server require
# strong auth"; 1 if it did not start.
dc_start() {
    if ! "$DCTL" start "$DC" --option "ldap server require strong auth = $1" \
        >>"$TMP/dc-start.log" 2>&1; then
        tap_diag "samba-dc start failed:" "$(tail -n 30 "$TMP/dc-start.log")"
        return 1
    fi
    # shellcheck source=/dev/null
    . "$DC/dc-env.sh"
    PIDS="$PIDS $SAMBA_DC_PID $(ps -o pid= --ppid "$SAMBA_DC_PID" | tr '\n' ' ')"
    export KRB5_CONFIG=$SAMBA_KRB5_CONF
    export LDAPTLS_CACERT=$SAMBA_TLS_CA LDAPTLS_REQCERT=demand
    DC_URI=ldap://$SAMBA_DC_NAME
    DC_LDAPS=ldaps://$SAMBA_DC_NAME
    ADMIN_DN=CN=Administrator,CN=Users,$SAMBA_BASE_DN
    return 0
}

# A local change to the DC's database (setup, not a test of ours).
dc_ldbmodify() {
    ldbmodify --configfile="$SAMBA_CONF" -H "$SAMBA_DC_DIR/dc/private/sam.ldb" >>"$T/setup.log" 2>&1
}

# ---- SSSD ------------------------------------------------------------------------

# sssd_stop: TERM sssd (the monitor) and wait for it and its responders.
sssd_stop() {
    [ -n "$SSSD_PID" ] || return 0
    s_kids=$(ps -o pid= --ppid "$SSSD_PID" 2>/dev/null | tr '\n' ' ')
    kill -TERM "$SSSD_PID" 2>/dev/null
    s_end=$(($(date +%s) + 10))
    for p in $SSSD_PID $s_kids; do
        while alive "$p"; do
            if [ "$(date +%s)" -ge "$s_end" ]; then
                kill -KILL "$p" 2>/dev/null
            fi
            sleep 0.05
        done
    done
    wait "$SSSD_PID" 2>/dev/null
    SSSD_PID=
}

sssd_lookup() {
    timeout 20 nsenter -t "$SSSD_PID" -m getent -s sss passwd "$1"
}

# ---- 1.-5. OpenLDAP's tools against the DC ----------------------------------------

group_default() {
    kinit_ok=1
    if printf '%s\n' "$SAMBA_ADMIN_PASS" |
        kinit "Administrator@$SAMBA_REALM" >"$T/kinit.out" 2>&1; then
        kinit_ok=0
    fi
    tap_ok "$kinit_ok" "kinit Administrator@$SAMBA_REALM with the provisioned password" ||
        tap_diag "$(cat "$T/kinit.out")"
    printf '%s:Administrator:%s\n' "$SAMBA_DOMAIN" "$SAMBA_ADMIN_PASS" >"$T/ntlm-users"
    NTLM="NTLM_USER_FILE=$T/ntlm-users"

    # 1. Kerberos.
    bind_case "Kerberos, plain LDAP, default maxssf (seal)" 256 krb5 SEAL -- -H "$DC_URI"
    bind_case "Kerberos, plain LDAP, -O maxssf=1 (sign)" 1 krb5 SIGN -- -H "$DC_URI" -O maxssf=1
    refuse_case "Kerberos, plain LDAP, -O maxssf=0 (no layer; strong auth = yes)" 8 \
        'Sign or Seal are required' -- -H "$DC_URI" -O maxssf=0
    refuse_case "Kerberos, StartTLS, -O maxssf=0 (strong auth = yes allows no SASL without sign/seal, even in TLS)" 8 \
        'Sign or Seal are required' -- -H "$DC_URI" -ZZ -O maxssf=0
    refuse_case "Kerberos, StartTLS, default maxssf (a SASL layer inside TLS)" 53 \
        'Sign or Seal are not allowed if TLS is used' -- -H "$DC_URI" -ZZ
    refuse_case "Kerberos, ldaps://, default maxssf (a SASL layer inside TLS)" 53 \
        'Sign or Seal are not allowed if TLS is used' -- -H "$DC_LDAPS"

    # 2. NTLM: no ticket, gss-ntlmssp's user file.
    bind_case "NTLM only (no ccache, NTLM_USER_FILE), default maxssf (seal)" ">=56" NTLMSSP SEAL \
        "$NOCC" "$NTLM" -- -H "$DC_URI"
    # Samba (like Windows) seals NTLMSSP LDAP traffic when signing was
    # negotiated ("LDAP style"): the DC may say SEAL for a sign-only bind.
    bind_case "NTLM only, -O maxssf=1 (sign; the DC treats NTLM signing as sealing)" 1 NTLMSSP 'SIGN|SEAL' \
        "$NOCC" "$NTLM" -- -H "$DC_URI" -O maxssf=1

    # 3. The application's name and password; no ticket, no NTLM file.
    bind_case "-U Administrator -w PASSWORD (no ccache): Kerberos with the password" 256 krb5 SEAL \
        "$NOCC" -- -H "$DC_URI" -U Administrator -w "$SAMBA_ADMIN_PASS"
    b_user=$(client_user)
    tap_is "$b_user" "Administrator@$SAMBA_REALM" "... SASL username of -U Administrator"
    bind_case "-U '$SAMBA_DOMAIN\\Administrator' -w PASSWORD (no ccache): mapped to Administrator@$SAMBA_REALM for Kerberos" 256 krb5 SEAL \
        "$NOCC" -- -H "$DC_URI" -U "$SAMBA_DOMAIN\\Administrator" -w "$SAMBA_ADMIN_PASS"
    b_user=$(client_user)
    tap_is "$b_user" "Administrator@$SAMBA_REALM" "... SASL username of -U '$SAMBA_DOMAIN\\Administrator'"
    bind_case "-U '$SAMBA_DOMAIN\\Administrator' -w PASSWORD, SPNEGO_MECHS=ntlmssp: NTLM with the password" ">=56" NTLMSSP SEAL \
        "$NOCC" SPNEGO_MECHS=ntlmssp -- -H "$DC_URI" -U "$SAMBA_DOMAIN\\Administrator" -w "$SAMBA_ADMIN_PASS"

    # 4. Big PDUs through the security layer.
    head -c 1200000 /dev/urandom >"$T/photo"
    printf 'dn: %s\nchangetype: modify\nreplace: jpegPhoto\njpegPhoto:< file://%s\n' \
        "$ADMIN_DN" "$T/photo" >"$T/photo.ldif"
    mark
    client photo-put ldapmodify -Y GSS-SPNEGO -H "$DC_URI" -f "$T/photo.ldif"
    p_c=$(client_ssf)
    p_ok=1
    [ "$RC" = 0 ] && [ "$p_c" = 256 ] && p_ok=0
    check "$p_ok" "Kerberos, seal: ldapmodify of a 1.2 MB jpegPhoto (a request of 19 layer packets; SSF $p_c)"

    photo_get photo-get "Kerberos, seal: ldapsearch returning the 1.2 MB value intact" ">=56"
    photo_get photo-get-ntlm "NTLM only, seal: ldapsearch returning the 1.2 MB value intact" ">=56" \
        "$NOCC" "$NTLM"
    photo_get photo-get-sign "Kerberos, sign (-O maxssf=1): ldapsearch returning the 1.2 MB value intact" 1 \
        -- -O maxssf=1

    # A ~140 KB search request: 11000 alternatives that match nothing (a
    # filter of ~120 KB, the most one command-line argument may hold).
    big_filter=$(awk 'BEGIN { printf "(|(sAMAccountName=Administrator)"; for (i = 0; i < 11000; i++) printf "(cn=x%d)", i; printf ")" }')
    mark
    client bigfilter ldapsearch -LLL -Y GSS-SPNEGO -H "$DC_URI" \
        -b "CN=Users,$SAMBA_BASE_DN" "$big_filter" sAMAccountName
    f_ok=1
    if [ "$RC" = 0 ] && [ "$(sed -n 's/^dn: //p' "$T/bigfilter.out")" = "$ADMIN_DN" ] &&
        [ "$(client_ssf)" = 256 ]; then
        f_ok=0
    fi
    check "$f_ok" "Kerberos, seal: ldapsearch with a ${#big_filter}-byte filter (request > 64 KiB) finds Administrator"

    # 5. A bind loop.
    mark
    l_ok=0 l_fail=0
    : >"$T/loop.err"
    i=1
    while [ "$i" -le "$LOOP" ]; do
        if run ldapsearch -LLL -Q -Y GSS-SPNEGO -H "$DC_URI" -b "$ADMIN_DN" -s base \
            sAMAccountName </dev/null >"$T/loop.out" 2>>"$T/loop.err" &&
            grep -qx 'sAMAccountName: Administrator' "$T/loop.out"; then
            l_ok=$((l_ok + 1))
        else
            l_fail=$((l_fail + 1))
            echo "bind $i failed" >>"$T/loop.err"
        fi
        i=$((i + 1))
    done
    l_dc=$(dc_since | grep -c '"type": "Authorization".*"transportProtection": "SEAL"')
    RC=- OUT='' ERR=$(tail -n 20 "$T/loop.err") LAST=loop
    l_rc=1
    [ "$l_ok" = "$LOOP" ] && [ "$l_dc" = "$LOOP" ] && l_rc=0
    check "$l_rc" "$LOOP Kerberos binds in a row: $l_ok succeeded, the DC audited $l_dc sealed binds"
}

# photo_get NAME TEXT WANT-SSF [ENV... --] [options]: read the 1.2 MB value back.
photo_get() {
    g_name=$1 g_text=$2 g_ssf=$3
    shift 3
    g_env=()
    if [ $# -gt 0 ]; then
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
            g_env+=("$1")
            shift
        done
        [ $# -eq 0 ] || shift
    fi
    rm -rf "$T/dl"
    mkdir "$T/dl"
    mark
    client "$g_name" env ${g_env[@]+"${g_env[@]}"} ldapsearch -LLL -Y GSS-SPNEGO \
        -H "$DC_URI" -b "$ADMIN_DN" -s base -T "$T/dl" -t "$@" jpegPhoto
    g_c=$(client_ssf)
    g_file=$(sed -n 's|^jpegPhoto:< file://||p' "$T/$g_name.out")
    g_ok=1
    if [ "$RC" = 0 ] && ssf_ok "$g_c" "$g_ssf" && [ -n "$g_file" ] &&
        cmp -s "$g_file" "$T/photo"; then
        g_ok=0
    fi
    check "$g_ok" "$g_text (SSF $g_c)"
}

# ---- 7. adcli ----------------------------------------------------------------------

ADCLI_OK=1
group_adcli() {
    a_common=(--domain="$SAMBA_DNS_DOMAIN" --domain-controller="$SAMBA_DC_NAME")
    if ! command -v adcli >/dev/null 2>&1; then
        for c in join "our plugin was used" testjoin update; do
            tap_result_ 1 "adcli $c: adcli not installed (package adcli)"
        done
        return
    fi
    # LD_DEBUG=files shows which SASL plugins libsasl2 dlopen()s.
    mark
    printf '%s\n' "$SAMBA_ADMIN_PASS" >"$T/admin.pw"
    RC=0
    timeout "$CLIENT_TIMEOUT" env LD_PRELOAD="$NSS_WRAPPER_LIB" NSS_WRAPPER_HOSTS="$SAMBA_HOSTS" \
        LD_DEBUG=files LD_DEBUG_OUTPUT="$T/adcli-join.ld" TMPDIR="$T" \
        adcli join -v "${a_common[@]}" --domain-realm="$SAMBA_REALM" \
        --host-fqdn="client1.$SAMBA_DNS_DOMAIN" --computer-name=CLIENT1 \
        -K "$T/host.keytab" -U Administrator --stdin-password \
        <"$T/admin.pw" >"$T/adcli-join.out" 2>"$T/adcli-join.err" || RC=$?
    OUT=$(cat "$T/adcli-join.out") ERR=$(cat "$T/adcli-join.err") LAST=adcli-join
    dc_authz
    a_ok=1
    if [ "$RC" = 0 ] && grep -q 'Using GSS-SPNEGO for SASL bind' "$T/adcli-join.out" "$T/adcli-join.err" &&
        klist -k "$T/host.keytab" 2>/dev/null | grep -q "host/client1.$SAMBA_DNS_DOMAIN@$SAMBA_REALM" &&
        [ "$DC_ACCOUNT" = Administrator ]; then
        a_ok=0
        ADCLI_OK=0
    fi
    check "$a_ok" "adcli join (GSS-SPNEGO bind as Administrator, DC: $DC_AUTH $DC_PROT): CLIENT1\$ created, host keytab written"

    # The plugin adcli's libsasl2 loaded: ours from SASL_PATH, nothing else.
    a_loaded=$(cat "$T"/adcli-join.ld.* 2>/dev/null |
        sed -n 's/.*file=\([^ ]*sasl[^ ]*\.so[^ ]*\) .*dynamically loaded by.*libsasl2.*/\1/p' | sort -u)
    a_ok=1
    [ "$a_loaded" = "$T/sasl/libgssspnego.so" ] && a_ok=0
    RC=- OUT='' ERR="plugins dlopen()ed by libsasl2 (LD_DEBUG): ${a_loaded:-none}"
    check "$a_ok" "adcli's libsasl2 loaded only our plugin (LD_DEBUG: ${a_loaded:-none})"

    mark
    client adcli-testjoin adcli testjoin -v "${a_common[@]}" -K "$T/host.keytab"
    dc_authz
    a_ok=1
    if [ "$RC" = 0 ] && grep -q 'Using GSS-SPNEGO for SASL bind' "$T/adcli-testjoin.out" "$T/adcli-testjoin.err" &&
        [ "$DC_ACCOUNT" = 'CLIENT1$' ]; then
        a_ok=0
    fi
    check "$a_ok" "adcli testjoin with the host keytab (DC: $DC_AUTH $DC_ACCOUNT $DC_PROT)"

    a_kvno0=$(klist -k "$T/host.keytab" 2>/dev/null | awk -v p="CLIENT1\$@$SAMBA_REALM" '$2 == p { k = $1 } END { print k + 0 }')
    mark
    client adcli-update adcli update -v "${a_common[@]}" -K "$T/host.keytab" \
        --host-fqdn="client1.$SAMBA_DNS_DOMAIN" --computer-name=CLIENT1 \
        --computer-password-lifetime=0
    a_kvno1=$(klist -k "$T/host.keytab" 2>/dev/null | awk -v p="CLIENT1\$@$SAMBA_REALM" '$2 == p { k = $1 } END { print k + 0 }')
    dc_authz
    a_ok=1
    if [ "$RC" = 0 ] && [ "$a_kvno1" -gt "$a_kvno0" ] && [ "$DC_ACCOUNT" = 'CLIENT1$' ]; then
        a_ok=0
    fi
    check "$a_ok" "adcli update --computer-password-lifetime=0: new machine password, keytab kvno $a_kvno0 -> $a_kvno1 (DC: $DC_AUTH $DC_ACCOUNT $DC_PROT)"
}

# ---- 8. SSSD ------------------------------------------------------------------------

group_sssd() {
    s_what="SSSD (id_provider = ad, ldap_sasl_mech = GSS-SPNEGO)"
    if ! command -v sssd >/dev/null 2>&1 || [ ! -x /usr/libexec/sssd/sssd_be ]; then
        for c in "sssd_be loaded our plugin" "getent Administrator" "getent a created user"; do
            tap_result_ 1 "$s_what: $c: sssd not installed (packages sssd-ad sssd-tools)"
        done
        return
    fi
    if [ "$ADCLI_OK" != 0 ]; then
        for c in "sssd_be loaded our plugin" "getent Administrator" "getent a created user"; do
            tap_result_ 1 "$s_what: $c: no host keytab (adcli join failed)"
        done
        return
    fi
    # A user to look up besides Administrator.
    samba-tool user create sssd-user1 "Us.$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n').1" \
        -s "$SAMBA_CONF" >>"$T/setup.log" 2>&1 ||
        tap_diag "samba-tool user create sssd-user1 failed:" "$(tail -n 5 "$T/setup.log")"
    cat >"$SSSD_DIR/sssd.conf" <<EOF
[sssd]
services = nss
domains = $SAMBA_DNS_DOMAIN

[nss]

[domain/$SAMBA_DNS_DOMAIN]
id_provider = ad
access_provider = permit
ad_domain = $SAMBA_DNS_DOMAIN
krb5_realm = $SAMBA_REALM
ad_server = $SAMBA_DC_NAME
ad_hostname = client1.$SAMBA_DNS_DOMAIN
krb5_keytab = $T/host.keytab
ldap_krb5_keytab = $T/host.keytab
ldap_sasl_mech = GSS-SPNEGO
ldap_id_mapping = true
cache_credentials = false
dyndns_update = false
ad_gpo_access_control = disabled
krb5_use_kdcinfo = false
ldap_tls_cacert = $SAMBA_TLS_CA
debug_level = 6
EOF
    chmod 600 "$SSSD_DIR/sssd.conf"
    mkdir -p "$SSSD_DIR/root"
    mark
    # The only other thing SSSD is given is the environment: SASL_PATH
    # (our plugin alone), KRB5_CONFIG, KRB5RCACHEDIR.
    unshare -m --propagation private "$SSSD_NS" "$SSSD_DIR/root" "$SSSD_DIR/sssd.conf" \
        "$SAMBA_HOSTS" "$SAMBA_RESOLV_CONF" "$SAMBA_KRB5_CONF" --logger=files \
        </dev/null >"$SSSD_DIR/sssd.out" 2>&1 &
    SSSD_PID=$!
    PIDS="$PIDS $SSSD_PID"
    SSSD_LOG=$SSSD_DIR/root/log/sssd_$SAMBA_DNS_DOMAIN.log
    s_end=$(($(date +%s) + SSSD_TIMEOUT))
    s_be=
    until [ -S "/proc/$SSSD_PID/root/var/lib/sss/pipes/nss" ] && [ -n "$s_be" ]; do
        alive "$SSSD_PID" || break
        [ "$(date +%s)" -lt "$s_end" ] || break
        sleep 0.1
        s_be=$(ps -o pid=,comm= --ppid "$SSSD_PID" 2>/dev/null | awk '$2 == "sssd_be" { print $1 }')
    done
    PIDS="$PIDS $(ps -o pid= --ppid "$SSSD_PID" 2>/dev/null | tr '\n' ' ')"
    # The first lookup brings the back end online; poll until it answers.
    # A failed SASL bind takes the back end offline for a minute
    # (ldap_offline_timeout): stop polling then.
    s_got='' s_rc=1
    while alive "$SSSD_PID" && [ "$(date +%s)" -lt "$s_end" ]; do
        s_got=$(sssd_lookup "administrator@$SAMBA_DNS_DOMAIN" 2>&1) && { s_rc=0; break; }
        grep -q 'sasl_bind_send.*failed' "$SSSD_LOG" 2>/dev/null && break
        sleep 0.2
    done
    s_maps=none
    if [ -n "$s_be" ] && grep -q "$PLUGIN\|$T/sasl/libgssspnego.so" "/proc/$s_be/maps" 2>/dev/null; then
        s_maps=yes
    fi
    s_ok=1
    [ "$s_maps" = yes ] && s_ok=0
    RC=- OUT='' ERR="sssd pid $SSSD_PID, sssd_be pid ${s_be:-none}; its SASL lines:
$(grep -iE 'sasl|spnego' "$SSSD_LOG" 2>/dev/null | grep -v '^ ' | tail -n 8 | cut -c1-300)"
    if [ "$s_ok" != 0 ] && [ -n "$s_be" ] && [ -r "/proc/$s_be/maps" ]; then
        ERR="$ERR
libsasl2 mapped by sssd_be: $(awk '$6 ~ /libsasl2/ { print $6 }' "/proc/$s_be/maps" | sort -u | tr '\n' ' ')"
        # Why: dlopen() the plugin as sssd_be's libsasl2 would (its
        # provider library, hence libldap and libsasl2, are RTLD_LOCAL).
        s_why=$(/usr/bin/python3 -c '
import ctypes, sys
ctypes.CDLL("libsasl2.so.2", mode=ctypes.RTLD_LOCAL)
try:
    ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_LOCAL)
    print("dlopen of the plugin after an RTLD_LOCAL libsasl2: ok")
except OSError as e:
    print("dlopen of the plugin after an RTLD_LOCAL libsasl2:", e)
' "$PLUGIN" 2>&1)
        ERR="$ERR
$s_why"
    fi
    check "$s_ok" "$s_what: sssd_be (pid ${s_be:-none}) has our libgssspnego.so mapped (/proc/PID/maps)"

    # (Short names: use_fully_qualified_names is false.)
    [ "$s_rc" != 0 ] || dc_authz    # (no waiting for a bind that failed)
    s_ok=1
    if [ "$s_rc" = 0 ] && printf '%s\n' "$s_got" | grep -Eq "^administrator(@$SAMBA_DNS_DOMAIN)?:\*:[0-9]+:[0-9]+:" &&
        [ "$DC_ACCOUNT" = 'CLIENT1$' ]; then
        s_ok=0
    fi
    RC=$s_rc OUT=$s_got ERR="sssd log ($SSSD_LOG):
$(grep -v '^ ' "$SSSD_LOG" 2>/dev/null | grep -E '\((0x00[0-9a-f]0|0x0[01]00)\)' |
    grep -v 'SSSD is offline' | tail -n 12 | cut -c1-300)"
    check "$s_ok" "$s_what: getent -s sss passwd administrator@$SAMBA_DNS_DOMAIN: ${s_got:-nothing} (DC: sssd bound as $DC_ACCOUNT, $DC_AUTH $DC_PROT)"

    s_got=$(sssd_lookup "sssd-user1@$SAMBA_DNS_DOMAIN" 2>&1)
    s_rc=$?
    s_ok=1
    if [ "$s_rc" = 0 ] && printf '%s\n' "$s_got" | grep -Eq "^sssd-user1(@$SAMBA_DNS_DOMAIN)?:\*:[0-9]+:[0-9]+:"; then
        s_ok=0
    fi
    RC=$s_rc OUT=$s_got
    check "$s_ok" "$s_what: getent -s sss passwd sssd-user1@$SAMBA_DNS_DOMAIN (created by samba-tool): ${s_got:-nothing}"
    sssd_stop
}

# ---- 6. Samba's client (ldbsearch) against slapd with our plugin ----------------------

group_ldbsearch() {
    host=$(hostname | tr '[:upper:]' '[:lower:]')
    svc_pw="Svc.$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n').1"
    # A service account with the SPN ldap/<host> (slapd-fixture's
    # sasl-host), AES only, and a keytab of its keys under that name (the
    # salt is REALM + sAMAccountName; samba-tool exportkeytab gives an SPN
    # only its RC4 key).
    s_ok=1
    if samba-tool user create svc-slapd "$svc_pw" -s "$SAMBA_CONF" >>"$T/setup.log" 2>&1 &&
        samba-tool spn add "ldap/$host" svc-slapd -s "$SAMBA_CONF" >>"$T/setup.log" 2>&1 &&
        printf 'dn: CN=svc-slapd,CN=Users,%s\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 24\n' \
            "$SAMBA_BASE_DN" | dc_ldbmodify; then
        kvno=$(ldbsearch --configfile="$SAMBA_CONF" -H "$SAMBA_DC_DIR/dc/private/sam.ldb" "(sAMAccountName=svc-slapd)" \
            msDS-KeyVersionNumber 2>>"$T/setup.log" | sed -n 's/^msDS-KeyVersionNumber: //p')
        rm -f "$T/slapd.keytab"
        for e in aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96; do
            printf 'addent -password -p ldap/%s@%s -k %s -e %s -s %ssvc-slapd\n%s\n' \
                "$host" "$SAMBA_REALM" "${kvno:-1}" "$e" "$SAMBA_REALM" "$svc_pw"
        done >"$T/ktutil.in"
        printf 'wkt %s\nquit\n' "$T/slapd.keytab" >>"$T/ktutil.in"
        ktutil <"$T/ktutil.in" >>"$T/setup.log" 2>&1 &&
            klist -k "$T/slapd.keytab" 2>/dev/null | grep -q "ldap/$host@$SAMBA_REALM" && s_ok=0
    fi
    printf '%s:Administrator:%s\n' "$SAMBA_DOMAIN" "$SAMBA_ADMIN_PASS" >"$T/ntlm-server"
    if [ "$s_ok" = 0 ]; then
        NTLM_USER_FILE=$T/ntlm-server "$FIXTURE" start "$SLAPD_DIR" >"$TMP/slapd-start.log" 2>&1 || s_ok=$?
    fi
    if [ "$s_ok" != 0 ]; then
        tap_diag "setting up slapd with ldap/$host@$SAMBA_REALM failed:" \
            "$(tail -n 15 "$T/setup.log")" "$(tail -n 15 "$TMP/slapd-start.log" 2>/dev/null)"
        for c in 1 2 3 4 5 6; do
            tap_result_ 1 "ldbsearch against slapd with our plugin ($c): slapd not set up"
        done
        return
    fi
    SLAPD_UP=1
    # shellcheck source=/dev/null
    . "$SLAPD_DIR/ldap-env.sh"
    PIDS="$PIDS $LDAP_TEST_PID"
    export SASL_PATH=$T/sasl
    # Samba's client configuration: not /etc/samba/smb.conf, no state in
    # /var/lib/samba.
    mkdir -p "$T/smbclient"
    cat >"$T/smbclient.conf" <<EOF
[global]
    workgroup = $SAMBA_DOMAIN
    realm = $SAMBA_REALM
    name resolve order = host
    lock directory = $T/smbclient
    state directory = $T/smbclient
    cache directory = $T/smbclient
    private dir = $T/smbclient
    ncalrpc dir = $T/smbclient
EOF
    s_uri=ldap://$host:$LDAP_TEST_PORT
    for w in seal sign plain; do
        case $w in seal) want=256 ;; sign) want=1 ;; plain) want=0 ;; esac
        ldb_case "ldbsearch --use-kerberos=required, client ldap sasl wrapping = $w" \
            "$w" "$want" krb5 --use-kerberos=required
    done
    for w in seal sign plain; do
        # Samba's NTLMSSP client seals LDAP when asked to sign ("LDAP
        # style", as Windows): bind_ssf 64 then, as for seal.
        case $w in seal | sign) want=">=56" ;; plain) want=0 ;; esac
        ldb_case "ldbsearch NTLM (-U $SAMBA_DOMAIN/Administrator%PASSWORD --use-kerberos=off), client ldap sasl wrapping = $w" \
            "$w" "$want" ntlmssp --use-kerberos=off -U "$SAMBA_DOMAIN/Administrator%$SAMBA_ADMIN_PASS"
    done
    "$FIXTURE" stop "$SLAPD_DIR" >/dev/null 2>&1 || tap_diag "slapd-fixture stop failed"
    SLAPD_UP=0
}

# ldb_case NAME WRAPPING WANT-SSF MECH [ldbsearch options]: read alice's
# entry; slapd must log the GSS-SPNEGO bind with MECH and bind_ssf WANT.
ldb_case() {
    l_name=$1 l_wrap=$2 l_want=$3 l_mech=$4
    shift 4
    mark
    client ldb ldbsearch --configfile="$T/smbclient.conf" -H "$s_uri" \
        --option="client ldap sasl wrapping = $l_wrap" "$@" \
        -b "uid=alice,$LDAP_TEST_PEOPLE" -s base uid
    l_ssf=-
    if wait_for slapd_since 'mech=GSS-SPNEGO bind_ssf='; then
        l_ssf=$(slapd_since | sed -n 's/.* mech=GSS-SPNEGO bind_ssf=\([0-9]*\).*/\1/p' | tail -n 1)
    fi
    l_ok=1
    if [ "$RC" = 0 ] && grep -qx 'uid: alice' "$T/ldb.out" && ssf_ok "$l_ssf" "$l_want" &&
        { [ "$l_mech" = krb5 ] || slapd_since | grep -q 'complete with ntlmssp'; } &&
        slapd_since | grep -q 'BIND authcid="Administrator'; then
        l_ok=0
    fi
    check "$l_ok" "$l_name: slapd bind_ssf $l_ssf (want $l_want)"
}

# ---- the cases under "allow_sasl_over_tls" and "no" ------------------------------------

group_tls() {
    bind_case "Kerberos, StartTLS, -O maxssf=0 (no layer inside TLS)" 0 krb5 TLS -- -H "$DC_URI" -ZZ -O maxssf=0
    bind_case "Kerberos, ldaps://, -O maxssf=0" 0 krb5 TLS -- -H "$DC_LDAPS" -O maxssf=0
    bind_case "Kerberos, StartTLS, -O maxssf=0, SASL_CBINDING tls-endpoint" 0 krb5 TLS \
        LDAPSASL_CBINDING=tls-endpoint -- -H "$DC_URI" -ZZ -O maxssf=0
    bind_case "Kerberos, ldaps://, -O maxssf=0, SASL_CBINDING tls-endpoint" 0 krb5 TLS \
        LDAPSASL_CBINDING=tls-endpoint -- -H "$DC_LDAPS" -O maxssf=0
    bind_case "NTLM only, StartTLS, -O maxssf=0" 0 NTLMSSP TLS \
        "$NOCC" "$NTLM" -- -H "$DC_URI" -ZZ -O maxssf=0
    bind_case "NTLM only, ldaps://, -O maxssf=0, SASL_CBINDING tls-endpoint" 0 NTLMSSP TLS \
        "$NOCC" "$NTLM" LDAPSASL_CBINDING=tls-endpoint -- -H "$DC_LDAPS" -O maxssf=0
    # (Samba 4.17 says "not allowed if TLS is used" here.)
    refuse_case "Kerberos, plain LDAP, -O maxssf=0 (strong auth = allow_sasl_over_tls)" 8 \
        'SASL:\[GSS-SPNEGO\]: (Sign or Seal are required|not allowed if TLS is used)' \
        -- -H "$DC_URI" -O maxssf=0
}

group_nolayer() {
    bind_case "Kerberos, plain LDAP, -O maxssf=0 (strong auth = no)" 0 krb5 NONE -- -H "$DC_URI" -O maxssf=0
    bind_case "NTLM only, plain LDAP, -O maxssf=0 (strong auth = no)" 0 NTLMSSP NONE \
        "$NOCC" "$NTLM" -- -H "$DC_URI" -O maxssf=0
    bind_case "-U '$SAMBA_DOMAIN\\Administrator' -w PASSWORD, SPNEGO_MECHS=ntlmssp, plain LDAP, -O maxssf=0 (strong auth = no)" 0 NTLMSSP NONE \
        "$NOCC" SPNEGO_MECHS=ntlmssp -- -H "$DC_URI" -O maxssf=0 -U "$SAMBA_DOMAIN\\Administrator" -w "$SAMBA_ADMIN_PASS"
}

# ---- main ----------------------------------------------------------------------------

tap_plan 44

t_start=$(now_ms)
if ! dc_start yes; then
    echo "Bail out! the Samba DC did not start"
    exit 99
fi
tap_diag "Samba DC $SAMBA_REALM on $SAMBA_DC_IP ($SAMBA_DC_NAME) provisioned and started in $(($(now_ms) - t_start)) ms"

group_default          # 1-5: 20 results
group_adcli            # 7: 4
group_sssd             # 8: 3
group_ldbsearch        # 6: 6

t_start=$(now_ms)
if dc_start allow_sasl_over_tls; then
    tap_diag "DC restarted with ldap server require strong auth = allow_sasl_over_tls in $(($(now_ms) - t_start)) ms"
    group_tls          # 7
else
    for i in 1 2 3 4 5 6 7; do tap_result_ 1 "strong auth = allow_sasl_over_tls: the DC did not start"; done
fi

t_start=$(now_ms)
if dc_start no; then
    tap_diag "DC restarted with ldap server require strong auth = no in $(($(now_ms) - t_start)) ms"
    group_nolayer      # 3
else
    for i in 1 2 3; do tap_result_ 1 "strong auth = no: the DC did not start"; done
fi

# Stop everything now, and check that nothing started here is left.
sssd_stop
"$DCTL" stop "$DC" >/dev/null 2>&1 || tap_diag "samba-dc stop failed"
left=
for p in $PIDS; do
    alive "$p" && left="$left $p($(cat "/proc/$p/comm" 2>/dev/null))"
done
tap_is "${left:-none}" none "every samba, slapd and sssd process started here has stopped"
tap_diag "total time $(($(date +%s) - T0)) s"

tap_done

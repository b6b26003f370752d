#!/bin/sh
# ldap-test/test-ldap-load.sh - our plugin in a real slapd under load, and
# slapd and ldapwhoami under valgrind; TAP output.
#
#   top_srcdir=... top_builddir=... sh ldap-test/test-ldap-load.sh
#
# Re-runs itself under tests/fixture/with-krb5 (a throwaway KDC; alice's
# TGT, ldap/$(hostname) in a keytab, an NTLM user file) when SPNEGO_TEST_HOST
# is unset, and starts its slapd servers with ldap-test/slapd-fixture.
#
# 1. Load: 1,000 iterations from 16 concurrent clients against one slapd,
#    each an `ldapwhoami -Y GSS-SPNEGO` (bind with the default
#    confidentiality layer and a WhoAmI through it) and an
#    `ldapsearch -Y GSS-SPNEGO` of alice's entry through the layer: no
#    failure, slapd logged every bind, slapd alive and serving afterwards,
#    and slapd's memory after the 1,000 within a bound of its memory after
#    the first 100: the malloc heap in use (read by ldap-test/heapstat.so,
#    preloaded into slapd; skipped if it was not built) grows by less than
#    HEAP_BOUND, and VmRSS by less than RSS_BOUND.  slapd runs with a fixed
#    pool of 8 threads, which the first 100 iterations fill: each pool
#    thread has its own malloc arena and per-thread buffers, so the two
#    measurements compare the same threads.  Prints the bind rate, and
#    for information how the heap grows with NTLM binds (gss-ntlmssp).
# 2. valgrind, client side: ldapwhoami (loading our client plugin) under
#    memcheck for one Kerberos and one NTLM bind.
# 3. valgrind, server side: slapd (loading our server plugin) under memcheck
#    (slapd-fixture --wrapper), Kerberos binds with and without a layer, NTLM
#    only, a wrong password, searches through the layers; then TERM: slapd
#    shuts down (libsasl2 unloads the plugin; --keep-debuginfo keeps its
#    frames readable) and valgrind writes its leak report.
# Valgrind passes with no error at all (invalid accesses, uninitialised
# values, bad frees) and no definitely lost block, after the suppressions of
# tests/valgrind.supp (gss-ntlmssp, MIT's plugin loader) and
# ldap-test/valgrind-slapd.supp (slapd itself); no error or definite-leak
# record may show a frame of our plugin.  The logs are printed (as TAP
# comments) on failure.
#
# Skips when slapd or ldap-utils are missing (valgrind: those cases), or the
# plugin is a sanitizer build.  Runs in about 60 seconds.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
. "$top_srcdir/tests/tap.sh"
# shellcheck source=tests/proc.sh
. "$top_srcdir/tests/proc.sh"

FIXTURE=$top_srcdir/ldap-test/slapd-fixture
ALICE_DN=uid=alice,ou=people,dc=spnego,dc=test
CLIENT_TIMEOUT=120     # seconds for one client command (valgrind: slow)
LOG_TIMEOUT=10         # seconds to wait for slapd to log what happened
LOAD_CLIENTS=16        # concurrent clients
LOAD_FIRST=100         # iterations before the first memory measurement
LOAD_TOTAL=1000        # iterations in all
LOAD_THREADS=8         # slapd's thread pool (see above)
NTLM_BINDS=96          # NTLM binds measured for information
# Bytes the heap may grow from 100 to 1,000 iterations: 190-210 KiB measured
# (slapd's connection slots for new descriptors, malloc's thread caches);
# 1 MiB over 1,800 binds catches a leak of about 600 bytes per bind, and
# valgrind (below) any smaller one.
HEAP_BOUND=1048576
RSS_BOUND=5120         # KiB VmRSS may grow from 100 to 1,000
VG_STATUS=42           # valgrind's --error-exitcode
VG_STOP_TIMEOUT=180    # seconds for slapd under valgrind to exit after TERM

for t in slapd ldapwhoami ldapsearch timeout setsid; do
    if ! command -v "$t" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$t" ]; then
        echo "1..0 # SKIP $t not installed (packages slapd, ldap-utils)"
        exit 0
    fi
done
# Not inside the KDC fixture yet (its env.sh sets SPNEGO_TEST_HOST): run
# this script again under it.
if [ -z "${SPNEGO_TEST_HOST:-}" ]; then
    if [ -n "${TEST_LDAP_LOAD_REEXEC:-}" ]; then
        echo "Bail out! tests/fixture/with-krb5 did not set up a KDC"
        exit 99
    fi
    TEST_LDAP_LOAD_REEXEC=1
    export TEST_LDAP_LOAD_REEXEC
    exec "$top_srcdir/tests/fixture/with-krb5" sh "$0" "$@"
fi
PLUGIN=${SPNEGO_PLUGIN:-$top_builddir/plugins/.libs/libgssspnego.so}
if [ ! -f "$PLUGIN" ]; then
    echo "Bail out! $PLUGIN missing: build first"
    exit 99
fi
# Sanitizer builds: see test-ldap.sh (ASan-preloaded ldap tools hang at
# exit on Debian 12), and valgrind cannot run ASan code anyway.
if ldd "$PLUGIN" 2>/dev/null | grep -q 'libasan\.so'; then
    echo "1..0 # SKIP sanitizer build of the plugin: no load or valgrind test of it"
    exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-ldap-load.XXXXXX") || {
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

# ---- helpers (as in test-ldap.sh) ---------------------------------------------

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
            tap_diag "slapd-fixture start $s_name failed (status $s_rc):" \
                "$(tail -n 30 "$TMP/start-$s_name.log")"
        return "$s_rc"
    fi
    # shellcheck source=/dev/null
    . "$s_dir/ldap-env.sh"
    PIDS="$PIDS $LDAP_TEST_PID"
    return 0
}

server_down() {
    "$FIXTURE" stop "$TMP/slapd-$1"
}


# run CMD...: CMD without a controlling terminal (password prompts read
# stdin), under a timeout.
run() {
    timeout "$CLIENT_TIMEOUT" setsid -w "$@"
}

# client NAME CMD...: run CMD, stdin from /dev/null, stdout/stderr into
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

# mark: remember the end of slapd's log; since: the lines logged after it.
mark() {
    MARK=$(wc -l <"$LDAP_TEST_LOG" | tr -d ' ')
}
since() {
    tail -n "+$((MARK + 1))" "$LDAP_TEST_LOG"
}

# ssf_of FILE: SSF := the number ldap* printed as "SASL SSF: N" in FILE,
# or -1.  Builtins only (the load loop calls it 2,000 times).
ssf_of() {
    SSF=-1
    while IFS= read -r s_line; do
        case $s_line in
            "SASL SSF: "*) SSF=${s_line#SASL SSF: } ;;
        esac
    done <"$1"
}

# first_line FILE: FIRST := the first line of FILE ("" if empty).
first_line() {
    FIRST=
    IFS= read -r FIRST <"$1" || true
}

# diag_client: show the last client's output and slapd's last lines.
diag_client() {
    tap_diag "client exit status: $RC"
    [ -z "$OUT" ] || tap_diag "stdout:" "$(head -c 2000 "$T/$LAST.out")"
    [ -z "$ERR" ] || tap_diag "stderr:" "$(head -c 3000 "$T/$LAST.err")"
    tap_diag "slapd log ($LDAP_TEST_LOG), last lines:" \
        "$(since | grep -v -E '^(Arena|system bytes|in use bytes|Total|max mmap)' |
            tail -n 25 | cut -c1-400)"
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

now_ms() {
    n_t=$(date +%s%N)
    echo "$((n_t / 1000000))"
}

# ---- memory of slapd -----------------------------------------------------------

# proc_mem: VMRSS, RSSANON, VMDATA (KiB) and THREADS of slapd.
# shellcheck disable=SC2034 # read through measure's eval
proc_mem() {
    VMRSS=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$LDAP_TEST_PID/status")
    RSSANON=$(awk '$1 == "RssAnon:" { print $2 }' "/proc/$LDAP_TEST_PID/status")
    VMDATA=$(awk '$1 == "VmData:" { print $2 }' "/proc/$LDAP_TEST_PID/status")
    THREADS=$(awk '$1 == "Threads:" { print $2 }' "/proc/$LDAP_TEST_PID/status")
}

# heap_mem: HEAP (bytes in use in slapd's malloc arenas: the small and
# medium blocks a leak is made of) and HEAP_MMAP (bytes in blocks malloc
# mmapped one by one: slapd's per-thread search stacks of ~10 MiB), asked
# of ldap-test/heapstat.so, which the load slapd runs preloaded (a thread
# of its own answers on a FIFO; gdb's malloc_stats() call used before
# corrupts the process on some kernels).  1 if that is not there or does
# not answer.
# shellcheck disable=SC2034 # HEAP_MMAP: read through measure's eval
heap_mem() {
    HEAP=- HEAP_MMAP=-
    [ -n "$HEAPSTAT" ] && [ -p "$T/heapstat/request" ] || return 1
    rm -f "$T/heapstat/answer"
    timeout 10 sh -c 'echo > "$1"' sh "$T/heapstat/request" || {
        tap_diag "heapstat in slapd pid $LDAP_TEST_PID did not take the request"
        return 1
    }
    h_end=$(($(date +%s) + 10))
    until [ -s "$T/heapstat/answer" ]; do
        if [ "$(date +%s)" -ge "$h_end" ]; then
            tap_diag "no answer from heapstat in slapd pid $LDAP_TEST_PID"
            return 1
        fi
        sleep 0.05
    done
    read -r HEAP HEAP_MMAP <"$T/heapstat/answer"
}

# measure NAME: proc_mem and heap_mem into NAME_VMRSS, NAME_HEAP, ...
measure() {
    proc_mem
    heap_mem || true
    for m_v in VMRSS RSSANON VMDATA THREADS HEAP HEAP_MMAP; do
        eval "$1_$m_v=\$$m_v"
    done
}

# wait_closed N: wait (up to LOG_TIMEOUT s) until slapd logged N
# connections closed after the mark, so that it has freed them.
wait_closed() {
    w_end=$(($(date +%s) + LOG_TIMEOUT))
    until [ "$(since | grep -c ' fd=[0-9]* closed')" -ge "$1" ]; do
        [ "$(date +%s)" -lt "$w_end" ] || return 1
        sleep 0.05
    done
}

# ---- 1. load --------------------------------------------------------------------

# load_fail W I WHAT: keep the outputs of a failed iteration (the first few).
load_fail() {
    echo x >>"$T/fails.$1"
    if [ "$(wc -l <"$T/fails.$1")" -le 3 ]; then
        {
            echo "client $1, iteration $2, $3 (exit status $4):"
            head -c 600 "$T/w$1.out"
            head -c 1200 "$T/w$1.err"
        } >>"$T/load-fail.$1"
    fi
}

# load_worker W FROM TO: iterations FROM+W, FROM+W+LOAD_CLIENTS, ... below
# TO: each an ldapwhoami and an ldapsearch; counts into $T/count.W.
load_worker() {
    l_w=$1
    l_i=$(($2 + $1))
    l_who=0 l_search=0
    while [ "$l_i" -lt "$3" ]; do
        run ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
            </dev/null >"$T/w$l_w.out" 2>"$T/w$l_w.err"
        l_rc=$?
        first_line "$T/w$l_w.out"
        ssf_of "$T/w$l_w.err"
        if [ "$l_rc" = 0 ] && [ "$FIRST" = "dn:$ALICE_DN" ] && [ "$SSF" -ge 56 ]; then
            l_who=$((l_who + 1))
        else
            load_fail "$l_w" "$l_i" "ldapwhoami" "$l_rc"
        fi
        run ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
            -b "ou=people,dc=spnego,dc=test" "(uid=alice)" cn \
            </dev/null >"$T/w$l_w.out" 2>"$T/w$l_w.err"
        l_rc=$?
        first_line "$T/w$l_w.out"
        ssf_of "$T/w$l_w.err"
        if [ "$l_rc" = 0 ] && [ "$FIRST" = "dn: $ALICE_DN" ] && [ "$SSF" -ge 56 ]; then
            l_search=$((l_search + 1))
        else
            load_fail "$l_w" "$l_i" "ldapsearch" "$l_rc"
        fi
        l_i=$((l_i + LOAD_CLIENTS))
    done
    echo "$l_who $l_search" >"$T/count.$l_w"
}

# load_phase FROM TO: iterations FROM..TO-1 from LOAD_CLIENTS clients; adds
# to WHO_OK, SEARCH_OK and LOAD_MS (wall time).
load_phase() {
    p_start=$(now_ms)
    p_w=0
    while [ "$p_w" -lt "$LOAD_CLIENTS" ]; do
        load_worker "$p_w" "$1" "$2" &
        p_w=$((p_w + 1))
    done
    wait
    LOAD_MS=$((LOAD_MS + $(now_ms) - p_start))
    p_w=0
    while [ "$p_w" -lt "$LOAD_CLIENTS" ]; do
        if [ -f "$T/count.$p_w" ]; then
            read -r p_who p_search <"$T/count.$p_w"
            WHO_OK=$((WHO_OK + p_who))
            SEARCH_OK=$((SEARCH_OK + p_search))
            rm -f "$T/count.$p_w"
        fi
        p_w=$((p_w + 1))
    done
}

# bind_stats: BINDS := GSS-SPNEGO binds slapd logged after the mark,
# WEAK := those with a bind_ssf below 56.
bind_stats() {
    b_v=$(since | sed -n 's/.* mech=GSS-SPNEGO bind_ssf=\([0-9]*\).*/\1/p' |
        awk '{ n++ } $1 < 56 { w++ } END { print n + 0, w + 0 }')
    BINDS=${b_v% *}
    WEAK=${b_v#* }
}

kib() {
    awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'
}

group_load() {
    printf 'threads %s\n' "$LOAD_THREADS" >"$T/threads.conf"
    mkdir -p "$T/heapstat"
    if [ -n "$HEAPSTAT" ]; then
        server_up load --debug stats --conf-extra "$T/threads.conf" \
            --wrapper "env LD_PRELOAD=$HEAPSTAT${LD_PRELOAD:+:$LD_PRELOAD} HEAPSTAT_DIR=$T/heapstat"
    else
        server_up load --debug stats --conf-extra "$T/threads.conf"
    fi
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        for c in "ldapwhoami binds" "ldapsearch binds" "binds logged" \
            "slapd alive" "heap" "VmRSS"; do
            if [ "$g_rc" -eq 77 ]; then
                tap_skip "load: $c" "$(tail -n 1 "$TMP/start-load.log")"
            else
                tap_result_ 1 "load: $c: slapd did not start"
            fi
        done
        return 1
    fi
    WHO_OK=0 SEARCH_OK=0 LOAD_MS=0
    mark
    load_phase 0 "$LOAD_FIRST"
    wait_closed $((2 * LOAD_FIRST)) ||
        tap_diag "slapd did not log $((2 * LOAD_FIRST)) connections closed within ${LOG_TIMEOUT}s"
    measure AT100
    mark
    load_phase "$LOAD_FIRST" "$LOAD_TOTAL"
    wait_closed $((2 * (LOAD_TOTAL - LOAD_FIRST))) ||
        tap_diag "slapd did not log $((2 * (LOAD_TOTAL - LOAD_FIRST))) connections closed within ${LOG_TIMEOUT}s"
    measure ATEND
    MARK=0
    bind_stats

    n=$((2 * LOAD_TOTAL))
    rate=$(awk -v n="$n" -v ms="$LOAD_MS" 'BEGIN { printf "%.0f", n * 1000 / (ms ? ms : 1) }')
    tap_diag "load: $n GSS-SPNEGO binds ($LOAD_TOTAL ldapwhoami + $LOAD_TOTAL ldapsearch) from $LOAD_CLIENTS concurrent clients in $((LOAD_MS / 1000)).$((LOAD_MS % 1000 / 100)) s: $rate binds/s"
    cat "$T"/load-fail.* 2>/dev/null | head -n 40 >"$T/load.err"
    RC=- OUT='' ERR=$(cat "$T/load.err")
    : >"$T/load.out"
    LAST=load
    [ "$WHO_OK" = "$LOAD_TOTAL" ]
    check $? "load: $LOAD_TOTAL ldapwhoami -Y GSS-SPNEGO from $LOAD_CLIENTS concurrent clients: $WHO_OK returned $ALICE_DN with SASL SSF >= 56"
    [ "$SEARCH_OK" = "$LOAD_TOTAL" ]
    check $? "load: $LOAD_TOTAL ldapsearch -Y GSS-SPNEGO through the layer: $SEARCH_OK found alice's entry"
    [ "$BINDS" = "$n" ] && [ "$WEAK" = 0 ]
    check $? "load: slapd logged $BINDS GSS-SPNEGO binds (want $n), $WEAK with bind_ssf below 56"

    g_ok=1
    if alive "$LDAP_TEST_PID"; then
        mark
        client good ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI"
        [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] && g_ok=0
    else
        RC=- OUT='' ERR="slapd pid $LDAP_TEST_PID is gone"
    fi
    check "$g_ok" "load: slapd pid $LDAP_TEST_PID alive and serving after the load"

    tap_diag "slapd after $LOAD_FIRST iterations: VmRSS $AT100_VMRSS KiB, RssAnon $AT100_RSSANON KiB, VmData $AT100_VMDATA KiB, $AT100_THREADS threads, heap in use $AT100_HEAP bytes (+ $AT100_HEAP_MMAP in mmapped blocks)"
    tap_diag "slapd after $LOAD_TOTAL iterations: VmRSS $ATEND_VMRSS KiB, RssAnon $ATEND_RSSANON KiB, VmData $ATEND_VMDATA KiB, $ATEND_THREADS threads, heap in use $ATEND_HEAP bytes (+ $ATEND_HEAP_MMAP in mmapped blocks)"
    if [ "$AT100_THREADS" != "$ATEND_THREADS" ]; then
        tap_diag "note: slapd's thread count changed ($AT100_THREADS -> $ATEND_THREADS); each new thread adds its own arena and buffers"
    fi
    if [ "$AT100_HEAP" = - ] || [ "$ATEND_HEAP" = - ]; then
        tap_skip "load: slapd's heap in use after $LOAD_TOTAL iterations within $(kib "$HEAP_BOUND") of after $LOAD_FIRST" \
            "${HEAPSTAT:-ldap-test/heapstat.so not built}${HEAPSTAT:+ did not answer}"
    else
        d=$((ATEND_HEAP - AT100_HEAP))
        per=$((d / (2 * (LOAD_TOTAL - LOAD_FIRST))))
        tap_ok "$([ "$d" -lt "$HEAP_BOUND" ]; echo $?)" \
            "load: slapd's heap in use grew by $d bytes ($(kib "$d"), $per per bind) from $LOAD_FIRST to $LOAD_TOTAL iterations (bound $(kib "$HEAP_BOUND"))"
    fi
    d=$((ATEND_VMRSS - AT100_VMRSS))
    tap_ok "$([ "$d" -lt "$RSS_BOUND" ]; echo $?)" \
        "load: slapd's VmRSS grew by $d KiB from $LOAD_FIRST to $LOAD_TOTAL iterations ($AT100_VMRSS -> $ATEND_VMRSS KiB, bound $RSS_BOUND KiB)"

    ntlm_info
    return 0
}

# For information, not a test of ours: slapd's heap over NTLM-only binds.
# gss-ntlmssp 1.2.0 (Debian 12, OpenSSL 3) loses an EVP_MD it fetched, 6,296
# bytes with what it holds, in each NTLM gss_accept_sec_context of a bind
# (valgrind shows it, with this plugin's frames below gss-ntlmssp's; the
# gss-ntlmssp entry of tests/valgrind.supp suppresses it).
ntlm_info() {
    heap_mem || return 0
    i_before=$HEAP
    mark
    i_w=0
    while [ "$i_w" -lt 8 ]; do
        (
            i_i=0 i_n=0
            while [ "$i_i" -lt $((NTLM_BINDS / 8)) ]; do
                run env KRB5CCNAME=FILE:/nonexistent KRB5_CLIENT_KTNAME=FILE:/nonexistent \
                    ldapwhoami -Q -Y GSS-SPNEGO -H "$LDAP_TEST_URI" </dev/null \
                    >"$T/n$i_w.out" 2>&1 && i_n=$((i_n + 1))
                i_i=$((i_i + 1))
            done
            echo "$i_n" >"$T/ncount.$i_w"
        ) &
        i_w=$((i_w + 1))
    done
    wait
    i_ok=$(cat "$T"/ncount.* | awk '{ s += $1 } END { print s + 0 }')
    wait_closed "$NTLM_BINDS" || true
    heap_mem || return 0
    i_d=$((HEAP - i_before))
    tap_diag "for information: $i_ok of $NTLM_BINDS NTLM-only binds succeeded; slapd's heap in use grew by $i_d bytes, $((i_d / NTLM_BINDS)) per NTLM bind (gss-ntlmssp loses 6,296 bytes per NTLM authentication)"
}

# ---- valgrind -----------------------------------------------------------------

# vg_opts: the memcheck options every valgrind run here uses.
vg_opts() {
    echo "--tool=memcheck --leak-check=full --errors-for-leak-kinds=definite" \
        "--error-exitcode=$VG_STATUS --keep-debuginfo=yes --num-callers=40 -s" \
        "--suppressions=$top_srcdir/tests/valgrind.supp"
}

# Frames of our plugin in a valgrind log: its object, its source files (with
# its debug information), or an address in no object (the plugin unloaded
# without --keep-debuginfo).
OURS_RE='libgssspnego|\((der|engine|layer|mechs|negtoken|ntlmmsg|oids|client|server|glue|credcache)\.c:[0-9]+\)|: \?\?\? \|'

# vg_errors LOG: VG_ERRORS (from ERROR SUMMARY), VG_DEF (definitely lost
# bytes; 0 when all heap blocks were freed), VG_OURS (error and definite
# leak records with a frame of our plugin); "-" when the log lacks them.
vg_errors() {
    VG_ERRORS=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$1" | tail -n 1 | tr -d ,)
    VG_DEF=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tail -n 1 | tr -d ,)
    if [ -z "$VG_DEF" ] && grep -q 'All heap blocks were freed' "$1"; then
        VG_DEF=0
    fi
    VG_OURS=$(vg_records "$1" |
        grep -v -E '^[^|]* are (possibly lost|indirectly lost|still reachable) ' |
        grep -c -E "$OURS_RE")
    : "${VG_ERRORS:=-}" "${VG_DEF:=-}"
}

# vg_records LOG: the error and loss records valgrind reported (up to its
# first ERROR SUMMARY), one a line: "HEADLINE | FRAME | FRAME | ...".
vg_records() {
    awk '
        function flush() { if (rec != "") print rec; rec = "" }
        /ERROR SUMMARY/ { flush(); exit }
        /^==[0-9]+== *$/ { flush(); next }
        !/^==[0-9]+== / { next }
        { line = $0; sub(/^==[0-9]+== +/, "", line) }
        rec == "" && /^==[0-9]+== [^ ]/ &&
            !/SUMMARY|== (Memcheck,|Copyright|Using Valgrind|Command:|Parent PID:|For lists|For counts|Reachable blocks|To see them)/ {
            rec = line " |"; next }
        rec != "" { rec = rec " " line " |" }
        END { flush() }' "$1"
}

# vg_report LOG: the log (without the per-thread noise) as TAP comments.
vg_report() {
    tap_diag "valgrind log $1:"
    tap_diag "$(grep -v -E '^--[0-9]+-- ([^u]|u[^s])' "$1" |
        head -n 200 | cut -c1-220)"
}

# vg_check NAME LOG STATUS: pass when valgrind exited with STATUS other than
# VG_STATUS and the log shows no error, no definite leak, no record of ours.
vg_check() {
    vg_errors "$2"
    v_ok=1
    if [ "$3" != "$VG_STATUS" ] && [ "$VG_ERRORS" = 0 ] && [ "$VG_DEF" = 0 ] &&
        [ "$VG_OURS" = 0 ]; then
        v_ok=0
    fi
    if tap_result_ "$v_ok" "$1: valgrind status $3 (errors: $VG_STATUS), $VG_ERRORS errors, $VG_DEF bytes definitely lost, $VG_OURS error or definite-leak records with a frame of our plugin"; then
        tap_diag "$(grep -E '^==[0-9]+== +(definitely lost|indirectly lost|possibly lost|still reachable|suppressed):|ERROR SUMMARY' "$2" |
            sed 's/^==[0-9]*== *//' | tr -s ' ' | awk '!seen[$0]++' |
            awk '{ printf "%s%s", sep, $0; sep = "; " } END { print "" }')"
        sed -n "s|^--[0-9]*-- used_suppression: *\([0-9]*\) \(.*\) $top_srcdir/\(.*\) suppressed: \(.*\)|  suppressed by \"\2\" (\3): \4 in \1 records|p" "$2" |
            sed 's/^/# /'
    else
        vg_report "$2"
    fi
}

# valgrind_client NAME USER [env ...]: ldapwhoami under memcheck, with the
# default mechanisms (krb5, ntlmssp); USER is the SASL username it must print.
valgrind_client() {
    v_name=$1 v_user=$2
    shift 2
    v_log=$TMP/valgrind-ldapwhoami-$v_name.log
    # shellcheck disable=SC2046 # vg_opts: words on purpose
    client "vg-$v_name" env "$@" valgrind $(vg_opts) --log-file="$v_log" \
        ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI"
    ssf_of "$T/$LAST.err"
    v_ok=1
    [ "$RC" != "$VG_STATUS" ] && [ "$OUT" = "dn:$ALICE_DN" ] && [ "$SSF" -ge 56 ] &&
        grep -Fqx "SASL username: $v_user" "$T/$LAST.err" && v_ok=0
    check "$v_ok" "valgrind ldapwhoami, $v_name: SASL username $v_user, $ALICE_DN, SASL SSF $SSF"
    if [ -f "$v_log" ]; then
        vg_check "valgrind ldapwhoami, $v_name" "$v_log" "$RC"
    else
        tap_result_ 1 "valgrind ldapwhoami, $v_name: no valgrind log $v_log"
    fi
}

# For "env": a client without any Kerberos credentials.
NOCC=KRB5CCNAME=FILE:/nonexistent
NOKT=KRB5_CLIENT_KTNAME=FILE:/nonexistent
# The SASL usernames ldapwhoami prints for alice.
KRB5_USER=alice@SPNEGO.TEST
NTLM_USER='SPNEGO\alice'

group_valgrind_client() {
    if [ -z "$VALGRIND" ]; then
        for c in "Kerberos: bind" "Kerberos: memcheck" "NTLM: bind" "NTLM: memcheck"; do
            tap_skip "valgrind ldapwhoami, $c" "valgrind not installed"
        done
        return
    fi
    if [ -z "${LDAP_TEST_PID:-}" ] || ! alive "$LDAP_TEST_PID"; then
        for c in "Kerberos: bind" "Kerberos: memcheck" "NTLM: bind" "NTLM: memcheck"; do
            tap_result_ 1 "valgrind ldapwhoami, $c: no slapd"
        done
        return
    fi
    valgrind_client Kerberos "$KRB5_USER"
    valgrind_client NTLM "$NTLM_USER" "$NOCC" "$NOKT"
}

# vg_whoami NAME WANT-SSF USER [env ...] -- [ldapwhoami options]: a bind
# as alice against the slapd under valgrind; WANT-SSF is N or ">=N", USER
# the SASL username the client must print (which mechanism authenticated).
vg_whoami() {
    w_name=$1 w_want=$2 w_user=$3
    shift 3
    w_env=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        w_env="$w_env $1"
        shift
    done
    [ $# -gt 0 ] && shift
    mark
    # shellcheck disable=SC2086 # w_env: words on purpose
    client "$w_name" env $w_env ldapwhoami -Y GSS-SPNEGO -H "$LDAP_TEST_URI" "$@"
    ssf_of "$T/$LAST.err"
    w_ok=1
    case $w_want in
        ">="*) [ "$SSF" -ge "${w_want#>=}" ] && w_ok=0 ;;
        *) [ "$SSF" = "$w_want" ] && w_ok=0 ;;
    esac
    [ "$RC" = 0 ] && [ "$OUT" = "dn:$ALICE_DN" ] &&
        grep -Fqx "SASL username: $w_user" "$T/$LAST.err" || w_ok=1
    check "$w_ok" "slapd under valgrind, $w_name: $w_user is $ALICE_DN, SASL SSF $SSF (want $w_want)"
}

# vg_search NAME [env ...]: alice's entry through the layer.
vg_search() {
    s_name=$1
    shift
    mark
    client "$s_name" env "$@" ldapsearch -LLL -Y GSS-SPNEGO -H "$LDAP_TEST_URI" \
        -b "$LDAP_TEST_PEOPLE" "(uid=alice)" cn mail
    ssf_of "$T/$LAST.err"
    first_line "$T/$LAST.out"
    s_ok=1
    if [ "$RC" = 0 ] && [ "$FIRST" = "dn: $ALICE_DN" ] && [ "$SSF" -ge 56 ] &&
        grep -q '^mail: alice@spnego.test' "$T/$LAST.out"; then
        s_ok=0
    fi
    check "$s_ok" "slapd under valgrind, $s_name: alice's entry through a layer of SSF $SSF"
}

VG_SLAPD_CASES=10

group_valgrind_server() {
    if [ -z "$VALGRIND" ]; then
        i=0
        while [ "$i" -lt "$VG_SLAPD_CASES" ]; do
            i=$((i + 1))
            tap_skip "slapd under valgrind, case $i" "valgrind not installed"
        done
        return
    fi
    case $top_srcdir$TMP in
        *[[:space:]]*)
            tap_result_ 1 "slapd under valgrind: paths with whitespace ($top_srcdir, $TMP) cannot go through --wrapper"
            return ;;
    esac
    vg_log=$TMP/valgrind-slapd.log
    server_up vg --wrapper "valgrind $(vg_opts) --suppressions=$top_srcdir/ldap-test/valgrind-slapd.supp --log-file=$vg_log"
    g_rc=$?
    if [ "$g_rc" -ne 0 ]; then
        if [ "$g_rc" -eq 77 ]; then
            tap_skip "slapd under valgrind" "$(tail -n 1 "$TMP/start-vg.log")"
        else
            tap_result_ 1 "slapd under valgrind: did not start"
            [ -f "$vg_log" ] && vg_report "$vg_log"
        fi
        return
    fi
    tap_diag "slapd pid $LDAP_TEST_PID runs as $(cat "/proc/$LDAP_TEST_PID/comm" 2>/dev/null)"

    vg_whoami "Kerberos, default layer" ">=56" "$KRB5_USER" --
    vg_whoami "Kerberos, -O maxssf=0 (no layer)" 0 "$KRB5_USER" -- -O maxssf=0
    vg_whoami "Kerberos, -O maxssf=1 (integrity only)" 1 "$KRB5_USER" -- -O maxssf=1
    vg_whoami "NTLM only, default layer" ">=56" "$NTLM_USER" "$NOCC" "$NOKT" --
    vg_search "Kerberos search"
    vg_search "NTLM-only search" "$NOCC" "$NOKT"

    mark
    client wrongpw env NTLM_USER_FILE=/nonexistent "$NOCC" "$NOKT" \
        ldapwhoami -Y GSS-SPNEGO -U alice -w wrong -H "$LDAP_TEST_URI"
    e_ok=1
    if [ "$RC" -ne 0 ] && printf '%s\n' "$ERR" | grep -q 'Invalid credentials (49)'; then
        e_ok=0
    fi
    check "$e_ok" "slapd under valgrind, wrong password: refused, Invalid credentials"
    vg_whoami "Kerberos after the wrong password" ">=56" "$KRB5_USER" --

    # TERM: slapd shuts down, calls sasl_done (our plugin is freed and
    # unloaded), valgrind writes its report and exits.
    v_pid=$LDAP_TEST_PID
    kill -TERM "$v_pid" 2>/dev/null
    v_end=$(($(date +%s) + VG_STOP_TIMEOUT))
    while alive "$v_pid" && [ "$(date +%s)" -lt "$v_end" ]; do
        sleep 0.1
    done
    v_status=-
    v_file=${LDAP_TEST_DIR:?}/slapd.pid.status
    v_end=$(($(date +%s) + 10))
    while [ ! -f "$v_file" ] && [ "$(date +%s)" -lt "$v_end" ]; do
        sleep 0.05
    done
    [ -f "$v_file" ] && v_status=$(cat "$v_file")
    : >"$T/stop.out"
    : >"$T/stop.err"
    RC=$v_status OUT='' ERR='' LAST=stop
    MARK=0
    v_ok=1
    if ! alive "$v_pid" && grep -q 'slapd stopped' "$LDAP_TEST_LOG"; then
        v_ok=0
    fi
    check "$v_ok" "slapd under valgrind stopped cleanly after TERM (exit status $v_status)"
    if [ -f "$vg_log" ]; then
        vg_check "slapd under valgrind" "$vg_log" "$v_status"
    else
        tap_result_ 1 "slapd under valgrind: no valgrind log $vg_log"
    fi
    server_down vg
}

# ---- main -----------------------------------------------------------------------

HEAPSTAT=$top_builddir/ldap-test/.libs/heapstat.so
[ -f "$HEAPSTAT" ] || HEAPSTAT=
VALGRIND=$(command -v valgrind 2>/dev/null || true)

group_load
group_valgrind_client
server_down load
group_valgrind_server

left=
for p in $PIDS; do
    alive "$p" && left="$left $p"
done
tap_is "${left:-none}" none "every slapd started here has stopped"

tap_done

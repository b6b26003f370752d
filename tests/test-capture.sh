#!/bin/sh
# tests/test-capture.sh - spnego-dump reading packet captures (issue 16,
# part 3); TAP output.
#
#   top_srcdir=... top_builddir=... sh tests/test-capture.sh
#
# tests/capture-writer makes the captures here, in a throwaway realm, from
# real exchanges between our client and our server (see its header): a
# Kerberos bind with sealed layer packets (pcapng, with a retransmitted
# and two swapped segments and a sequence number that wraps), NTLM
# without signing against a server that requires a layer, NTLM with
# mismatched channel bindings, and Kerberos to a server without the key.
# spnego-dump must tell each story and, for the failed binds, the cause.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
tap_in_realm "$0" "$@"

DUMP=$top_builddir/tools/spnego-dump
WRITER=$top_builddir/tests/capture-writer
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-capture.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 99
}
trap 'rm -rf "$TMP"' 0
trap 'exit 130' INT TERM

if ! "$WRITER" "$TMP" >"$TMP/writer.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - tests/capture-writer failed"
    sed 's/^/# /' "$TMP/writer.log"
    exit 1
fi

# story NAME FILE: spnego-dump FILE into $TMP/NAME.out; its status in RC.
story() {
    RC=0
    "$DUMP" "$2" >"$TMP/$1.out" 2>"$TMP/$1.err" || RC=$?
}

# has NAME TEXT DESCRIPTION: pass if NAME's story has the line TEXT (a
# fixed string).
has() {
    if grep -qF -- "$2" "$TMP/$1.out"; then
        tap_ok 0 "$3"
    else
        tap_ok 1 "$3"
        tap_diag "no line with: $2" "spnego-dump said:" "$(cat "$TMP/$1.out" "$TMP/$1.err")"
    fi
}

# ---- Kerberos with a layer, pcapng, reassembled ----
story krb5 "$TMP/krb5-layer.pcapng"
tap_is "$RC" 0 "Kerberos capture (pcapng): exit 0"
has krb5 "connection 127.0.0.1:40312 -> 127.0.0.1:389" \
    "the connection, client and server told apart by the SYN"
has krb5 "client: offers krb5, ntlmssp; optimistic token: Kerberos AP-REQ for ldap/" \
    "what the client offered, and its ticket's service"
has krb5 "server: accept-completed, chose krb5; Kerberos AP-REP (mutual authentication)" \
    "what the server chose"
has krb5 "result: success (0)" "the result"
has krb5 "mechListMIC: not required (the client's first choice); client sent none, server sent none" \
    "whether a mechListMIC was due and sent"
has krb5 "security layer client to server: 3 packets of" \
    "the client's layer packets, counted after reassembly (a retransmission and a reorder in the capture)"
has krb5 "sealed Kerberos (RFC 4121) tokens: confidentiality" "the kind of layer"
has krb5 "security layer server to client: 2 packets of" "the server's layer packets"
has krb5 "1 GSS-SPNEGO bind in 1 TCP connection" "the summary"
if grep -q "likely cause\|misses bytes" "$TMP/krb5.out"; then
    tap_ok 1 "no cause and no gap for a complete successful bind"
else
    tap_ok 0 "no cause and no gap for a complete successful bind"
fi

# ---- the same capture on standard input ----
RC=0
"$DUMP" <"$TMP/krb5-layer.pcapng" >"$TMP/stdin.out" 2>&1 || RC=$?
if [ "$RC" = 0 ] && grep -q "result: success (0)" "$TMP/stdin.out"; then
    tap_ok 0 "a capture on standard input is read as one"
else
    tap_ok 1 "a capture on standard input is read as one"
    tap_diag "$(cat "$TMP/stdin.out")"
fi

# ---- JSON: one object per bind ----
RC=0
"$DUMP" --json "$TMP/krb5-layer.pcapng" >"$TMP/json.out" 2>&1 || RC=$?
tap_is "$RC:$(wc -l <"$TMP/json.out" | tr -d ' '):$(grep -c '"result":0,"result_name":"success"' "$TMP/json.out")" \
    "0:1:1" "--json: one object for the bind, with its result"

# ---- NTLM without signing ----
story nosign "$TMP/ntlm-nosign.pcap"
has nosign "NTLMSSP NEGOTIATE, flags" "the NTLM NEGOTIATE told"
has nosign "(no SIGN)" "the missing SIGN flag shown"
has nosign "result: inappropriateAuthentication (48)" "the refusal"
has nosign "likely cause: NTLM without signing: the client did not negotiate NTLM signing (no SIGN flag)" \
    "the cause of the failed NTLM bind: no signing"

# ---- a segment never captured ----
story gap "$TMP/krb5-gap.pcap"
has gap "the capture misses bytes of this connection" \
    "a hole in a stream: what follows is not shown, and the story says so"
has gap "result: success (0)" \
    "... and what came before the hole is still told (the bind and its result)"

# ---- channel bindings that differ (Linux cooked, IPv6) ----
story cb "$TMP/cb-mismatch.pcap"
has cb "connection [::1]:40312 -> [::1]:389" \
    "a Linux cooked (tcpdump -i any) capture of IPv6 traffic"
has cb "channel bindings set" "the AUTHENTICATE's channel-binding hash shown as set"
has cb "likely cause: channel bindings do not match" \
    "the cause of the failed NTLM bind: channel bindings"

# ---- Kerberos without the key ----
story nokey "$TMP/krb5-nokey.pcap"
has nokey "Kerberos AP-REQ for ldap/" "the ticket told"
has nokey "likely cause: the server has no key for ldap/" \
    "the cause of the failed Kerberos bind: no key in the server's keytab"

# ---- a capture cut in the middle of a packet, and a non-capture ----
size=$(wc -c <"$TMP/krb5-nokey.pcap" | tr -d ' ')
head -c "$((size - 50))" "$TMP/krb5-nokey.pcap" >"$TMP/cut.pcap"
story cut "$TMP/cut.pcap"
has cut "the file ends inside a packet" "a capture cut short is read up to the cut, and says so"
printf '\241\262\303\324garbage' >"$TMP/bad.pcap"
story bad "$TMP/bad.pcap"
if [ "$RC" = 1 ] && grep -q "libpcap cannot read" "$TMP/bad.err"; then
    tap_ok 0 "a broken capture header: exit 1 with libpcap's reason"
else
    tap_ok 1 "a broken capture header: exit 1 with libpcap's reason"
    tap_diag "status $RC: $(cat "$TMP/bad.err")"
fi

tap_done

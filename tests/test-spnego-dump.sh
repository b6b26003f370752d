#!/bin/sh
# tests/test-spnego-dump.sh - spnego-dump tested as a program; TAP output.
#
#   top_srcdir=... top_builddir=... sh tests/test-spnego-dump.sh
#
# The binary is $top_builddir/tools/spnego-dump.  Tokens are the short
# known-answer vectors of INTEROP.md section 5 and small variants of them
# built here.  When $SPNEGO_VECTORS_DIR (default
# $top_srcdir/../shared/vectors) exists, every real capture listed in its
# MANIFEST.tsv and MANIFEST-malformed.tsv is also checked (read in place,
# never copied).  Needs only POSIX sh, awk, sed, od-free printf and dd.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/tap.sh"

DUMP=$top_builddir/tools/spnego-dump
VECTORS=${SPNEGO_VECTORS_DIR:-$top_srcdir/../shared/vectors}

if [ ! -x "$DUMP" ]; then
    echo "Bail out! $DUMP is missing or not executable: build it first" \
         "(make tools/spnego-dump)"
    exit 99
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test-spnego-dump.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 99
}
trap 'rm -rf "$TMP"' 0
trap 'exit 130' INT TERM

# ---- the INTEROP.md section 5 vectors -------------------------------------

V_MIT_INIT2=604706062b0601050502a03d303ba00d300b06092a864886f712010202a32a3028a0261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69676e6f7265
V_MIT_MSKRB5=a1143012a0030a0100a10b06092a864882f712010202
V_GOKRB5_KRB5=a1143012a0030a0100a10b06092a864886f712010202
V_MIT_REQUEST_MIC=a1153013a0030a0103a10c060a2b06010401823702020a
V_WIN_NTLM_INIT=604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e2000000000000000000000000000000000a0063450000000f
V_WIN_FINAL_MIC=a11b3019a0030a0100a312041001000000791f335a883b1df000000000

J_MIT_INIT2='{"framed": true, "type": "negTokenInit2", "mechTypes": ["1.2.840.113554.1.2.2"], "negHints": {"hintName": "not_defined_in_RFC4178@please_ignore"}}'
J_MIT_MSKRB5='{"framed": false, "type": "negTokenResp", "negState": "accept-completed", "supportedMech": "1.2.840.48018.1.2.2"}'
J_GOKRB5_KRB5='{"framed": false, "type": "negTokenResp", "negState": "accept-completed", "supportedMech": "1.2.840.113554.1.2.2"}'
J_MIT_REQUEST_MIC='{"framed": false, "type": "negTokenResp", "negState": "request-mic", "supportedMech": "1.3.6.1.4.1.311.2.2.10"}'
# The NTLM NEGOTIATE inside, decoded (MS-NLMP 2.2.1.1: flags 0xe2088297,
# Version 10.0 build 17763 (0x4563), NTLMSSP revision 15).
J_NTLM_NEGOTIATE='{"message": "NEGOTIATE", "flags": ["UNICODE", "OEM", "REQUEST_TARGET", "SIGN", "LM_KEY", "NTLM", "ALWAYS_SIGN", "EXTENDED_SESSIONSECURITY", "VERSION", "128", "KEY_EXCH", "56"], "version": "10.0.17763", "revision": 15}'
J_WIN_NTLM_INIT='{"framed": true, "type": "negTokenInit", "mechTypes": ["1.3.6.1.4.1.311.2.2.10"], "mechToken": 40, "mechTokenNtlm": '"$J_NTLM_NEGOTIATE"'}'
J_WIN_FINAL_MIC='{"framed": false, "type": "negTokenResp", "negState": "accept-completed", "mechListMIC": 16}'

# The same tokens in base64 (computed once from the hex above).
B64_MIT_MSKRB5='oRQwEqADCgEAoQsGCSqGSIL3EgECAg=='
B64_WIN_NTLM_INIT='YEgGBisGAQUFAqA+MDygDjAMBgorBgEEAYI3AgIKoioEKE5UTE1TU1AAAQAAAJeCCOIAAAAAAAAAAAAAAAAAAAAACgBjRQAAAA8='
# The NTLM NEGOTIATE inside V_WIN_NTLM_INIT, bare (as Windows LDAP sends).
V_BARE_NTLM=4e544c4d5353500001000000978208e2000000000000000000000000000000000a0063450000000f

# ---- helpers -----------------------------------------------------------------

# hex_to_raw HEX FILE: write the bytes spelled by HEX into FILE (printf
# octal escapes: portable, and NUL bytes survive).
hex_to_raw() {
    esc=$(printf '%s\n' "$1" | awk '
        BEGIN { for (i = 0; i < 16; i++) v[substr("0123456789abcdef", i + 1, 1)] = i }
        {
            s = tolower($0); gsub(/[^0-9a-f]/, "", s)
            for (i = 1; i < length(s); i += 2)
                printf "\\%03o", v[substr(s, i, 1)] * 16 + v[substr(s, i + 1, 1)]
        }')
    # shellcheck disable=SC2059 # the format is the escapes, on purpose
    printf "$esc" >"$2"
}

# dump [ARG...]: run spnego-dump with stdin from $STDIN (default
# /dev/null).  Sets RC, OUT (stdout), ERR (stderr) and LINES (stdout lines).
dump() {
    "$DUMP" "$@" <"${STDIN:-/dev/null}" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    OUT=$(cat "$TMP/out")
    ERR=$(cat "$TMP/err")
    LINES=$(wc -l <"$TMP/out" | tr -d ' ')
}

# put NAME HEX: write HEX plus a newline to $TMP/NAME.hex.
put() {
    printf '%s\n' "$2" >"$TMP/$1.hex"
}

# json_get KEY JSON: the raw JSON text of KEY's value ("-" if absent).
# Enough for our flat objects: strings, numbers, booleans, one level of
# arrays/objects.
json_get() {
    printf '%s\n' "$2" | awk -v key="$1" '
    {
        k = "\"" key "\": "
        i = index($0, k)
        if (i == 0) { print "-"; exit }
        s = substr($0, i + length(k))
        c = substr(s, 1, 1)
        n = length(s)
        if (c == "\"") {
            for (j = 2; j <= n; j++) {
                ch = substr(s, j, 1)
                if (ch == "\\") { j++; continue }
                if (ch == "\"") break
            }
            print substr(s, 1, j); exit
        }
        if (c == "[" || c == "{") {
            depth = 0; instr = 0
            for (j = 1; j <= n; j++) {
                ch = substr(s, j, 1)
                if (instr) {
                    if (ch == "\\") j++
                    else if (ch == "\"") instr = 0
                    continue
                }
                if (ch == "\"") instr = 1
                else if (ch == "[" || ch == "{") depth++
                else if (ch == "]" || ch == "}") { if (--depth == 0) break }
            }
            print substr(s, 1, j); exit
        }
        match(s, /^[^,}]*/)
        print substr(s, 1, RLENGTH)
    }'
}

show_output() {
    [ -n "$OUT" ] && tap_diag "stdout: $OUT"
    [ -n "$ERR" ] && tap_diag "stderr: $ERR"
    return 0
}

# expect_json NAME WANT ARG...: --json must print exactly WANT, one line.
expect_json() {
    name=$1 want=$2
    shift 2
    dump --json "$@"
    tap_is "rc=$RC lines=$LINES $OUT" "rc=0 lines=1 $want" "$name" ||
        show_output
}

# expect_error NAME OFFSET TEXT ARG...: --json must exit 1 and print
# {"error": "...TEXT...", "offset": OFFSET} on one line.
expect_error() {
    name=$1 offset=$2 text=$3
    shift 3
    dump --json "$@"
    case $OUT in
    "{\"error\": \""*"$text"*"\", \"offset\": $offset}") shape=ok ;;
    *) shape="no {\"error\": \"...$text...\", \"offset\": $offset}" ;;
    esac
    tap_is "rc=$RC lines=$LINES $shape" "rc=1 lines=1 ok" "$name" ||
        show_output
}

# expect_tree NAME FILE TEXT...: the tree of FILE must contain every TEXT.
expect_tree() {
    name=$1 file=$2
    shift 2
    dump "$file"
    missing=
    for text in "$@"; do
        case $OUT in
        *"$text"*) ;;
        *) missing="$missing [$text]" ;;
        esac
    done
    tap_is "rc=$RC missing:$missing" "rc=0 missing:" "$name" || show_output
}

# expect_usage NAME ARG...: exit 2, usage on stderr, nothing on stdout.
expect_usage() {
    name=$1
    shift
    dump "$@"
    case $ERR in
    *"Usage: spnego-dump"*) usage=yes ;;
    *) usage=no ;;
    esac
    tap_is "rc=$RC usage=$usage stdout=[$OUT]" "rc=2 usage=yes stdout=[]" \
        "$name" || show_output
}

# ---- JSON of every INTEROP.md section 5 vector ------------------------------

put mit-init2 "$V_MIT_INIT2"
put mit-mskrb5 "$V_MIT_MSKRB5"
put gokrb5-krb5 "$V_GOKRB5_KRB5"
put mit-request-mic "$V_MIT_REQUEST_MIC"
put win-ntlm-init "$V_WIN_NTLM_INIT"
put win-final-mic "$V_WIN_FINAL_MIC"

expect_json "json: MIT NegTokenInit2 with negHints" "$J_MIT_INIT2" \
    "$TMP/mit-init2.hex"
expect_json "json: MIT accept-completed, supportedMech MS-KRB5" \
    "$J_MIT_MSKRB5" "$TMP/mit-mskrb5.hex"
expect_json "json: gokrb5 accept-completed, supportedMech krb5" \
    "$J_GOKRB5_KRB5" "$TMP/gokrb5-krb5.hex"
expect_json "json: MIT request-mic counter-proposal" "$J_MIT_REQUEST_MIC" \
    "$TMP/mit-request-mic.hex"
expect_json "json: Windows NTLM-only NegTokenInit" "$J_WIN_NTLM_INIT" \
    "$TMP/win-ntlm-init.hex"
expect_json "json: Windows accept-completed with mechListMIC" \
    "$J_WIN_FINAL_MIC" "$TMP/win-final-mic.hex"

# ---- JSON of fields the short vectors lack (tokens built here) -------------

# Unframed NegTokenInit, reqFlags mutual+conf+integ (BIT STRING 03 02 01 46).
put reqflags a0173015a00d300b06092a864886f712010202a10403020146
expect_json "json: reqFlags by name, unframed NegTokenInit" \
    '{"framed": false, "type": "negTokenInit", "mechTypes": ["1.2.840.113554.1.2.2"], "reqFlags": ["mutual", "conf", "integ"]}' \
    "$TMP/reqflags.hex"

# reqFlags present with no flag set (03 01 00).
put noflags a0163014a00d300b06092a864886f712010202a103030100
expect_json "json: reqFlags present but empty" \
    '{"framed": false, "type": "negTokenInit", "mechTypes": ["1.2.840.113554.1.2.2"], "reqFlags": []}' \
    "$TMP/noflags.hex"

# NegTokenInit2 whose hintName holds a quote, a backslash, 0x01 and 0xe9,
# and a 2-byte hintAddress: the JSON must stay valid.
put hints a0243022a00d300b06092a864886f712010202a311300fa0071b0561225c01e9a10404027f00
expect_json "json: hintName escaped, hintAddress length" \
    '{"framed": false, "type": "negTokenInit2", "mechTypes": ["1.2.840.113554.1.2.2"], "negHints": {"hintName": "a\"\\\u0001\u00e9", "hintAddress": 2}}' \
    "$TMP/hints.hex"

# NegTokenResp with an unknown extension field [4] (Windows Server 2025).
put unknown-field a10c300aa0030a0100a4030401ff
expect_json "json: unknown extension field listed" \
    '{"framed": false, "type": "negTokenResp", "negState": "accept-completed", "unknownFields": [4]}' \
    "$TMP/unknown-field.hex"

# An unknown mechanism OID is shown dotted.
put unknown-oid a00b3009a007300506032a0304
expect_json "json: unknown OID dotted" \
    '{"framed": false, "type": "negTokenInit", "mechTypes": ["1.2.3.4"]}' \
    "$TMP/unknown-oid.hex"

# A NegTokenResp whose responseToken is a GSS-framed krb5 AP-REP.
put aprep a11c301aa0030a0100a2130411600f06092a864886f71201020202006f00
# (Its AP-REP is empty: the Kerberos decoder says so, the SPNEGO token
# itself decodes.)
expect_json "json: responseToken length" \
    '{"framed": false, "type": "negTokenResp", "negState": "accept-completed", "responseToken": 17, "responseTokenKrb5": {"error": "truncated: expected Kerberos message at offset 17, found end of data"}}' \
    "$TMP/aprep.hex"

# A bare NTLMSSP message (raw bytes, as an LDAP client sends it).
hex_to_raw "$V_BARE_NTLM" "$TMP/bare-ntlm.bin"
expect_json "json: bare NTLMSSP NEGOTIATE" \
    '{"framed": false, "type": "ntlmssp", "ntlmsspType": "NEGOTIATE", "mechToken": 40, "ntlm": '"$J_NTLM_NEGOTIATE"'}' \
    "$TMP/bare-ntlm.bin"

# An AUTHENTICATE built by hand (MS-NLMP 2.2.1.3): flags UNICODE SIGN NTLM
# EXTENDED_SESSIONSECURITY VERSION 128, version 10.0.20348 rev 15, domain
# SPNEGO, user bob, a MIC, and an NTLMv2 response whose AV pairs say
# MsvAvFlags 0x2 (MIC present) and a non-zero MsvAvChannelBindings.
V_NTLM_AUTH=4e544c4d535350000300000000000000b60000004c004c00580000000c000c00a400000006000600b000000000000000b600000000000000b6000000110208220a007c4f0000000f55555555555555555555555555555555222222222222222222222222222222220101000000000000333333333333333344444444444444440000000006000400020000000a0010001111111111111111111111111111111100000000530050004e00450047004f0062006f006200
hex_to_raw "$V_NTLM_AUTH" "$TMP/ntlm-auth.bin"
expect_json "json: NTLMSSP AUTHENTICATE with a MIC and channel bindings" \
    '{"framed": false, "type": "ntlmssp", "ntlmsspType": "AUTHENTICATE", "mechToken": 182, "ntlm": {"message": "AUTHENTICATE", "flags": ["UNICODE", "SIGN", "NTLM", "EXTENDED_SESSIONSECURITY", "VERSION", "128"], "version": "10.0.20348", "revision": 15, "domain": "SPNEGO", "user": "bob", "ntlmv2": true, "mic": true, "avPairs": ["MsvAvFlags", "MsvAvChannelBindings"], "channelBindings": "set"}}' \
    "$TMP/ntlm-auth.bin"
expect_tree "tree: NTLMSSP AUTHENTICATE fields" "$TMP/ntlm-auth.bin" \
    "flags 0x22080211: UNICODE SIGN NTLM EXTENDED_SESSIONSECURITY VERSION 128" \
    "version 10.0 build 20348, NTLMSSP revision 15" 'domain: "SPNEGO"' \
    'user: "bob"' "NTLMv2 response (76 bytes)" "MIC: present" \
    "MsvAvFlags: 0x00000002 (MIC present)" "MsvAvChannelBindings: set"
expect_tree "tree: NTLMSSP NEGOTIATE flags and version" "$TMP/bare-ntlm.bin" \
    "flags 0xe2088297: UNICODE OEM REQUEST_TARGET SIGN LM_KEY NTLM" \
    "version 10.0 build 17763, NTLMSSP revision 15"

# A NegTokenResp whose responseToken is a bare KRB-ERROR (RFC 4120 5.9.1,
# built by hand: error-code 37 KRB_AP_ERR_SKEW from a/b@R, e-text "skew").
put krberr a1563054a0030a0102a24d044b7e493047a003020105a10302011ea411180f32303236313230353030303030305aa503020100a603020125a9031b0152aa11300fa003020102a10830061b01611b0162ab061b04736b6577
expect_json "json: a KRB-ERROR responseToken decoded" \
    '{"framed": false, "type": "negTokenResp", "negState": "reject", "responseToken": 75, "responseTokenKrb5": {"message": "KRB-ERROR", "service": "a/b", "realm": "R", "errorCode": 37, "errorName": "KRB_AP_ERR_SKEW", "eText": "skew"}}' \
    "$TMP/krberr.hex"
expect_tree "tree: a KRB-ERROR responseToken decoded" "$TMP/krberr.hex" \
    "Kerberos KRB-ERROR (unframed)" "error 37 (KRB_AP_ERR_SKEW) from a/b@R" \
    'e-text: "skew"'

# ---- tree output -----------------------------------------------------------

expect_tree "tree: NegTokenInit2 names krb5 and the hint" "$TMP/mit-init2.hex" \
    "negTokenInit2" "krb5 (1.2.840.113554.1.2.2)" \
    "not_defined_in_RFC4178@please_ignore"
expect_tree "tree: supportedMech named ms-krb5" "$TMP/mit-mskrb5.hex" \
    "accept-completed" "ms-krb5 (1.2.840.48018.1.2.2)"
expect_tree "tree: request-mic with ntlmssp" "$TMP/mit-request-mic.hex" \
    "request-mic" "ntlmssp (1.3.6.1.4.1.311.2.2.10)"
expect_tree "tree: mechToken identified as NTLMSSP NEGOTIATE" \
    "$TMP/win-ntlm-init.hex" "GSS-framed" "mechToken: 40 bytes" \
    "NTLMSSP NEGOTIATE"
expect_tree "tree: mechListMIC length" "$TMP/win-final-mic.hex" \
    "mechListMIC: 16 bytes"
expect_tree "tree: reqFlags by name" "$TMP/reqflags.hex" \
    "reqFlags: mutual, conf, integ" "not framed"
expect_tree "tree: GSS-framed Kerberos AP-REP" "$TMP/aprep.hex" \
    "Kerberos AP-REP (TOK_ID 02 00)"
expect_tree "tree: unknown field and OID" "$TMP/unknown-field.hex" \
    "unknown field [4]"
expect_tree "tree: unknown OID dotted" "$TMP/unknown-oid.hex" \
    "unknown OID 1.2.3.4"
expect_tree "tree: bare NTLMSSP" "$TMP/bare-ntlm.bin" \
    "ntlmssp" "NTLMSSP NEGOTIATE"

# mechToken = one NEGOEX INITIATOR_NEGO header (40 bytes, "NEGOEXTS").
put negoex a03e303ca00e300c060a2b06010401823702021ea22a04284e45474f455854530000000000000000280000002800000000000000000000000000000000000000
expect_tree "tree: NEGOEX message identified" "$TMP/negoex.hex" \
    "negoex (1.3.6.1.4.1.311.2.2.30)" "NEGOEX, 1 message: INITIATOR_NEGO"

# mechToken of unknown content gets a hexdump.
put opaque a0173015a00d300b06092a864886f712010202a2040402dead
expect_tree "tree: unknown mechToken hexdumped" "$TMP/opaque.hex" \
    "unrecognised data" "de ad"

# ---- input formats ---------------------------------------------------------

printf '%s\n' "$V_WIN_NTLM_INIT" | sed 's/../& /g' | fold -w 25 \
    >"$TMP/spaced.hex"
expect_json "hex with spaces and newlines" "$J_WIN_NTLM_INIT" \
    "$TMP/spaced.hex"
printf '%s\n' "$V_WIN_NTLM_INIT" | fold -w 30 | sed 's/$/\r/' \
    >"$TMP/crlf.hex"
expect_json "hex with CRLF line ends" "$J_WIN_NTLM_INIT" "$TMP/crlf.hex"
printf '%s\n' "$V_WIN_NTLM_INIT" | tr 'a-f' 'A-F' >"$TMP/upper.hex"
expect_json "upper-case hex" "$J_WIN_NTLM_INIT" "$TMP/upper.hex"

printf '%s\n' "$B64_WIN_NTLM_INIT" >"$TMP/ntlm.b64"
expect_json "base64 detected" "$J_WIN_NTLM_INIT" "$TMP/ntlm.b64"
printf '%s\n' "$B64_WIN_NTLM_INIT" | fold -w 20 >"$TMP/folded.b64"
expect_json "base64 over several lines" "$J_WIN_NTLM_INIT" "$TMP/folded.b64"
printf '%s' "$B64_MIT_MSKRB5" | sed 's/=*$//' >"$TMP/nopad.b64"
expect_json "base64 without padding" "$J_MIT_MSKRB5" "$TMP/nopad.b64"

hex_to_raw "$V_WIN_NTLM_INIT" "$TMP/ntlm.bin"
expect_json "raw bytes detected" "$J_WIN_NTLM_INIT" "$TMP/ntlm.bin"

STDIN=$TMP/mit-mskrb5.hex
expect_json "standard input when no file is given" "$J_MIT_MSKRB5"
expect_json "standard input as '-'" "$J_MIT_MSKRB5" -
STDIN=$TMP/ntlm.bin
expect_json "raw bytes on standard input" "$J_WIN_NTLM_INIT" -
STDIN=

expect_json "--hex forced" "$J_WIN_NTLM_INIT" --hex "$TMP/spaced.hex"
expect_json "--base64 forced" "$J_WIN_NTLM_INIT" --base64 "$TMP/folded.b64"
expect_json "--raw forced" "$J_WIN_NTLM_INIT" --raw "$TMP/ntlm.bin"
expect_json "options after the file" "$J_WIN_NTLM_INIT" "$TMP/ntlm.bin" --raw
expect_error "--raw on hex text decodes the text's bytes" 0 \
    "outer tag 0x36" --raw "$TMP/win-ntlm-init.hex"
expect_error "--hex on base64 text" 0 "not a hex digit" --hex "$TMP/ntlm.b64"
expect_error "--base64 on raw bytes" 0 "not a base64 character" \
    --base64 "$TMP/ntlm.bin"
printf '%s\n' "$V_MIT_MSKRB5" | sed 's/.$//' >"$TMP/odd.hex"
expect_error "odd number of hex digits" 42 "odd number of hex digits" \
    "$TMP/odd.hex"

# ---- malformed tokens: exit 1, error with the offset -------------------------

put truncated a1143012a0030a0100a1
expect_error "truncated token" 0 "truncated" "$TMP/truncated.hex"
put indefinite a1803013a0030a0103a10c060a2b06010401823702020a0000
expect_error "indefinite length" 1 "indefinite length" "$TMP/indefinite.hex"
put trailing "${V_WIN_FINAL_MIC}deadbeef"
expect_error "trailing garbage" 29 "4 bytes of trailing data" \
    "$TMP/trailing.hex"
put wrong-tag "61${V_MIT_INIT2#60}"
expect_error "wrong outer tag 0x61" 0 "outer tag 0x61" "$TMP/wrong-tag.hex"
put nonminimal a108308105a0030a0100
expect_error "non-minimal length" 3 "non-minimal length" \
    "$TMP/nonminimal.hex"
put negstate9 a1143012a0030a0109a10b06092a864882f712010202
expect_error "negState 9" 8 "negState value 9" "$TMP/negstate9.hex"
put out-of-order a10b3009a3020400a0030a0100
expect_error "fields out of order" 8 "out of order" "$TMP/out-of-order.hex"
put krb5-framed 600f06092a864886f71201020201006e00
expect_error "GSS token of krb5, not SPNEGO" 4 "not SPNEGO" \
    "$TMP/krb5-framed.hex"
: >"$TMP/empty"
expect_error "empty input" 0 "empty token" "$TMP/empty"

dump "$TMP/truncated.hex"
case $ERR in
"spnego-dump: error at offset 0: truncated"*) line=ok ;;
*) line="no 'spnego-dump: error at offset 0: truncated...'" ;;
esac
tap_is "rc=$RC stdout=[$OUT] $line" "rc=1 stdout=[] ok" \
    "tree mode: error line on stderr" || show_output

# ---- size limits -------------------------------------------------------------

expect_error "--max-size below the token length" 21 "limit of 21 bytes" \
    --max-size 21 "$TMP/mit-mskrb5.hex"
expect_json "--max-size equal to the token length" "$J_MIT_MSKRB5" \
    --max-size 22 "$TMP/mit-mskrb5.hex"
expect_json "--max-size=N form" "$J_MIT_MSKRB5" --max-size=22 \
    "$TMP/mit-mskrb5.hex"
dd if=/dev/zero of="$TMP/over-limit.bin" bs=1024 count=257 2>/dev/null
expect_error "default limit is the library's 262144 bytes" 262144 \
    "limit of 262144 bytes" "$TMP/over-limit.bin"
dd if=/dev/zero of="$TMP/big.bin" bs=1024 count=16385 2>/dev/null
expect_error "input over the 16 MiB read limit" 16777216 "read limit" \
    "$TMP/big.bin"

# ---- usage ---------------------------------------------------------------

expect_usage "unknown option" --bogus "$TMP/mit-mskrb5.hex"
expect_usage "two input files" "$TMP/mit-mskrb5.hex" "$TMP/win-final-mic.hex"
expect_usage "unreadable file" "$TMP/no-such-file"
expect_usage "directory as input" "$TMP"
expect_usage "--max-size not a number" --max-size abc "$TMP/mit-mskrb5.hex"
expect_usage "--max-size zero" --max-size 0 "$TMP/mit-mskrb5.hex"
expect_usage "--max-size negative" --max-size -5 "$TMP/mit-mskrb5.hex"
expect_usage "--max-size without a value" --max-size
expect_usage "--max-size= empty" --max-size= "$TMP/mit-mskrb5.hex"
expect_usage "conflicting formats" --hex --base64 "$TMP/mit-mskrb5.hex"

dump --help
case $OUT in
*"Usage: spnego-dump"*--json*--max-size*) help=yes ;;
*) help=no ;;
esac
tap_is "rc=$RC help=$help" "rc=0 help=yes" "--help prints usage, exit 0" ||
    show_output

version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' \
    "$top_srcdir/configure.ac" 2>/dev/null)
dump --version
case $OUT in
"spnego-dump (sasl-spnego) ${version:-?}"*) vok=yes ;;
*) vok=no ;;
esac
tap_is "rc=$RC lines=$LINES ok=$vok" "rc=0 lines=1 ok=yes" \
    "--version prints 'spnego-dump (sasl-spnego) ${version:-VERSION}'" ||
    show_output

# ---- the shared real-world vectors -------------------------------------------

# What the JSON says, in the manifest's terms.
summarise_json() {
    if [ "$RC" != 0 ]; then
        e=$(json_get error "$OUT")
        [ "$e" = - ] && echo "rc=$RC error=no" || echo "rc=$RC error=yes"
        return
    fi
    tok=no
    [ "$(json_get mechToken "$OUT")" != - ] && tok=yes
    [ "$(json_get responseToken "$OUT")" != - ] && tok=yes
    mic=no
    [ "$(json_get mechListMIC "$OUT")" != - ] && mic=yes
    echo "rc=0 framed=$(json_get framed "$OUT") type=$(json_get type "$OUT")" \
        "ntlmssp=$(json_get ntlmsspType "$OUT")" \
        "mechTypes=$(json_get mechTypes "$OUT")" \
        "negState=$(json_get negState "$OUT")" \
        "supportedMech=$(json_get supportedMech "$OUT") token=$tok mic=$mic"
}

# What a MANIFEST.tsv row promises, in the same terms.
summarise_row() {
    kind=$1 framed=$2 mechs=$3 state=$4 mech=$5 tok=$6 mic=$7 ntlm=$8
    if [ "$kind" = other ]; then
        echo "rc=1 error=yes"
        return
    fi
    [ "$framed" = yes ] && framed=true || framed=false
    if [ "$mechs" = - ]; then
        mechs=-
    else
        mechs="[\"$(printf '%s' "$mechs" | sed 's/,/", "/g')\"]"
    fi
    case $state in -|absent) state=- ;; *) state="\"$state\"" ;; esac
    [ "$mech" = - ] || mech="\"$mech\""
    type=$kind ntlmssp=-
    if [ "$kind" = raw-ntlmssp ]; then
        # No SPNEGO fields; the whole message is reported as mechToken.
        type=ntlmssp ntlmssp="\"$ntlm\"" tok=yes
    fi
    echo "rc=0 framed=$framed type=\"$type\" ntlmssp=$ntlmssp" \
        "mechTypes=$mechs negState=$state supportedMech=$mech" \
        "token=$tok mic=$mic"
}

check_manifest() {
    awk -F '\t' 'NR > 1 && NF >= 9 {
        ntlm = "-"
        if (match($10, /NEGOTIATE|CHALLENGE|AUTHENTICATE/))
            ntlm = substr($10, RSTART, RLENGTH)
        print $1, $3, $4, $5, $6, $7, $8, $9, ntlm
    }' "$VECTORS/MANIFEST.tsv" >"$TMP/rows"
    rows=0
    while read -r file kind framed mechs state mech tok mic ntlm; do
        rows=$((rows + 1))
        want=$(summarise_row "$kind" "$framed" "$mechs" "$state" "$mech" \
            "$tok" "$mic" "$ntlm")
        dump --json "$VECTORS/$file"
        got=$(summarise_json)
        tap_is "$got" "$want" "vector $file ($kind)" || show_output
    done <"$TMP/rows"
    tap_diag "$rows rows of MANIFEST.tsv checked"
}

check_manifest_tree() {
    awk -F '\t' 'NR > 1 && NF >= 9 && $3 != "other" { print $1 }' \
        "$VECTORS/MANIFEST.tsv" >"$TMP/files"
    bad=
    while read -r file; do
        dump "$VECTORS/$file"
        if [ "$RC" != 0 ] || [ -n "$ERR" ] || [ -z "$OUT" ]; then
            bad="$bad $file(rc=$RC)"
        fi
    done <"$TMP/files"
    tap_is "failed:$bad" "failed:" "tree mode decodes every valid vector"
}

check_malformed() {
    awk -F '\t' 'NR > 1 && NF >= 5 {
        verdict = $NF; sub(/[: ].*/, "", verdict); print $1, verdict
    }' "$VECTORS/MANIFEST-malformed.tsv" >"$TMP/malformed"
    rows=0
    while read -r file verdict; do
        rows=$((rows + 1))
        dump --json "$VECTORS/$file"
        if [ "$verdict" = REJECT ]; then
            case $OUT in
            '{"error": "'*'", "offset": '*[0-9]'}') shape=error ;;
            *) shape=other ;;
            esac
            tap_is "rc=$RC $shape" "rc=1 error" "malformed $file rejected" ||
                {
                    show_output
                    tap_diag "manifest: $(grep "^$file" \
                        "$VECTORS/MANIFEST-malformed.tsv" | cut -f 4)"
                }
        else
            tap_is "rc=$RC type=$(json_get type "$OUT")" \
                'rc=0 type="negTokenResp"' \
                "malformed $file is valid DER ($verdict), decodes" ||
                show_output
        fi
    done <"$TMP/malformed"
    tap_diag "$rows rows of MANIFEST-malformed.tsv checked"
}

check_inner_names() {
    expect_tree "tree: IAKERB proxy message carrying an AS-REQ" \
        "$VECTORS/scapy-win25h2-client-negtokeninit-iakerb-negoex-ntlm.hex" \
        "IAKERB proxy message (TOK_ID 05 01) carrying a Kerberos AS-REQ" \
        "thisMech iakerb (1.3.6.1.5.2.5)" \
        "unknown OID 1.3.6.1.4.1.311.2.2.40"
    expect_tree "tree: NEGOEX mechToken" \
        "$VECTORS/msblog-win2016tp2-smb2-server-negtokeninit-negoex-ntlm-token.hex" \
        "NEGOEX, 2 messages"
    expect_tree "tree: krb5 AP-REQ under an MS-KRB5 mech list" \
        "$VECTORS/pyspnego-win2019-client-negtokeninit-mskrb5-krb5-negoex-ntlm-apreq.hex" \
        "ms-krb5 (1.2.840.48018.1.2.2)" "Kerberos AP-REQ (TOK_ID 01 00)" \
        "GSS-framed, thisMech krb5 (1.2.840.113554.1.2.2)"
    expect_tree "tree: Windows 2000 MIC copy noted" \
        "$VECTORS/derived-win2000-duplicate-mic-quirk.hex" \
        "NTLMSSP CHALLENGE" "Windows 2000 quirk"
}

if [ -d "$VECTORS" ] && [ -r "$VECTORS/MANIFEST.tsv" ] &&
    [ -r "$VECTORS/MANIFEST-malformed.tsv" ]; then
    check_manifest
    check_manifest_tree
    check_malformed
    check_inner_names
else
    tap_skip "shared vectors" \
        "no MANIFEST.tsv/MANIFEST-malformed.tsv in $VECTORS (set SPNEGO_VECTORS_DIR)"
fi

tap_done

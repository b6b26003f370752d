#!/bin/sh
# test-check.sh - tools/spnego-check finds each setup mistake planted here,
# in the fixture realm, and says what to change; a correct setup passes.
#   top_srcdir=... top_builddir=... sh tests/test-check.sh
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
tap_in_realm "$0" "$@"

CHECK=$top_builddir/tools/spnego-check
OURS=$top_builddir/plugins/.libs/libgssspnego.so
SVC=ldap@$SPNEGO_TEST_HOST
PRINC=ldap/$SPNEGO_TEST_HOST@$SPNEGO_TEST_REALM
tmp=$(mktemp -d) || exit 99
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cyrus=
for d in /usr/lib/*/sasl2 /usr/lib/sasl2; do
    [ -e "$d/libgssapiv2.so" ] && cyrus=$d/libgssapiv2.so && break
done
mkdir "$tmp/dir-ours" "$tmp/dir-cyrus"
ln -s "$OURS" "$tmp/dir-ours/libgssspnego.so"
[ -z "$cyrus" ] || ln -s "$cyrus" "$tmp/dir-cyrus/libgssapiv2.so"
SASL_PATH=$tmp/dir-ours
export SASL_PATH

# run NAME [ARGS...]: spnego-check ARGS SVC; output in $tmp/NAME.
run() {
    r_name=$1
    shift
    "$CHECK" "$@" "$SVC" >"$tmp/$r_name" 2>&1
    RC=$?
}

# expect NAME RC PATTERN DESC: the exit status and a line matching PATTERN.
expect() {
    if [ "$RC" = "$2" ] && grep -Eq -- "$3" "$tmp/$1"; then
        tap_ok 0 "$4"
    else
        tap_ok 1 "$4"
        tap_diag "want status $2 and /$3/; got status $RC:"
        sed 's/^/    /' "$tmp/$1" | tap_diag "$(cat)"
    fi
}

tap_plan 8
run good
expect good 0 "^0 problems" "a correct setup: no problem"
grep -q "^ok: a client asks for $PRINC" "$tmp/good"
tap_ok $? "it names the principal a client will ask for ($PRINC)"

run missing --keytab "$SPNEGO_TEST_PARTIAL_KEYTAB"
expect missing 1 "PROBLEM: the keytab .* holds no key for $PRINC" \
    "a keytab without the service's key"

cp "${KRB5_KTNAME#FILE:}" "$tmp/private.kt"
chmod 600 "$tmp/private.kt"
run private --keytab "FILE:$tmp/private.kt" --user nobody
expect private 1 "PROBLEM: keytab $tmp/private.kt cannot be read by nobody" \
    "a keytab the service's user cannot read"

if [ -n "$cyrus" ]; then
    SASL_PATH=$tmp/dir-cyrus run cyrus
    expect cyrus 1 "PROBLEM: libsasl2 will use gssapiv2 for GSS-SPNEGO" \
        "only Cyrus' plugin where libsasl2 looks"
else
    tap_skip "only Cyrus' plugin where libsasl2 looks" "libgssapiv2.so not installed"
fi

chmod 644 "$NTLM_USER_FILE"
run ntlm
expect ntlm 1 "PROBLEM: NTLM_USER_FILE .* can be read by every user" \
    "an NTLM password file every user can read"
chmod 600 "$NTLM_USER_FILE"

lib=$(find /usr/lib /usr/lib64 -name libfaketime.so.1 -path '*faketime*' \
    2>/dev/null | head -n 1)
if [ -n "$lib" ]; then
    # -u FAKETIME_SHARED: this process's own clock (see tests/faketime-shared)
    env -u FAKETIME_SHARED LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}" \
        FAKETIME=+2h \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$CHECK" "$SVC" >"$tmp/skew" 2>&1
    RC=$?
    expect skew 1 "PROBLEM: the clock differs from the KDC's" \
        "a clock two hours off the KDC's"
else
    tap_skip "a clock two hours off the KDC's" "libfaketime not installed"
fi

# Last: the KDC's key changes, the keytab stays as it was.
cp "${KRB5_KTNAME#FILE:}" "$tmp/old.kt"
kadmin.local -q "cpw -randkey $PRINC" >"$tmp/cpw" 2>&1
run stale --keytab "FILE:$tmp/old.kt"
expect stale 1 "PROBLEM: the keytab's keys for $PRINC are not the KDC's" \
    "a keytab behind the KDC (key changed since it was made)"
tap_done

# tests/tap.sh - a tiny TAP producer for POSIX sh tests.
#
# Source it, then:
#   tap_plan N              announce N tests (optional: without it,
#                           tap_done prints the plan at the end)
#   tap_ok STATUS NAME      pass if STATUS is 0 (a command's $?)
#   tap_is GOT WANT NAME    pass if the strings are equal; on a mismatch
#                           print both as "# got:" / "# want:" lines
#   tap_skip NAME REASON    a skipped test ("ok N - NAME # SKIP REASON")
#   tap_diag TEXT...        a "# " comment line per line of TEXT
#   tap_done                print the late plan if needed; exit 1 if any
#                           test failed or the count differs from the plan
#
# Output goes to standard output, as automake's tap-driver.sh expects.
# Everything here is POSIX sh (dash, busybox sh, bash --posix).

TAP_COUNT=0
TAP_FAILED=0
TAP_PLANNED=

tap_plan() {
    TAP_PLANNED=$1
    printf '1..%s\n' "$1"
}

# A test name must not contain '#' (it would start a TAP directive) or a
# newline (it would end the line).
tap_name_() {
    printf '%s' "$1" | tr '#\n' '_ '
}

tap_diag() {
    printf '%s\n' "$*" | sed 's/^/# /'
}

# Count one result and print its line; $1 is 0 for a pass.
tap_result_() {
    TAP_COUNT=$((TAP_COUNT + 1))
    if [ "$1" = 0 ]; then
        printf 'ok %d - %s\n' "$TAP_COUNT" "$(tap_name_ "$2")"
        return 0
    fi
    TAP_FAILED=$((TAP_FAILED + 1))
    printf 'not ok %d - %s\n' "$TAP_COUNT" "$(tap_name_ "$2")"
    return 1
}

tap_ok() {
    tap_result_ "$1" "$2" && return 0
    tap_diag "status was $1, not 0"
    return 1
}

tap_is() {
    if [ "$1" = "$2" ]; then
        tap_result_ 0 "$3"
        return 0
    fi
    tap_result_ 1 "$3"
    printf '%s\n' "$1" | sed 's/^/#      got: /'
    printf '%s\n' "$2" | sed 's/^/#     want: /'
    return 1
}

tap_skip() {
    TAP_COUNT=$((TAP_COUNT + 1))
    printf 'ok %d - %s # SKIP %s\n' "$TAP_COUNT" "$(tap_name_ "$1")" \
        "$(tap_name_ "$2")"
}

tap_done() {
    if [ -z "$TAP_PLANNED" ]; then
        printf '1..%d\n' "$TAP_COUNT"
    elif [ "$TAP_PLANNED" != "$TAP_COUNT" ]; then
        tap_diag "planned $TAP_PLANNED tests but ran $TAP_COUNT"
        exit 1
    fi
    if [ "$TAP_FAILED" -gt 0 ]; then
        tap_diag "$TAP_FAILED of $TAP_COUNT tests failed"
        exit 1
    fi
    exit 0
}

# tap_in_realm SCRIPT [ARGS...]: unless already inside a throwaway realm
# (tests/fixture/with-krb5 sets SPNEGO_TEST_HOST), run SCRIPT again inside
# one and exit with its status; without the Kerberos KDC tools (with-krb5
# exits 77) the whole script is one TAP skip.  Needs $top_srcdir.
tap_in_realm() {
    [ -n "${SPNEGO_TEST_HOST:-}" ] && return 0
    tap_rc_=0
    "$top_srcdir/tests/fixture/with-krb5" "${SHELL:-/bin/sh}" "$@" ||
        tap_rc_=$?
    if [ "$tap_rc_" = 77 ]; then
        echo "1..0 # SKIP the Kerberos KDC tools are not installed (krb5-kdc, krb5-admin-server, krb5-user)"
        exit 0
    fi
    exit "$tap_rc_"
}

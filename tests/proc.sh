# tests/proc.sh - process helpers for the test scripts (POSIX sh; safe
# under set -eu).  Source it.
#
#   alive PID   true while PID exists and is not a zombie (a stopped daemon
#               can linger as one for a moment; it counts as stopped)

alive() {
    p_pid=${1:-}
    [ -n "$p_pid" ] || return 1
    kill -0 "$p_pid" 2>/dev/null || return 1
    if [ -r "/proc/$p_pid/status" ]; then
        p_state=$(awk '$1 == "State:" { print $2; exit }' \
            "/proc/$p_pid/status" 2>/dev/null || true)
        [ "$p_state" != Z ] || return 1
    fi
    return 0
}

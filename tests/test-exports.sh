#!/bin/sh
# test-exports.sh - the plugin exports exactly sasl_client_plug_init and
# sasl_server_plug_init (everything else stays private).
set -u
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
# shellcheck source=/dev/null
. "$top_srcdir/tests/tap.sh"

so=$top_builddir/plugins/.libs/libgssspnego.so
tap_plan 2
if ! command -v nm >/dev/null 2>&1 || [ ! -f "$so" ]; then
    tap_skip "exported symbols" "nm or $so missing"
    tap_skip "entry points" "nm or $so missing"
    tap_done
fi
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
    sort | tr '\n' ' ')
tap_is "$exports" "sasl_client_plug_init sasl_server_plug_init " \
    "the only exported symbols are the two plug-in entry points"
tap_ok "$(nm -D --defined-only "$so" | grep -c ' T sasl_.*_plug_init$' |
    grep -qx 2; echo $?)" "both entry points are functions"
tap_done

#!/bin/sh
# test-exports.sh - the plugin exports exactly sasl_client_plug_init and
# sasl_server_plug_init (everything else stays private), and needs no
# symbol of libsasl2 itself: SSSD's sssd_be loads libsasl2 (through
# libldap) with RTLD_LOCAL, and a plugin that calls, say, sasl_errstring
# then fails to load there ("undefined symbol"); it must use only the
# sasl_utils_t it is given.
set -u
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
# shellcheck source=/dev/null
. "$top_srcdir/tests/tap.sh"

so=$top_builddir/plugins/.libs/libgssspnego.so
tap_plan 3
if ! command -v nm >/dev/null 2>&1 || [ ! -f "$so" ]; then
    tap_skip "exported symbols" "nm or $so missing"
    tap_skip "entry points" "nm or $so missing"
    tap_skip "no libsasl2 symbol needed" "nm or $so missing"
    tap_done
fi
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
    sort | tr '\n' ' ')
tap_is "$exports" "sasl_client_plug_init sasl_server_plug_init " \
    "the only exported symbols are the two plug-in entry points"
tap_ok "$(nm -D --defined-only "$so" | grep -c ' T sasl_.*_plug_init$' |
    grep -qx 2; echo $?)" "both entry points are functions"
needed=$(nm -D --undefined-only "$so" | awk '{ print $NF }' |
    grep -E '^_?sasl_' | tr '\n' ' ')
tap_is "$needed" "" \
    "no undefined libsasl2 symbol (the plugin loads where libsasl2 is RTLD_LOCAL)"
tap_done

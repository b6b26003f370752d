#!/bin/sh
# test-replay-layer.sh - replay the security-layer fuzz target's seeds and
# findings (make check).  TAP on stdout.
#
# The seeds are made here, every run, inside a throwaway realm
# (tests/fixture/with-krb5): fuzz/gen-layer-seeds exports a live Kerberos
# and a live NTLM context pair and encodes the seed packets with them;
# fuzz/replay-layer then imports those contexts for every input.  Nothing
# of it is committed, because an exported Kerberos context carries its
# ticket's end time.  Each seed's name says what the replay must see
# (delivers-N, waits, fails; see fuzz/gen-layer-seeds.c), so contexts that
# do not fit the packets fail the test.  fuzz/findings/layer/ holds inputs
# that once found a problem; they fail before any key is used, whatever
# the pair.
#
#   top_srcdir=SRC top_builddir=BUILD sh fuzz/test-replay-layer.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

# shellcheck source=tests/tap.sh
. "$top_srcdir/tests/tap.sh"
tap_in_realm "$0" "$@"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/replay-layer.XXXXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/ctx" "$tmp/corpus" || exit 99
if ! "$top_builddir/fuzz/gen-layer-seeds" "$tmp/ctx" "$tmp/corpus" \
    >"$tmp/gen.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - fuzz/gen-layer-seeds failed"
    sed 's/^/# /' "$tmp/gen.log"
    exit 1
fi
FUZZ_LAYER_CTX=$tmp/ctx "$top_builddir/fuzz/replay-layer" "$tmp/corpus" \
    "$top_srcdir/fuzz/findings/layer"

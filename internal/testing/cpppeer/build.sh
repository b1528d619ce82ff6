#!/bin/sh
# Builds the C++ interop peer into OUT (default: $TMPDIR/bitcoin-ipc-cpppeer), the same
# way internal/testing/cpppeer does for the tests and benchmarks (this is for
# running the peer by hand): needs capnp, g++ and libcapnp-dev
# (Cap'n Proto >= 0.9). Usage: build.sh [OUT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-${TMPDIR:-/tmp}/bitcoin-ipc-cpppeer}
gostd=$(cd "$root" && go list -m -f '{{.Dir}}' capnproto.org/go/capnp/v3)/std
mkdir -p "$out/gen"
capnp compile -I"$gostd" -I"$root/schemas/mp/master" -oc++:"$out/gen" \
	--src-prefix="$root/internal/testing/rttest" "$root/internal/testing/rttest/rttest.capnp"
capnp compile -I"$gostd" -oc++:"$out/gen" \
	--src-prefix="$root/schemas/mp/master" "$root/schemas/mp/master/mp/proxy.capnp"
capnp compile -oc++:"$out/gen" --src-prefix="$gostd" "$gostd/go.capnp"
# shellcheck disable=SC2046
g++ -O2 -std=c++17 -pthread -I"$out/gen" -o "$out/peer" \
	"$here/peer.c++" "$out/gen/rttest.capnp.c++" "$out/gen/mp/proxy.capnp.c++" \
	$(pkg-config --cflags --libs capnp-rpc)
echo "$out/peer"

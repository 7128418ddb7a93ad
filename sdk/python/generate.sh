#!/bin/sh
# Generates the sandbox.v1 messages and stubs from proto/ into sandbox_sdk/_gen (not committed), with Debian's
# python3-grpc-tools. That protoc predates proto3 `optional`, so the proto is fed to it with each `optional` field
# written as what it stands for on the wire: a one-field oneof named _<field> (same encoding, HasField works).
# Run before using the package from a checkout: sdk/python/generate.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/sandbox_sdk/_gen"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/sandbox/v1"
sed -E 's/^( *)optional ([a-z0-9_.]+) ([a-z0-9_]+) = ([0-9]+);(.*)$/\1oneof _\3 { \2 \3 = \4; }\5/' \
  "$root/proto/sandbox/v1/sandbox.proto" > "$work/sandbox/v1/sandbox.proto"
/usr/bin/python3 -m grpc_tools.protoc -I "$work" --python_out="$out" --grpc_python_out="$out" "$work/sandbox/v1/sandbox.proto"

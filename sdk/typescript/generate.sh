#!/bin/sh
# Copies proto/sandbox/v1/sandbox.proto into the package (proto/, loaded at run time by @grpc/proto-loader) and
# generates its TypeScript message and service types into src/gen with proto-loader-gen-types. Neither is committed;
# `npm run build` runs this first. Run `npm ci` once before.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rm -rf "$here/proto" "$here/src/gen"
mkdir -p "$here/proto/sandbox/v1"
cp "$root/proto/sandbox/v1/sandbox.proto" "$here/proto/sandbox/v1/sandbox.proto"
# The options must match the loader's in src/connection.ts (numbers for int64, enum names, defaults, oneof names).
"$here/node_modules/.bin/proto-loader-gen-types" --longs=Number --enums=String --defaults --oneofs --includeComments \
  --grpcLib=@grpc/grpc-js -I "$here/proto" -O "$here/src/gen" sandbox/v1/sandbox.proto >/dev/null

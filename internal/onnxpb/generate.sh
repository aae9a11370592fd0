#!/bin/sh
# Regenerates onnx.pb.go from the onnx.proto shipped by Debian's python3-onnx
# (ONNX 1.12, IR version 8). The proto package is renamed to advmatrix.onnxpb so
# that the generated descriptors never clash in the global protobuf registry
# with another ONNX package linked into the same binary (onnx-go, gonnx, ...);
# the wire format does not depend on package names.
#
# Needs: protobuf-compiler (Debian) and
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
set -eu
cd "$(dirname "$0")"
src=${ONNX_PROTO:-/usr/lib/python3/dist-packages/onnx/onnx.proto}
sed -e 's/^package onnx;/package advmatrix.onnxpb;/' \
    -e 's/^option optimize_for = LITE_RUNTIME;/option go_package = "github.com\/advmatrix\/advmatrix\/internal\/onnxpb";/' \
    "$src" > onnx.proto
PATH="$(go env GOPATH)/bin:$PATH" protoc --go_out=. --go_opt=paths=source_relative onnx.proto

#!/usr/bin/env bash
# Runs the other-language client checks by hand against any server binaries
# (the cargo test tests/tests/other_clients.rs runs them against every
# natsd binary). Needs python3 with nats-py and go with Debian's nats.go
# sources in /usr/share/gocode: `bash .ci/setup` installs both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 SERVER_BINARY..." >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/go" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" GOCACHE="$tmp/gocache" go build -o "$tmp/client" .)
for bin in "$@"; do
	python3 "$here/python_client.py" "$bin"
	timeout 120 "$tmp/client" "$bin"
done

#!/usr/bin/env bash
# Runs the other-language client checks (nats-py and nats.go) against each
# server binary given. Needs python3 with nats-py, and go with Debian's
# nats.go sources in /usr/share/gocode (.ci/setup installs both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 SERVER_BINARY..." >&2; exit 2; }
gobin=$(mktemp -d)/natsd-go-client
(cd "$here/go" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" go build -o "$gobin" .)
for bin in "$@"; do
	python3 "$here/python_client.py" "$bin"
	timeout 90 "$gobin" "$bin"
done

#!/usr/bin/env bash
# README's Quick start, run as a new user would: `make run` in a fresh
# directory (on spare loopback ports) creates ./data and serves; /readyz
# answers and grpcurl lists authd's services by reflection. Bounded: gives
# up after 120 s.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf data
export AUTHD_ADDR=127.0.0.1:50091 AUTHD_HTTP_ADDR=127.0.0.1:50092
make run > /tmp/authd-quickstart.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; pkill -f "bin/authd serve --addr $AUTHD_ADDR" 2>/dev/null || true' EXIT
for _ in $(seq 240); do
  if curl -fsS "http://$AUTHD_HTTP_ADDR/readyz" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 $pid 2>/dev/null; then
    cat /tmp/authd-quickstart.log
    echo "quick start: make run exited" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fsS "http://$AUTHD_HTTP_ADDR/readyz"
services=$(go tool -modfile=tools/go.mod grpcurl -plaintext "$AUTHD_ADDR" list)
echo "$services"
grep -q '^auth.v1.AuthService$' <<<"$services"
grep -q '^auth.v1.AdminService$' <<<"$services"
test -f data/authd.db && test -d data/keys
echo "quick start: ok"

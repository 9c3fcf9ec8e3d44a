#!/usr/bin/env bash
# Memory floor of holding idle MQTT connections in Go without a goroutine per
# connection (scripts/connfloor: one epoll loop, no broker logic), measured as
# the load test's memory phase measures the gateway: VmRSS with the idle fleet
# connected, minus the empty process, per modem. For BENCHMARKS.md; loopback
# only, bounded (fleets stop after 300 s, all is killed at the end).
#
#   scripts/connfloor.sh                 # 5000, 10000 and 19000 modems
#   CONNFLOOR_STEPS="2000" scripts/connfloor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
STEPS=${CONNFLOOR_STEPS:-"5000 10000 19000"}
PORT=${CONNFLOOR_PORT:-18900}
TMP=$(mktemp -d /tmp/vendgate-connfloor.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
go build -o bin/ ./cmd/vendemu ./scripts/connfloor
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
ulimit -n "$(ulimit -Hn)"
bin/connfloor -port "$PORT" 2>"$TMP/holder.err" & HOLDER=$!; PIDS+=("$HOLDER")
sleep 1
base=$(rss "$HOLDER"); echo "connfloor: empty RSS $base KB"
prev=0; i=0; last=0
for s in $STEPS; do
  i=$((i + 1))
  GOMAXPROCS=1 bin/vendemu fleet --client raw --broker "tcp://127.0.0.1:$PORT" -n $((s - prev)) --offset "$prev" --secret x \
    --ramp 2000/s --duration 300s --hb 3600s --keepalive 120s >"$TMP/f$i.out" 2>"$TMP/f$i.err" & PIDS+=("$!")
  c=0
  for _ in $(seq 600); do
    c=0; for j in $(seq "$i"); do n=$(tail -n 1 "$TMP/f$j.err" 2>/dev/null | sed -n 's/.* connected=\([0-9]*\).*/\1/p'); c=$((c + ${n:-0})); done
    [ "$c" -ge "$s" ] && break; sleep 0.2
  done
  sleep 5
  r=$(rss "$HOLDER"); echo "connfloor: $c idle modems RSS $r KB -> $(( (r - base) * 1000 / s )) B/modem"
  prev=$s; last=$s
done
kill -USR1 "$HOLDER"; sleep 1
echo "connfloor: after a forced collection and FreeOSMemory: $(tail -n 1 "$TMP/holder.err"), RSS $(rss "$HOLDER") KB -> $(( ($(rss "$HOLDER") - base) * 1000 / last )) B/modem"

#!/usr/bin/env bash
# Fleet load test: the vendgate gateway side by side with a bare Mosquitto broker
# (the baseline), same fleet tool, same phases, same run. See BENCHMARKS.md.
#
#   make loadtest                  # full run (~8-11 minutes on 2 cores)
#   LOADTEST_N=2000 make loadtest  # quick run
#
# Knobs (environment):
#   LOADTEST_N            largest fleet (default 19000; open-file limit ~20000 per process)
#   LOADTEST_STEPS        idle-memory fleet sizes (default "5000 10000 19000", capped at N)
#   LOADTEST_PHASES       any of: memory throughput cpu commands storm (default all)
#   LOADTEST_FLOOD_CONNS  throughput: publishing modems (200), LOADTEST_FLOOD_WINDOW QoS 1 in flight each (8),
#   LOADTEST_FLOOD_SECS   throughput duration (15), LOADTEST_FLOOD_RUNS runs per target, alternating (3): the
#                         ratio is the medians' (Mosquitto's rate on this VM moved between 46k and 81k/s from run to run);
#                         Mosquitto runs twice per round: acknowledging only (nobody subscribed) and forwarding
#                         to one QoS 1 subscriber (vendemu fleet --sink), the rate that subscriber receives
#   LOADTEST_HB_MODEMS    CPU phase fleet at a 30 s heartbeat (10000, capped at N), LOADTEST_HB_SECS sample (30)
#   LOADTEST_CMD_MODEMS   command phase fleet (10000), LOADTEST_CMD_RATE commands/s (1000), LOADTEST_CMD_SECS (20)
#   LOADTEST_STORM_CMDS   commands queued for offline modems during the restart (1000)
#   LOADTEST_OUT          results file (bin/loadtest-results.txt); LOADTEST_NOBUILD=1 reuses bin/ binaries
#   LOADTEST_KEEP=1       keep the scratch directory (logs, fleet and rest-load output) and print its path
#   LOADTEST_BIN          directory of the vendgate/vendemu binaries (bin; e.g. a saved "before" build with NOBUILD=1)
#   LOADTEST_TOOL_PROCS   GOMAXPROCS of the load tools (fleet, rest-load; default 1): they share the 2 cores with
#                         the broker under test, and one P keeps their scheduling overhead off the other core
#   LOADTEST_STORM_PROCS  GOMAXPROCS of the storm phase's fleet (default: all cores): on one P the fleet itself
#                         bounds how fast 19,000 modems can reconnect (gateway 12.1-12.8 s back on 1 P, 8.4 s on 2)
#   LOADTEST_PROFILE=1    gateway with --pprof-listen; 10 s CPU profiles of the throughput, commands and storm
#                         phases saved as bin/loadtest-<phase>.pprof (go tool pprof -top bin/vendgate bin/loadtest-commands.pprof);
#                         the storm's fleets' own profiles as bin/loadtest-storm-fleet-<target>.pprof
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

N=${LOADTEST_N:-19000}
STEPS=${LOADTEST_STEPS:-"5000 10000 19000"}
PHASES=${LOADTEST_PHASES:-"memory throughput cpu commands storm"}
FLOOD_CONNS=${LOADTEST_FLOOD_CONNS:-200}
FLOOD_WINDOW=${LOADTEST_FLOOD_WINDOW:-8}
FLOOD_RUNS=${LOADTEST_FLOOD_RUNS:-3}
FLOOD_SECS=${LOADTEST_FLOOD_SECS:-15}
HB_MODEMS=${LOADTEST_HB_MODEMS:-10000}
HB_SECS=${LOADTEST_HB_SECS:-30}
CMD_MODEMS=${LOADTEST_CMD_MODEMS:-10000}
CMD_RATE=${LOADTEST_CMD_RATE:-1000}
CMD_SECS=${LOADTEST_CMD_SECS:-20}
STORM_CMDS=${LOADTEST_STORM_CMDS:-1000}
OUT=${LOADTEST_OUT:-bin/loadtest-results.txt}
SECRET=loadtest-secret
ADMIN_PW=loadtest-admin-pw
MQTT_GW=127.0.0.1:18831
HTTP_GW=127.0.0.1:18081
MQTT_MOSQ=127.0.0.1:1884
PPROF_GW=127.0.0.1:16060
RAMP=${LOADTEST_RAMP:-2000/s}
HZ=$(getconf CLK_TCK)

HB_MODEMS=$(( HB_MODEMS < N ? HB_MODEMS : N ))
CMD_MODEMS=$(( CMD_MODEMS < N ? CMD_MODEMS : N ))
FLOOD_CONNS=$(( FLOOD_CONNS < N ? FLOOD_CONNS : N ))
STORM_CMDS=$(( STORM_CMDS < N ? STORM_CMDS : N ))
steps=""
for s in $STEPS; do [ "$s" -le "$N" ] && steps="$steps $s"; done
[ -n "$steps" ] || steps=" $N"
last=0; for s in $steps; do [ "$s" -gt "$last" ] || { echo "LOADTEST_STEPS must increase" >&2; exit 2; }; last=$s; done

TMP=$(mktemp -d /tmp/vendgate-loadtest.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  # Also whatever still runs on this scratch directory (the gateway and Mosquitto
  # restarted by the storm phase were seen to outlive the run).
  pkill -TERM -f -- "$TMP/" 2>/dev/null || true
  for _ in $(seq 150); do pgrep -f -- "$TMP/" >/dev/null || break; sleep 0.1; done
  pkill -KILL -f -- "$TMP/" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${LOADTEST_KEEP:-}" ]; then echo "scratch kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
mkdir -p bin "$(dirname "$OUT")"
: > "$OUT"
result() { echo "$*" | tee -a "$OUT"; }
# put KEY VALUE / get KEY: figures for the summary at the end (files, so phases run in subshells can set them).
mkdir -p "$TMP/fig"
put() { echo "$2" > "$TMP/fig/$1"; }
get() { cat "$TMP/fig/$1" 2>/dev/null || true; }

# --- prerequisites -----------------------------------------------------------------
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  log "installing mosquitto (apt-get)"
  (apt-get install -y mosquitto >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y mosquitto >/dev/null; })
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
if [ -z "${LOADTEST_NOBUILD:-}" ]; then   # LOADTEST_NOBUILD=1: use the binaries already in bin/
  log "building"
  go build -o "${LOADTEST_BIN:-bin}/" ./cmd/vendgate ./cmd/vendemu
fi
VG=${LOADTEST_BIN:-bin}/vendgate
VE="env GOMAXPROCS=${LOADTEST_TOOL_PROCS:-1} ${LOADTEST_BIN:-bin}/vendemu"

rss_kb()   { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# --- targets ---------------------------------------------------------------------------
GW_PID=""
start_gateway() {   # keeps the data dir (and its queued commands) across restarts
  local prof=()
  [ -n "${LOADTEST_PROFILE:-}" ] && prof=(--pprof-listen "$PPROF_GW")
  VENDGATE_ADMIN_PASSWORD=$ADMIN_PW VENDGATE_MAX_CLIENTS=$((N + 50)) VENDGATE_LOG_LEVEL=warn \
    $VG serve --data-dir "$TMP/gw" --mqtt-listen $MQTT_GW --http-listen $HTTP_GW "${prof[@]}" >>"$TMP/gw.log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  for _ in $(seq 200); do curl -sf "http://$HTTP_GW/metrics" >/dev/null 2>&1 && return 0; sleep 0.05; done
  log "gateway did not start"; tail "$TMP/gw.log" >&2; exit 1
}
# profile NAME: with LOADTEST_PROFILE, a 10 s CPU profile of the gateway in the background.
profile() {
  [ -n "${LOADTEST_PROFILE:-}" ] || return 0
  curl -sf -o "bin/loadtest-$1.pprof" "http://$PPROF_GW/debug/pprof/profile?seconds=10" >/dev/null 2>&1 &
}
stop_gateway() { kill -TERM "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }
MQ_PID=""
start_mosquitto() {
  # The queue and in-flight limits matter to the forwarding run's subscriber only, and are set in Mosquitto's
  # favour: with its defaults (20 in flight, 1,000 queued) it forwarded ~4,800/s and dropped the rest; with
  # no in-flight limit it forwards every uplink (the fleet's summary: forwarded = acked).
  printf 'listener 1884 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nlog_type error\nmax_queued_messages 100000\nmax_inflight_messages 0\n' > "$TMP/mosquitto.conf"
  $MOSQUITTO -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
  MQ_PID=$!; PIDS+=("$MQ_PID")
  for _ in $(seq 100); do ss -Htln 'sport = :1884' | grep -q . && return 0; sleep 0.05; done
  log "mosquitto did not start"; exit 1
}
stop_mosquitto() { kill -TERM "$MQ_PID" 2>/dev/null || true; wait "$MQ_PID" 2>/dev/null || true; MQ_PID=""; }

# fleet NAME BROKER N OFFSET DURATION_S [more vendemu flags]: starts a fleet in the background.
declare -A FLEET_PID
fleet() {
  local name=$1 broker=$2 n=$3 off=$4 dur=$5; shift 5
  $VE fleet --client raw --broker "tcp://$broker" -n "$n" --offset "$off" --secret $SECRET --ramp "$RAMP" \
    --duration "${dur}s" --reconnect-min 500ms --reconnect-max 5s "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  FLEET_PID[$name]=$!; PIDS+=("$!")
}
connected() { local c=0 n; for name in "$@"; do n=$(tail -n 1 "$TMP/$name.err" 2>/dev/null | sed -n 's/.* connected=\([0-9]*\).*/\1/p'); c=$((c + ${n:-0})); done; echo $c; }
wait_connected() {  # wait_connected WANT TIMEOUT_S fleet...
  local want=$1 t=$2; shift 2
  for _ in $(seq $((t * 10))); do [ "$(connected "$@")" -ge "$want" ] && return 0; sleep 0.1; done
  log "only $(connected "$@") of $want connected"; return 1
}
stop_fleet() { local p=${FLEET_PID[$1]}; kill -INT "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; }

# --- provisioning ------------------------------------------------------------------------
$VE fleet -n "$N" --secret $SECRET --provision-file "$TMP/creds.txt" >/dev/null
result "# vendgate load test $(date -u +%Y-%m-%dT%H:%MZ) N=$N steps=$steps cores=$(nproc) mosquitto=$($MOSQUITTO -h 2>/dev/null | head -1 | awk '{print $3}')"
result "import: $($VG modems import --data-dir "$TMP/gw" --file "$TMP/creds.txt")"

# --- phases --------------------------------------------------------------------------------
phase_memory() {  # phase_memory TARGET PID BROKER
  local target=$1 pid=$2 broker=$3 base prev=0 i=0 names=()
  sleep 2; base=$(rss_kb "$pid")
  result "memory $target: empty RSS ${base} KB"
  for s in $steps; do
    i=$((i + 1)); fleet "mem$i" "$broker" $((s - prev)) "$prev" 600 --hb 3600s --keepalive 120s; names+=("mem$i")
    wait_connected "$s" 120 "${names[@]}" || true
    sleep 5
    local rss; rss=$(rss_kb "$pid")
    result "memory $target: $(connected "${names[@]}") idle modems RSS ${rss} KB -> $(( (rss - base) * 1000 / s )) B/modem"
    put "mem-$target-$s" "$(( (rss - base) * 1000 / s ))"
    prev=$s
  done
  for n in "${names[@]}"; do stop_fleet "$n"; done
}
# phase_throughput TARGET BROKER: TARGET gateway (acknowledged after commit), mosquitto (acknowledged on
# receipt, nobody subscribed) or mosquitto-fwd (the same, and forwarded at QoS 1 to one subscriber, the fleet's
# --sink: the rate is what that subscriber receives).
phase_throughput() {
  local target=$1 broker=$2 sink=() what="QoS1 uplinks/s acknowledged" key="ack"
  [ "$target" = mosquitto-fwd ] && { sink=(--sink 1); what="QoS1 uplinks/s forwarded to 1 subscriber"; key="forward"; }
  fleet flood "$broker" "$FLOOD_CONNS" 0 "$FLOOD_SECS" --flood "$FLOOD_WINDOW" --hb 3600s "${sink[@]}"
  [ "$target" = gateway ] && { sleep 3; profile throughput; }
  wait "${FLEET_PID[flood]}" 2>/dev/null || true
  local rate; rate=$(sed -n "s/.*steady $key rate=\([0-9]*\)\/s.*/\1/p" "$TMP/flood.out")
  result "throughput $target: ${rate:-0} $what ($FLOOD_CONNS modems x $FLOOD_WINDOW in flight, ${FLOOD_SECS}s); $(grep '^uplinks' "$TMP/flood.out")$(grep '^sink' "$TMP/flood.out" | sed 's/^/; /')"
  echo "${rate:-0}"
}
phase_cpu() {  # phase_cpu TARGET PID BROKER -> sample CPU at a 30 s heartbeat
  local target=$1 pid=$2 broker=$3
  fleet hb "$broker" "$HB_MODEMS" 0 $((HB_SECS + CMD_SECS + 120)) --hb 30s
  wait_connected "$HB_MODEMS" 120 hb || true
  sleep 5
  local c0 c1 t0 t1; c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  sleep "$HB_SECS"
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  local cores; cores=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", c/hz/(b-a)}')
  result "cpu $target: $HB_MODEMS modems at a 30s heartbeat: $cores cores -> $(awk -v x="$cores" -v n="$HB_MODEMS" 'BEGIN{printf "%.4f", x*1000/n}') cores per 1000 modems (RSS $(rss_kb "$pid") KB)"
  put "cpu-$target" "$(awk -v x="$cores" -v n="$HB_MODEMS" 'BEGIN{printf "%.4f", x*1000/n}')"
  if [ "$target" = gateway ] && [[ " $PHASES " == *" commands "* ]] && [ "$CMD_MODEMS" -le "$HB_MODEMS" ]; then
    phase_commands
  fi
  stop_fleet hb
}
phase_commands() {  # on the running hb fleet (CMD_MODEMS <= HB_MODEMS)
  log "commands: $CMD_RATE/s for ${CMD_SECS}s over $CMD_MODEMS modems"
  ( sleep 3; profile commands ) &
  local fpid=${FLEET_PID[hb]:-} c0 c1 f0=0 f1=0 t0 t1
  c0=$(cpu_ticks "$GW_PID"); [ -n "$fpid" ] && f0=$(cpu_ticks "$fpid"); t0=$(date +%s.%N)
  { TIMEFORMAT='%U %S'; time $VE rest-load --api "http://$HTTP_GW" --password $ADMIN_PW --rate "$CMD_RATE" \
    --duration "${CMD_SECS}s" --modems "$CMD_MODEMS" --timeout 20s >"$TMP/rest.out" 2>"$TMP/rest.err" || true; } 2>"$TMP/rest.time"
  c1=$(cpu_ticks "$GW_PID"); [ -n "$fpid" ] && f1=$(cpu_ticks "$fpid"); t1=$(date +%s.%N)
  result "commands gateway: $CMD_RATE/s x ${CMD_SECS}s over $CMD_MODEMS modems (REST POST -> modem ack -> succeeded visible over REST):"
  sed 's/^/    /' "$TMP/rest.out" | tee -a "$OUT"
  put cmd-p50 "$(sed -n 's/^succeeded round trip.* p50=\([^ ]*\).*/\1/p' "$TMP/rest.out")"
  put cmd-p99 "$(sed -n 's/^succeeded round trip.* p99=\([^ ]*\).*/\1/p' "$TMP/rest.out")"
  put cmd-n "$(sed -n 's/^succeeded round trip.* n=\([0-9]*\).*/\1/p' "$TMP/rest.out")"
  put cmd-submitted "$(sed -n 's/.*submitted=\([0-9]*\).*/\1/p' "$TMP/rest.out")"
  # Who used the 2 cores while rest-load ran: the gateway and the fleet (their heartbeats included, see the
  # cpu phase), and rest-load itself.
  local n; n=$(sed -n 's/.*submitted=\([0-9]*\).*/\1/p' "$TMP/rest.out")
  cores() { awk -v s="$1" -v a="$t0" -v b="$t1" -v n="${n:-0}" \
    'BEGIN{ printf "%.2f core, %.0f us per command", s / (b - a), (n > 0 ? s / n * 1e6 : 0) }'; }
  result "    CPU over $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s: gateway $(cores "$(awk -v c=$((c1 - c0)) -v hz="$HZ" 'BEGIN{print c / hz}')") (heartbeats included);" \
    "rest-load $(cores "$(awk '{print $1 + $2}' "$TMP/rest.time")"); fleet $(cores "$(awk -v c=$((f1 - f0)) -v hz="$HZ" 'BEGIN{print c / hz}')") (heartbeats included)"
}
phase_storm() {  # restart the target with N modems connected
  local target=$1 broker=$2
  local fprof=()
  [ -n "${LOADTEST_PROFILE:-}" ] && fprof=(--cpuprofile "bin/loadtest-storm-fleet-$target.pprof")
  VE="env GOMAXPROCS=${LOADTEST_STORM_PROCS:-$(nproc)} ${LOADTEST_BIN:-bin}/vendemu" fleet storm "$broker" "$N" 0 600 --hb 30s "${fprof[@]}"
  wait_connected "$N" 180 storm || { result "storm $target: not all connected before the restart"; stop_fleet storm; return; }
  sleep 3
  local t0 t1
  if [ "$target" = gateway ]; then
    stop_gateway; log "gateway stopped; restarting"
    t0=$(date +%s.%N); start_gateway; profile storm
    # Commands for modems that are offline right now: queued, delivered on return.
    # All of them submitted at once (--concurrency; rest-load polls none of them
    # before every POST is answered, i.e. all are stored); each then waits in a long poll
    # (GET /v2/commands/{id}?wait=2), answered when its command ends, so thousands
    # outstanding cost no polling load. They share --max-conns 256 HTTP connections:
    # every connection is a file descriptor of the gateway, which holds N modems
    # under the ~20,000 open-file limit. The fleet-side time below is the figure.
    $VE rest-load --api "http://$HTTP_GW" --password $ADMIN_PW --once --modems "$STORM_CMDS" --timeout 90s \
      --concurrency "$STORM_CMDS" >"$TMP/storm-rest.out" 2>"$TMP/storm-rest.err" &
    local rl=$!
  else
    stop_mosquitto; t0=$(date +%s.%N); start_mosquitto
  fi
  # connected= drops when the fleet sees the disconnects; wait for the dip to show, then the return.
  sleep 1.5
  wait_connected "$N" 120 storm || true
  t1=$(date +%s.%N)
  result "storm $target: $(connected storm)/$N modems back $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s after the restart began (progress sampled every 1s)"
  put "storm-back-$target" "$(connected storm)/$N in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
  if [ "$target" = gateway ]; then
    # The fleet's done= counts "succeeded" results the gateway acknowledged (= stored).
    local td=""
    for _ in $(seq 1200); do
      [ "$(tail -n 1 "$TMP/storm.err" | sed -n 's/.* done=\([0-9]*\).*/\1/p')" -ge "$STORM_CMDS" ] 2>/dev/null && { td=$(date +%s.%N); break; }
      sleep 0.1
    done
    if [ -n "$td" ]; then
      result "storm gateway: all $STORM_CMDS queued commands executed and their results stored $(awk -v a="$t0" -v b="$td" 'BEGIN{printf "%.1f", b-a}')s after the restart began (fleet side, sampled every 1s)"
      put storm-done "$(awk -v a="$t0" -v b="$td" 'BEGIN{printf "%.1f", b-a}')"
    else
      result "storm gateway: only $(tail -n 1 "$TMP/storm.err" | sed -n 's/.* done=\([0-9]*\).*/\1/p') of $STORM_CMDS queued commands done after 120s"
    fi
    wait "$rl" || true
    result "storm gateway: $STORM_CMDS commands submitted right after the restart (modems offline, queued):"
    sed 's/^/    /' "$TMP/storm-rest.out" | tee -a "$OUT"
    put storm-succeeded "$(sed -n 's/.*final states.*succeeded=\([0-9]*\).*/\1/p' "$TMP/storm-rest.out")"
  fi
  stop_fleet storm
  result "storm $target fleet: $(grep -E '^(uplinks|errors)' "$TMP/storm.out" | tr '\n' ' ')"
}

# --- run ------------------------------------------------------------------------------------
want() { [[ " $PHASES " == *" $1 "* ]]; }
start_mosquitto; start_gateway
log "gateway pid $GW_PID, mosquitto pid $MQ_PID"
if want memory; then
  log "memory phase (mosquitto)"; phase_memory mosquitto "$MQ_PID" $MQTT_MOSQ
  log "memory phase (gateway)";   phase_memory gateway "$GW_PID" $MQTT_GW
fi
if want throughput; then
  log "throughput phase"
  ms=(); fs=(); gs=()
  for _ in $(seq "$FLOOD_RUNS"); do
    ms+=("$(phase_throughput mosquitto $MQTT_MOSQ | tail -1)"); gs+=("$(phase_throughput gateway $MQTT_GW | tail -1)")
    fs+=("$(phase_throughput mosquitto-fwd $MQTT_MOSQ | tail -1)")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{ print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) }'; }
  ratio() { awk -v g="$1" -v m="$2" 'BEGIN{ if (m>0) printf "%.2f", g/m; else print "n/a"}'; }
  m=$(median "${ms[@]}"); f=$(median "${fs[@]}"); g=$(median "${gs[@]}")
  result "throughput medians of $FLOOD_RUNS runs: gateway $g/s (${gs[*]}), mosquitto acknowledging $m/s (${ms[*]}), mosquitto forwarding $f/s (${fs[*]})"
  result "throughput ratio gateway/mosquitto: $(ratio "$g" "$f") against forwarding to a subscriber, $(ratio "$g" "$m") against acknowledging only"
  put tp "$g $f $m $(ratio "$g" "$f") $(ratio "$g" "$m")"
fi
if want cpu; then
  log "cpu phase"; phase_cpu mosquitto "$MQ_PID" $MQTT_MOSQ; phase_cpu gateway "$GW_PID" $MQTT_GW
elif want commands; then
  fleet hb $MQTT_GW "$CMD_MODEMS" 0 $((CMD_SECS + 120)) --hb 30s; wait_connected "$CMD_MODEMS" 120 hb || true
  phase_commands; stop_fleet hb
fi
if want storm; then
  log "storm phase"; phase_storm mosquitto $MQTT_MOSQ; phase_storm gateway $MQTT_GW
fi
summary() {  # the issue's figures and targets, from the phases that ran
  local v
  # scale HAVE WANT TEXT: a note when this run is smaller than the one the target is set for.
  scale() { [ "$1" = "$2" ] || printf ' (set for a run %s; this one is smaller)' "$3"; }
  result "summary (targets from the load-test issue; BENCHMARKS.md explains each):"
  for s in $steps; do
    v=$(get "mem-gateway-$s"); [ -n "$v" ] || continue
    # The phase's "B/modem" is KB (KiB of VmRSS) x 1000 / modems.
    result "  memory per idle modem, $s modems: gateway $(awk -v b="$v" 'BEGIN{printf "%.1f", b / 1000}') KB, mosquitto $(awk -v b="$(get "mem-mosquitto-$s")" 'BEGIN{printf "%.1f", b / 1000}') KB; target <= 12 KB: $([ "$v" -le 12000 ] && echo met || echo 'not met')"
  done
  v=$(get tp)
  if [ -n "$v" ]; then
    read -r g f m rf rm <<<"$v"
    result "  durable uplinks/s: gateway $g, mosquitto forwarding $f (ratio $rf), acknowledging only $m (ratio $rm); target >= 0.7 of forwarding: $(awk -v r="$rf" 'BEGIN{print (r+0 >= 0.7 ? "met" : "not met")}')"
  fi
  v=$(get cmd-p99)
  if [ -n "$v" ]; then
    result "  command round trip at $CMD_RATE/s over $CMD_MODEMS modems: p50 $(get cmd-p50), p99 $v ($(get cmd-n) of $(get cmd-submitted) succeeded); target p99 <= 20 ms$(scale "$CMD_RATE/$CMD_MODEMS" 1000/10000 "at 1,000/s over 10,000 modems"): $(awk -v p="$v" 'BEGIN{ms = p + 0; if (p ~ /µs$|us$/) ms /= 1000; else if (p !~ /ms$/ && p ~ /s$/) ms *= 1000; print (ms <= 20 ? "met" : "not met")}')"
  fi
  v=$(get storm-back-gateway)
  if [ -n "$v" ]; then
    local done_s succ; done_s=$(get storm-done); succ=$(get storm-succeeded)
    result "  reconnect storm: gateway back $v (mosquitto $(get storm-back-mosquitto)); $STORM_CMDS queued commands done after ${done_s:-never} s, ${succ:-0} succeeded; target all back and delivered <= 10 s, none lost$(scale "$N" 19000 "with 19,000 modems"): $(awk -v d="${done_s:-999}" -v s="${succ:-0}" -v n="$STORM_CMDS" 'BEGIN{print (d + 0 <= 10 && s == n ? "met" : "not met")}')"
  fi
  v=$(get cpu-gateway)
  [ -n "$v" ] && result "  CPU per 1,000 modems at a 30 s heartbeat: gateway $v core, mosquitto $(get cpu-mosquitto) core"
  return 0
}
summary
result "gateway metrics: $(curl -s "http://$HTTP_GW/metrics" | grep -E "^vendgate_(messages_rejected_total|commands_total|store_checkpoints_total|store_writer_held)" | tr '\n' ' ')"
stop_gateway; stop_mosquitto
log "results in $OUT"

#!/usr/bin/env bash
# Load test on loopback: btcd, aditd (optionally with the share log and
# Postgres) and an adit-miner fleet of real hashing clients at the pool's
# fixed minimum difficulty. Prints the fleet's summary (accepted shares/s,
# submit→reply p50/p99) and the daemon's figures (connections held, memory
# per connection, job broadcast time for new blocks mined during the run).
# Stops by itself after DURATION.
#   MINERS=500 RATE=2 DURATION=30s DB=0 PROTOCOL=v1 deploy/regtest/loadtest.sh
# PROTOCOL=v2 makes every miner speak Stratum V2 (Noise, authority key from
# aditctl sv2-keygen, CHANNEL=extended or standard); PROTOCOL=mixed (or
# V2=N) makes half (N) of them SV2 beside the V1 ones, on the same daemon,
# and the summary's by_protocol splits the figures.
# JD=N adds N Job Declaration miners (one `adit-miner -jd` process each, at
# the same RATE and difficulty, with the stack's btcd as their own node) on
# custom jobs beside the fleet's template jobs: aditd opens [jd] (and [sv2]),
# and each JD miner's summary is printed after the fleet's.
set -euo pipefail
cd "$(dirname "$0")/../.."
MINERS=${MINERS:-500}
RATE=${RATE:-2}
DURATION=${DURATION:-30s}
DB=${DB:-0}
DIFFICULTY=${DIFFICULTY:-0.00001}
PROTOCOL=${PROTOCOL:-v1}
CHANNEL=${CHANNEL:-extended}
case "$PROTOCOL" in
v1) V2=${V2:-0} ;;
v2) V2=$MINERS ;;
mixed) V2=${V2:-$((MINERS / 2))} ;;
*) echo "PROTOCOL=$PROTOCOL: want v1, v2 or mixed"; exit 2 ;;
esac
JD=${JD:-0}
SV2_PORT=${SV2_PORT:-34254}
JD_PORT=${JD_PORT:-34264}
RUN=.run/loadtest
# Every JD miner holds RPC connections to btcd (its own node) beside
# aditd's: btcd's default of 10 clients answers 503 beyond that.
[ "$JD" -gt 0 ] && BTCD_RPC_MAX_CLIENTS=${BTCD_RPC_MAX_CLIENTS:-$((20 + 4 * JD))}
. deploy/regtest/lib.sh
mkdir -p "$RUN/sharelog"
start_btcd
storage=""
env=()
if [ "$DB" = 1 ]; then
	start_postgres
	storage=$'[sharelog]\ndir = "'"$RUN/sharelog"$'"\n[database]\nmigrate = true\n'
	env=(ADIT_DATABASE_DSN="$DSN")
fi
sv2=""
v2args=()
toplevel=""
if [ "$V2" -gt 0 ] || [ "$JD" -gt 0 ]; then
	SV2_PUBKEY=$(bin/aditctl sv2-keygen -out "$RUN/sv2.key" | sed -n 's/^authority public key: *//p')
	sv2=$'[sv2]\nlisten = "127.0.0.1:'"$SV2_PORT"$'"\nauthority_key_file = "'"$RUN/sv2.key"$'"\n'
fi
if [ "$V2" -gt 0 ]; then
	v2args=(-sv2-pool "127.0.0.1:$SV2_PORT" -authority-key "$SV2_PUBKEY" -fleet-v2 "$V2" -channel "$CHANNEL")
fi
if [ "$JD" -gt 0 ]; then
	# A JD miner's extended channel needs room for its own extranonce.
	toplevel="extranonce_size = 16"
	sv2+=$'[jd]\nlisten = "127.0.0.1:'"$JD_PORT"$'"\n'
fi
cat >"$RUN/aditd.toml" <<TOML
network = "regtest"
instance = "load-1"
payout_address = "$POOL_ADDR"
$toplevel

[[node]]
url = "http://127.0.0.1:$BTCD_RPC_PORT"
user = "$RPC_USER"
websocket = true

[stratum]
listen = "127.0.0.1:$STRATUM_PORT"

[http]
listen = "127.0.0.1:$HTTP_PORT"

[vardiff]
start = $DIFFICULTY
min = $DIFFICULTY
max = $DIFFICULTY

[regtest]
# Shares are not blocks: the run measures the pool, not btcd.
block_floor_difficulty = 1000000000
$storage
$sv2
TOML
env "${env[@]}" ADIT_NODE_0_PASSWORD="$RPC_PASS" bin/aditd -config "$RUN/aditd.toml" -log-format json >"$RUN/logs/aditd.log" 2>&1 &
track aditd "$RUN/logs/aditd.log"
aditd_pid=$!
wait_http "http://127.0.0.1:$HTTP_PORT/metrics" aditd
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
rss_before=$(metric process_resident_memory_bytes)

bin/adit-miner -pool "127.0.0.1:$STRATUM_PORT" -user "$MINER_ADDR.load" -fleet "$MINERS" -threads 1 \
	-share-rate "$RATE" -duration "$DURATION" "${v2args[@]}" -json -log-level warn >"$RUN/fleet.json" 2>"$RUN/logs/miner.log" &
fleet=$!
track adit-miner "$RUN/logs/miner.log"
jds=()
for i in $(seq "$JD"); do
	ADIT_NODE_PASS="$RPC_PASS" bin/adit-miner -jd -jd-pool "127.0.0.1:$JD_PORT" -sv2 -pool "127.0.0.1:$SV2_PORT" \
		-authority-key "$SV2_PUBKEY" -node-url "http://127.0.0.1:$BTCD_RPC_PORT" -node-user "$RPC_USER" \
		-solo-address "$MINER_ADDR" -jd-block-floor 1000000000 -user "$MINER_ADDR.jd$i" -threads 1 \
		-share-rate "$RATE" -duration "$DURATION" -json -log-level warn >"$RUN/jd$i.json" 2>"$RUN/logs/jd$i.log" &
	jds+=($!)
	track "adit-miner -jd $i" "$RUN/logs/jd$i.log"
done
# Once every miner is connected, note the memory, then mine a few blocks so
# clean jobs are broadcast to all sessions.
conns_all() { echo $(( $(metric 'adit_connections{protocol="v1"}' | cut -d. -f1) + $(metric 'adit_connections{protocol="v2"}' | cut -d. -f1 | grep . || echo 0) )); }
for _ in $(seq 300); do
	[ "$(conns_all)" = "$((MINERS + JD))" ] && break
	sleep 0.2
done
conns=$(conns_all)
sleep 3
rss_held=$(metric process_resident_memory_bytes)
for _ in 1 2 3 4 5; do rpc generate '[1]' >/dev/null; sleep 2; done
wait "$fleet" || true
for p in "${jds[@]}"; do wait "$p" || true; done
echo "== fleet summary (adit-miner -json)"
cat "$RUN/fleet.json"
for i in $(seq "$JD"); do
	echo "== JD miner $i summary (adit-miner -jd -json)"
	cat "$RUN/jd$i.json"
done
echo "== daemon"
echo "connections held:        $conns"
awk -v b="$rss_before" -v h="$rss_held" -v n="$conns" 'BEGIN{printf "rss before / held:       %.1f MiB / %.1f MiB (%.1f KiB per connection)\n", b/1048576, h/1048576, (h-b)/1024/(n>0?n:1)}'
curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '
	$1 ~ /^adit_job_broadcast_seconds_(sum|count)$/ {v[$1]=$2}
	$1 ~ /^adit_shares_total\{protocol="v[12]"/ && $2 > 0 {print "shares:                  " $1 " " $2}
	$1 == "adit_shares_shipped_total" {print "shipped to postgres:     " $2}
	$1 ~ /^adit_jd_(declarations|custom_jobs)_total\{/ && $2 > 0 {print "job declaration:         " $1 " " $2}
	END { if (v["adit_job_broadcast_seconds_count"] > 0) printf "job broadcast mean:      %.1f µs over %d jobs\n", 1e6*v["adit_job_broadcast_seconds_sum"]/v["adit_job_broadcast_seconds_count"], v["adit_job_broadcast_seconds_count"] }'

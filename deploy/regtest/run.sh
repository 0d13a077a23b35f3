#!/usr/bin/env bash
# The local regtest stack: btcd, aditd and a CPU miner, all on loopback,
# running until Ctrl-C, after which everything it started is stopped.
# Ports can be moved with BTCD_RPC_PORT, BTCD_P2P_PORT, STRATUM_PORT, HTTP_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."

BTCD_RPC_PORT=${BTCD_RPC_PORT:-18443}
BTCD_P2P_PORT=${BTCD_P2P_PORT:-18444}
STRATUM_PORT=${STRATUM_PORT:-3333}
HTTP_PORT=${HTTP_PORT:-8080}
MINER_THREADS=${MINER_THREADS:-1}
RPC_USER=adit
RPC_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Regtest keys derived from fixed strings (sha256("adit-pool"), ...): test coins only.
POOL_ADDR=bcrt1qw33wssd42d8z5hvy7m2qq522yt2ttjz7xlqtaq
MINER_ADDR=bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et

RUN=.run/regtest
rm -rf "$RUN"
mkdir -p "$RUN/btcd" "$RUN/logs"
pids=()
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "stopping the stack…"
	for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	echo "stopped; logs were in $RUN/logs"
}
trap cleanup EXIT INT TERM

rpc() {
	curl -s --user "$RPC_USER:$RPC_PASS" -H 'content-type: application/json' \
		--data "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
		"http://127.0.0.1:$BTCD_RPC_PORT/"
}

btcd --regtest --notls --rpcuser="$RPC_USER" --rpcpass="$RPC_PASS" \
	--rpclisten="127.0.0.1:$BTCD_RPC_PORT" --listen="127.0.0.1:$BTCD_P2P_PORT" \
	--datadir="$RUN/btcd" --logdir="$RUN/btcd" --miningaddr="$POOL_ADDR" --txindex \
	>"$RUN/logs/btcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do rpc getblockcount | grep -q '"result"' && break; sleep 0.2; done
rpc getblockcount | grep -q '"result"' || { echo "btcd did not start; see $RUN/logs/btcd.log"; exit 1; }

cat >"$RUN/aditd.toml" <<TOML
network = "regtest"
instance = "local-1"
payout_address = "$POOL_ADDR"
pool_tag = "/adit-local/"

[[node]]
name = "btcd"
url = "http://127.0.0.1:$BTCD_RPC_PORT"
user = "$RPC_USER"
websocket = true

[stratum]
listen = "127.0.0.1:$STRATUM_PORT"

[http]
listen = "127.0.0.1:$HTTP_PORT"

[vardiff]
start = 0.001
min = 0.0001
target_interval = "5s"
TOML
ADIT_NODE_0_PASSWORD="$RPC_PASS" bin/aditd -config "$RUN/aditd.toml" >"$RUN/logs/aditd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null || { echo "aditd did not start:"; tail -20 "$RUN/logs/aditd.log"; exit 1; }

bin/adit-miner -pool "127.0.0.1:$STRATUM_PORT" -user "$MINER_ADDR.cpu1" -threads "$MINER_THREADS" \
	>"$RUN/logs/miner.log" 2>&1 &
pids+=($!)

cat <<INFO

Adit regtest stack is running (Ctrl-C stops everything):
  stratum    stratum+tcp://127.0.0.1:$STRATUM_PORT   (user: <regtest address>.<worker>)
  dashboard  http://127.0.0.1:$HTTP_PORT/
  metrics    http://127.0.0.1:$HTTP_PORT/metrics
  btcd RPC   http://127.0.0.1:$BTCD_RPC_PORT  (user $RPC_USER, password $RPC_PASS)
  logs       $RUN/logs/

INFO
while sleep 5; do
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || { echo "a stack process ($pid) exited; see $RUN/logs"; exit 1; }
	done
	found=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1=="adit_blocks_found_total"{print $2}')
	accepted=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1 ~ /^adit_shares_total\{protocol="v1",result="accepted"\}/{print $2}')
	height=$(rpc getblockcount | sed -n 's/.*"result":\([0-9]*\).*/\1/p')
	echo "$(date +%T) height=$height adit_blocks_found_total=${found:-0} accepted_shares=${accepted:-0}"
done

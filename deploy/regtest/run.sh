#!/usr/bin/env bash
# The local regtest stack: btcd, a throwaway Postgres 15, aditd (share log,
# Postgres, PPLNS payouts) and a CPU miner, all on loopback, running until
# Ctrl-C, after which everything it started is stopped. Once the pool has
# found a few blocks the script mines the 101 maturity blocks itself, so a
# payout lands in the miner's address within a few minutes.
# Stratum V2 is served too (Noise, with an authority key made here by
# aditctl sv2-keygen), with a second CPU miner on an extended channel.
# Job Declaration: a third miner (adit-miner -jd) builds its own templates
# from its own btcd (btcd-miner, peered with the pool's), declares them to
# the pool's JDS and mines them. txgen spends mature coinbases into the
# miner's node only (the pool's btcd runs --blocksonly, so relayed
# transactions never reach it): the JDS must ask for them, and the miner's
# blocks carry them into the pool's chain.
# A farm: adit-proxy takes its templates from btcd-miner too (the farm's
# node), declares them to the JDS, and serves them to a plain Stratum V1
# miner behind it; its blocks are credited to FARM_ADDR and paid out.
# Ports can be moved with BTCD_RPC_PORT, BTCD_P2P_PORT, BTCD_MINER_RPC_PORT,
# BTCD_MINER_P2P_PORT, STRATUM_PORT, SV2_PORT, JD_PORT, HTTP_PORT, PG_PORT,
# PROXY_STRATUM_PORT, PROXY_HTTP_PORT.
set -euo pipefail
# Whatever else fails and ends the script (set -e) is named, not silent.
trap 'echo "run.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit status $?)" >&2' ERR
cd "$(dirname "$0")/../.."

. deploy/regtest/lib.sh
BTCD_MINER_RPC_PORT=${BTCD_MINER_RPC_PORT:-18453}
BTCD_MINER_P2P_PORT=${BTCD_MINER_P2P_PORT:-18454}
JD_PORT=${JD_PORT:-34264}
PROXY_STRATUM_PORT=${PROXY_STRATUM_PORT:-3334}
PROXY_HTTP_PORT=${PROXY_HTTP_PORT:-9100}
BLOCK_FLOOR=0.02
start_btcd btcd "$BTCD_RPC_PORT" "$BTCD_P2P_PORT" --blocksonly
start_btcd btcd-miner "$BTCD_MINER_RPC_PORT" "$BTCD_MINER_P2P_PORT" --connect="127.0.0.1:$BTCD_P2P_PORT"
start_postgres
# 101 blocks to the filler address first: their coinbases mature one per
# new block from now on, and txgen spends them on the miner's node.
rpc generate '[101]' | grep -q '"result":\[' || { echo "btcd generate failed"; exit 1; }
for _ in $(seq 150); do
	[ "$(rpc_at "$BTCD_MINER_RPC_PORT" getblockcount | sed -n 's/.*"result":\([0-9]*\).*/\1/p')" = 101 ] && break
	check_stack || exit 1
	sleep 0.2
done
go build -o "$RUN/txgen" ./pool/internal/regtest/txgen
ADIT_NODE_PASS="$RPC_PASS" "$RUN/txgen" -node-url "http://127.0.0.1:$BTCD_MINER_RPC_PORT" -node-user "$RPC_USER" \
	>"$RUN/logs/txgen.log" 2>&1 &
track txgen "$RUN/logs/txgen.log"

umask 077
printf '%s\n' "$POOL_KEY_HEX" >"$RUN/pool.key"
umask 022
SV2_PORT=${SV2_PORT:-34254}
SV2_PUBKEY=$(bin/aditctl sv2-keygen -out "$RUN/sv2.key" | sed -n 's/^authority public key: *//p')
[ -n "$SV2_PUBKEY" ] || { echo "aditctl sv2-keygen printed no public key"; exit 1; }

cat >"$RUN/aditd.toml" <<TOML
network = "regtest"
instance = "local-1"
payout_address = "$POOL_ADDR"
pool_tag = "/adit-local/"
extranonce_size = 16                # room for SV2 extended and JD channels

[[node]]
name = "btcd"
url = "http://127.0.0.1:$BTCD_RPC_PORT"
user = "$RPC_USER"
websocket = true

[stratum]
listen = "127.0.0.1:$STRATUM_PORT"

[sv2]
listen = "127.0.0.1:$SV2_PORT"
authority_key_file = "$RUN/sv2.key"

[jd]
listen = "127.0.0.1:$JD_PORT"

[http]
listen = "127.0.0.1:$HTTP_PORT"

[vardiff]
start = 0.001
min = 0.0001
target_interval = "5s"

[regtest]
# A share is a block only at this difficulty (about one in 20 at the
# starting share difficulty): without it every regtest share is a block and
# the tip moves faster than a miner can declare a job for it. The JD miner
# is told the same (-jd-block-floor).
block_floor_difficulty = $BLOCK_FLOOR

[sharelog]
dir = "$RUN/sharelog"

[database]
migrate = true

[payout]
enabled = true
key_file = "$RUN/pool.key"
threshold_sats = 100000
interval = "10s"
poll_interval = "2s"
TOML
ADIT_NODE_0_PASSWORD="$RPC_PASS" ADIT_DATABASE_DSN="$DSN" bin/aditd -config "$RUN/aditd.toml" >"$RUN/logs/aditd.log" 2>&1 &
track aditd "$RUN/logs/aditd.log"
wait_http "http://127.0.0.1:$HTTP_PORT/metrics" aditd

bin/adit-miner -pool "127.0.0.1:$STRATUM_PORT" -user "$MINER_ADDR.cpu1" -threads "$MINER_THREADS" \
	>"$RUN/logs/miner.log" 2>&1 &
track adit-miner "$RUN/logs/miner.log"
bin/adit-miner -sv2 -pool "127.0.0.1:$SV2_PORT" -authority-key "$SV2_PUBKEY" -channel extended \
	-user "$MINER_ADDR.sv2" -threads "$MINER_THREADS" >"$RUN/logs/miner-sv2.log" 2>&1 &
track "adit-miner -sv2" "$RUN/logs/miner-sv2.log"
ADIT_NODE_PASS="$RPC_PASS" bin/adit-miner -jd -jd-pool "127.0.0.1:$JD_PORT" \
	-sv2 -pool "127.0.0.1:$SV2_PORT" -authority-key "$SV2_PUBKEY" \
	-node-url "http://127.0.0.1:$BTCD_MINER_RPC_PORT" -node-user "$RPC_USER" -solo-address "$MINER_ADDR" \
	-jd-block-floor "$BLOCK_FLOOR" -user "$MINER_ADDR.jd" -threads "$MINER_THREADS" >"$RUN/logs/miner-jd.log" 2>&1 &
track "adit-miner -jd" "$RUN/logs/miner-jd.log"

# The farm: adit-proxy on btcd-miner (its own node), declaring to the JDS
# for FARM_ADDR, and a Stratum V1 miner behind it (any username).
cat >"$RUN/adit-proxy.toml" <<TOML
retry = "2s"

[pool]
jds = "127.0.0.1:$JD_PORT"
mining = "127.0.0.1:$SV2_PORT"
authority_key = "$SV2_PUBKEY"
user = "$FARM_ADDR.proxy"

[node]
url = "http://127.0.0.1:$BTCD_MINER_RPC_PORT"
user = "$RPC_USER"

[policy]
tag = "/adit-farm/"

[stratum]
listen = "127.0.0.1:$PROXY_STRATUM_PORT"

[vardiff]
start = 0.001
min = 0.0001
target_interval = "5s"

[http]
listen = "127.0.0.1:$PROXY_HTTP_PORT"

[regtest]
block_floor_difficulty = $BLOCK_FLOOR   # the pool's
TOML
ADIT_PROXY_NODE_PASSWORD="$RPC_PASS" bin/adit-proxy -config "$RUN/adit-proxy.toml" >"$RUN/logs/adit-proxy.log" 2>&1 &
track adit-proxy "$RUN/logs/adit-proxy.log"
wait_http "http://127.0.0.1:$PROXY_HTTP_PORT/metrics" adit-proxy
wait_tcp "$PROXY_STRATUM_PORT" "adit-proxy's stratum port"
bin/adit-miner -pool "127.0.0.1:$PROXY_STRATUM_PORT" -user rig1 -threads "$MINER_THREADS" \
	>"$RUN/logs/miner-proxy.log" 2>&1 &
track "adit-miner (behind adit-proxy)" "$RUN/logs/miner-proxy.log"

cat <<INFO

Adit regtest stack is running (Ctrl-C stops everything):
  stratum    stratum+tcp://127.0.0.1:$STRATUM_PORT   (user: <regtest address>.<worker>)
  stratum v2 127.0.0.1:$SV2_PORT   (Noise; authority public key $SV2_PUBKEY)
  job decl.  127.0.0.1:$JD_PORT   (Noise, same key; the JD miner's node: http://127.0.0.1:$BTCD_MINER_RPC_PORT)
  dashboard  http://127.0.0.1:$HTTP_PORT/
  metrics    http://127.0.0.1:$HTTP_PORT/metrics
  adit-proxy stratum+tcp://127.0.0.1:$PROXY_STRATUM_PORT   (the farm's V1 port, any user; node btcd-miner; credited to $FARM_ADDR.proxy)
  proxy page http://127.0.0.1:$PROXY_HTTP_PORT/   (mode, workers; /api/v1/status, /metrics)
  btcd RPC   http://127.0.0.1:$BTCD_RPC_PORT  (user $RPC_USER, password $RPC_PASS)
  postgres   $DSN
  pool API   http://127.0.0.1:$HTTP_PORT/api/v1/pool   (and /api/v1/pool/hashrate, /api/v1/blocks, /api/v1/payouts: docs/api.md)
  miner API  http://127.0.0.1:$HTTP_PORT/api/v1/miners/$MINER_ADDR
  farm API   http://127.0.0.1:$HTTP_PORT/api/v1/miners/$FARM_ADDR
  logs       $RUN/logs/

Shares arriving in Postgres:
  psql "$DSN" -c 'select worker, count(*), sum(assigned_difficulty) from shares group by worker'

INFO
# The status loop only reads: a failed curl or RPC (a process may die at any
# moment) leaves a field empty and never stops the script; check_stack,
# before and after the reads, is what ends the loop, naming the process.
metric_at() { curl -s --max-time 3 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v m="$2" '$1==m{print $2}' || true; }
metric() { metric_at "$HTTP_PORT" "$1"; }
# address_line WHO ADDR: the outputs paying ADDR in the pool's chain (and
# mempool), their sum, and ADDR's unpaid balance in the pool's ledger.
address_line() {
	local outs received bal
	outs=$(rpc searchrawtransactions "[\"$2\",1,0,1000]" 2>/dev/null |
		grep -o '"value":[^,]*,"n":[0-9]*,"scriptPubKey":{[^}]*}' | grep -F "\"address\":\"$2\"" || true)
	received=$(printf '%s\n' "$outs" | sed -n 's/^"value":\([^,]*\),.*/\1/p' | awk '{s += $1} END {printf "%.0f", s * 1e8}')
	bal=$(curl -s --max-time 3 "http://127.0.0.1:$HTTP_PORT/api/v1/miner/$2" 2>/dev/null | sed -n 's/.*"balance_sats": *\([0-9-]*\).*/\1/p' || true)
	echo "         $1 $2: outputs received on chain=$(printf '%s' "$outs" | grep -c . || true) (${received:-0} sats), unpaid balance=${bal:-?} sats"
}
matured=
rounds=0
while sleep 5; do
	rounds=$((rounds + 1))
	check_stack || exit 1
	found=$(metric adit_blocks_found_total)
	accepted=$(metric 'adit_shares_total{protocol="v1",result="accepted"}')
	accepted2=$(metric 'adit_shares_total{protocol="v2",result="accepted"}')
	jdblocks=$(metric adit_jd_blocks_found_total)
	jdmissing=$(metric adit_jd_missing_tx_rounds_total)
	shipped=$(metric adit_shares_shipped_total)
	paid=$(metric adit_payout_satoshis_total)
	paid=$(printf '%.0f' "${paid:-0}" 2>/dev/null || echo "$paid")
	forwarded=$(metric_at "$PROXY_HTTP_PORT" adit_proxy_forwarded_shares_total)
	proxyblocks=$(metric_at "$PROXY_HTTP_PORT" adit_proxy_blocks_found_total)
	proxymode=$(curl -s --max-time 3 "http://127.0.0.1:$PROXY_HTTP_PORT/metrics" 2>/dev/null |
		sed -n 's/^adit_proxy_mode{mode="\([a-z]*\)"} 1$/\1/p' || true)
	height=$(rpc getblockcount 2>/dev/null | sed -n 's/.*"result":\([0-9]*\).*/\1/p' || true)
	check_stack || exit 1
	echo "$(date +%T) height=${height:-?} adit_blocks_found_total=${found:-0} accepted_shares=${accepted:-0} accepted_v2=${accepted2:-0} jd_blocks=${jdblocks:-0} jd_missing_tx_rounds=${jdmissing:-0} shipped_to_postgres=${shipped:-0} paid_sats=${paid:-0}"
	echo "         adit-proxy: mode=${proxymode:-none} forwarded_shares=${forwarded:-0} blocks_found=${proxyblocks:-0}"
	# After a few pool blocks, the farm's and the miners' among them (or a
	# minute on without), mine the 101 maturity blocks so they get credited
	# and paid to both addresses.
	if [ -z "$matured" ] && [ "${found%.*}" -ge 3 ] 2>/dev/null &&
		{ { [ "${proxyblocks%.*}" -ge 1 ] && [ "${found%.*}" -gt "${proxyblocks%.*}" ]; } 2>/dev/null || [ "$rounds" -ge 12 ]; }; then
		echo "mining 101 maturity blocks with btcd's generate…"
		if rpc generate '[101]' 2>/dev/null | grep -q '"result":\['; then matured=1; fi
	fi
	# txgen's transactions exist only on the miner's node: in the pool's
	# chain they can only have come in the JD miner's declared blocks.
	jdtx=0
	for tx in $(awk '$2=="tx"{print $3}' "$RUN/logs/txgen.log" 2>/dev/null | tail -n 30); do
		rpc getrawtransaction "[\"$tx\",1]" 2>/dev/null | grep -q '"blockhash"' && jdtx=$((jdtx + 1))
	done
	echo "         of txgen's last 30 transactions (miner's node only), in the pool's chain: $jdtx"
	if [ -n "$matured" ]; then
		address_line miner "$MINER_ADDR"
		address_line farm "$FARM_ADDR"
	fi
done

#!/usr/bin/env bash
# The local regtest stack: btcd, a throwaway Postgres 15, aditd (share log,
# Postgres, PPLNS payouts) and a CPU miner, all on loopback, running until
# Ctrl-C, after which everything it started is stopped. Once the pool has
# found a few blocks the script mines the 101 maturity blocks itself, so a
# payout lands in the miner's address within a few minutes.
# Stratum V2 is served too (Noise, with an authority key made here by
# aditctl sv2-keygen), with a second CPU miner on an extended channel.
# Ports can be moved with BTCD_RPC_PORT, BTCD_P2P_PORT, STRATUM_PORT,
# SV2_PORT, HTTP_PORT, PG_PORT.
set -euo pipefail
# Whatever else fails and ends the script (set -e) is named, not silent.
trap 'echo "run.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit status $?)" >&2' ERR
cd "$(dirname "$0")/../.."

. deploy/regtest/lib.sh
start_btcd
start_postgres

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

[http]
listen = "127.0.0.1:$HTTP_PORT"

[vardiff]
start = 0.001
min = 0.0001
target_interval = "5s"

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

cat <<INFO

Adit regtest stack is running (Ctrl-C stops everything):
  stratum    stratum+tcp://127.0.0.1:$STRATUM_PORT   (user: <regtest address>.<worker>)
  stratum v2 127.0.0.1:$SV2_PORT   (Noise; authority public key $SV2_PUBKEY)
  dashboard  http://127.0.0.1:$HTTP_PORT/
  metrics    http://127.0.0.1:$HTTP_PORT/metrics
  btcd RPC   http://127.0.0.1:$BTCD_RPC_PORT  (user $RPC_USER, password $RPC_PASS)
  postgres   $DSN
  miner API  http://127.0.0.1:$HTTP_PORT/api/v1/miner/$MINER_ADDR
  logs       $RUN/logs/

Shares arriving in Postgres:
  psql "$DSN" -c 'select worker, count(*), sum(assigned_difficulty) from shares group by worker'

INFO
# The status loop only reads: a failed curl or RPC (a process may die at any
# moment) leaves a field empty and never stops the script; check_stack,
# before and after the reads, is what ends the loop, naming the process.
metric() { curl -s --max-time 3 "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null | awk -v m="$1" '$1==m{print $2}' || true; }
matured=
while sleep 5; do
	check_stack || exit 1
	found=$(metric adit_blocks_found_total)
	accepted=$(metric 'adit_shares_total{protocol="v1",result="accepted"}')
	accepted2=$(metric 'adit_shares_total{protocol="v2",result="accepted"}')
	shipped=$(metric adit_shares_shipped_total)
	paid=$(metric adit_payout_satoshis_total)
	height=$(rpc getblockcount 2>/dev/null | sed -n 's/.*"result":\([0-9]*\).*/\1/p' || true)
	check_stack || exit 1
	echo "$(date +%T) height=${height:-?} adit_blocks_found_total=${found:-0} accepted_shares=${accepted:-0} accepted_v2=${accepted2:-0} shipped_to_postgres=${shipped:-0} paid_sats=${paid:-0}"
	# After a few pool blocks, mine the 101 maturity blocks so they get credited and paid.
	if [ -z "$matured" ] && [ "${found%.*}" -ge 3 ] 2>/dev/null; then
		echo "mining 101 maturity blocks with btcd's generate…"
		if rpc generate '[101]' 2>/dev/null | grep -q '"result":\['; then matured=1; fi
	fi
	if [ -n "$matured" ]; then
		received=$(rpc searchrawtransactions "[\"$MINER_ADDR\",1,0,1000]" 2>/dev/null | grep -o "\"$MINER_ADDR\"" | wc -l || true)
		bal=$(curl -s --max-time 3 "http://127.0.0.1:$HTTP_PORT/api/v1/miner/$MINER_ADDR" 2>/dev/null | sed -n 's/.*"balance_sats": *\([0-9-]*\).*/\1/p' || true)
		echo "         miner $MINER_ADDR: outputs received on chain=${received:-?}, unpaid balance=${bal:-?} sats"
	fi
done

#!/usr/bin/env bash
# The local regtest stack: btcd, a throwaway Postgres 15, aditd (share log,
# Postgres, PPLNS payouts) and a CPU miner, all on loopback, running until
# Ctrl-C, after which everything it started is stopped. Once the pool has
# found a few blocks the script mines the 101 maturity blocks itself, so a
# payout lands in the miner's address within a few minutes.
# Ports can be moved with BTCD_RPC_PORT, BTCD_P2P_PORT, STRATUM_PORT,
# HTTP_PORT, PG_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."

BTCD_RPC_PORT=${BTCD_RPC_PORT:-18443}
BTCD_P2P_PORT=${BTCD_P2P_PORT:-18444}
STRATUM_PORT=${STRATUM_PORT:-3333}
HTTP_PORT=${HTTP_PORT:-8080}
PG_PORT=${PG_PORT:-15432}
PGBIN=/usr/lib/postgresql/15/bin
MINER_THREADS=${MINER_THREADS:-1}
RPC_USER=adit
RPC_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Regtest keys derived from fixed strings (sha256("adit-pool"), ...): test coins only.
POOL_KEY_HEX=$(printf adit-pool | sha256sum | cut -c1-64)
POOL_ADDR=bcrt1qw33wssd42d8z5hvy7m2qq522yt2ttjz7xlqtaq
MINER_ADDR=bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et

RUN=.run/regtest
rm -rf "$RUN"
mkdir -p "$RUN/btcd" "$RUN/logs" "$RUN/sharelog"
# Postgres refuses to run as root: as root the cluster belongs to "postgres"
# and lives in a directory that user can reach.
PGDIR=$(mktemp -d /tmp/adit-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
pids=()
pg_started=
cleanup() {
	trap - EXIT INT TERM
	echo
	echo "stopping the stack…"
	for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	[ -n "$pg_started" ] && as_pg "$PGBIN/pg_ctl" stop -D "$PGDIR/data" -m fast -w >/dev/null 2>&1 || true
	cp "$PGDIR/postgres.log" "$RUN/logs/" 2>/dev/null || true
	rm -rf "$PGDIR"
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
	--datadir="$RUN/btcd" --logdir="$RUN/btcd" --miningaddr="$POOL_ADDR" --txindex --addrindex \
	>"$RUN/logs/btcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do rpc getblockcount | grep -q '"result"' && break; sleep 0.2; done
rpc getblockcount | grep -q '"result"' || { echo "btcd did not start; see $RUN/logs/btcd.log"; exit 1; }

as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U adit --auth=trust >"$RUN/logs/initdb.log" 2>&1
as_pg "$PGBIN/pg_ctl" start -D "$PGDIR/data" -w -l "$PGDIR/postgres.log" \
	-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c fsync=off" >/dev/null
pg_started=1
DSN="postgres://adit@127.0.0.1:$PG_PORT/postgres?sslmode=disable"

umask 077
printf '%s\n' "$POOL_KEY_HEX" >"$RUN/pool.key"
umask 022

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
  postgres   $DSN
  miner API  http://127.0.0.1:$HTTP_PORT/api/v1/miner/$MINER_ADDR
  logs       $RUN/logs/

Shares arriving in Postgres:
  psql "$DSN" -c 'select worker, count(*), sum(assigned_difficulty) from shares group by worker'

INFO
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1==m{print $2}'; }
matured=
while sleep 5; do
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || { echo "a stack process ($pid) exited; see $RUN/logs"; exit 1; }
	done
	found=$(metric adit_blocks_found_total)
	accepted=$(metric 'adit_shares_total{protocol="v1",result="accepted"}')
	shipped=$(metric adit_shares_shipped_total)
	paid=$(metric adit_payout_satoshis_total)
	height=$(rpc getblockcount | sed -n 's/.*"result":\([0-9]*\).*/\1/p')
	echo "$(date +%T) height=$height adit_blocks_found_total=${found:-0} accepted_shares=${accepted:-0} shipped_to_postgres=${shipped:-0} paid_sats=${paid:-0}"
	# After a few pool blocks, mine the 101 maturity blocks so they get credited and paid.
	if [ -z "$matured" ] && [ "${found%.*}" -ge 3 ] 2>/dev/null; then
		echo "mining 101 maturity blocks with btcd's generate…"
		rpc generate '[101]' >/dev/null && matured=1
	fi
	if [ -n "$matured" ]; then
		received=$(rpc searchrawtransactions "[\"$MINER_ADDR\",1,0,1000]" | grep -o "\"$MINER_ADDR\"" | wc -l || true)
		bal=$(curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/miner/$MINER_ADDR" | sed -n 's/.*"balance_sats": *\([0-9-]*\).*/\1/p' || true)
		echo "         miner $MINER_ADDR: outputs received on chain=$received, unpaid balance=${bal:-?} sats"
	fi
done

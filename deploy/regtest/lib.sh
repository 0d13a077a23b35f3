# Shared by run.sh and loadtest.sh (sourced, not run): ports, fixed regtest
# keys, process bookkeeping with cleanup on exit, btcd and Postgres start-up.
# Callers set -euo pipefail and cd to the repository root first.

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
# btcd's own generate (the maturity blocks) pays this address, never the
# pool's: aditd's chain reconciliation would count blocks paying the pool.
FILLER_ADDR=bcrt1qzcd77k257jpkhg0dvw43zjg77xv9vu6hcqyatx

RUN=${RUN:-.run/regtest}
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
	trap - EXIT
	trap "" INT TERM # a second Ctrl-C or TERM must not cut the clean-up short
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

# wait_http URL what: poll until URL answers, or fail naming what.
wait_http() {
	for _ in $(seq 150); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done
	echo "$2 did not come up; see $RUN/logs"; exit 1
}

rpc() {
	curl -s --user "$RPC_USER:$RPC_PASS" -H 'content-type: application/json' \
		--data "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
		"http://127.0.0.1:$BTCD_RPC_PORT/"
}

start_btcd() {
btcd --regtest --notls --rpcuser="$RPC_USER" --rpcpass="$RPC_PASS" \
	--rpclisten="127.0.0.1:$BTCD_RPC_PORT" --listen="127.0.0.1:$BTCD_P2P_PORT" \
	--datadir="$RUN/btcd" --logdir="$RUN/btcd" --miningaddr="$FILLER_ADDR" --txindex --addrindex \
	>"$RUN/logs/btcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do rpc getblockcount | grep -q '"result"' && break; sleep 0.2; done
rpc getblockcount | grep -q '"result"' || { echo "btcd did not start; see $RUN/logs/btcd.log"; exit 1; }
}

start_postgres() {
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U adit --auth=trust >"$RUN/logs/initdb.log" 2>&1
as_pg "$PGBIN/pg_ctl" start -D "$PGDIR/data" -w -l "$PGDIR/postgres.log" \
	-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c fsync=off" >/dev/null
pg_started=1
DSN="postgres://adit@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
}


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
# The farm's payout address (adit-proxy's pool.user): P2WPKH of the key
# sha256("adit-farm").
FARM_ADDR=bcrt1qvcerzzqmf575kztxrgyjzvkgd29e56zxff2wfx
# btcd's own generate (the maturity blocks) pays this address, never the
# pool's: aditd's chain reconciliation would count blocks paying the pool.
# It is the test harness key's (pool/internal/regtest.TestKey), so txgen
# can spend those coinbases.
FILLER_ADDR=bcrt1q6zscs3r2w30uwhfvwtrwpjz86vq9p3vphcwalf

RUN=${RUN:-.run/regtest}
rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/sharelog"
# Postgres refuses to run as root: as root the cluster belongs to "postgres"
# and lives in a directory that user can reach.
PGDIR=$(mktemp -d /tmp/adit-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
pids=()   # the stack's background processes, started last stopped first
names=()  # their names and logs, index for index
logs=()
pg_started=
# track NAME LOG: book the background process just started ($!).
track() { pids+=($!); names+=("$1"); logs+=("$2"); }
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
# A signal's trap must exit after the clean-up: returning from it would
# resume the script where it was (a status loop would then find the stack
# gone and report a process as dead).
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# check_stack: if a stack process has exited, say which, with its exit
# status, its log and the log's last lines, and return 1. Postgres runs
# detached (pg_ctl), so it is checked through its postmaster.pid.
check_stack() {
	local i pid st why
	for i in "${!pids[@]}"; do
		pid=${pids[i]}
		kill -0 "$pid" 2>/dev/null && continue
		st=0
		wait "$pid" 2>/dev/null || st=$?
		why="exit status $st"
		[ "$st" -gt 128 ] && why="$why (killed by SIG$(kill -l $((st - 128)) 2>/dev/null || echo $((st - 128))))"
		stack_died "${names[i]} (pid $pid)" "$why" "${logs[i]}" "${logs[i]}"
		return 1
	done
	if [ -n "$pg_started" ]; then
		pid=$(head -1 "$PGDIR/data/postmaster.pid" 2>/dev/null || true)
		if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
			stack_died "postgres${pid:+ (pid $pid)}" "not running (started detached by pg_ctl: no exit status)" \
				"$PGDIR/postgres.log" "$RUN/logs/postgres.log"
			pg_started=
			return 1
		fi
	fi
}

# stack_died WHAT WHY LOG KEPT: the report check_stack prints (to stderr);
# LOG is read now, KEPT is where the log is after the clean-up.
stack_died() {
	{
		echo
		echo "stack process $1 exited: $2"
		echo "its log: $4; last lines:"
		tail -n 15 "$3" 2>/dev/null | sed 's/^/  | /' || true
	} >&2
}

# wait_http URL what: poll until URL answers, or fail naming what.
wait_http() {
	for _ in $(seq 150); do
		curl -sf "$1" >/dev/null && return 0
		check_stack || exit 1
		sleep 0.2
	done
	echo "$2 did not come up; see $RUN/logs"; exit 1
}

# wait_tcp PORT what: poll until 127.0.0.1:PORT accepts, or fail naming what.
wait_tcp() {
	for _ in $(seq 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		check_stack || exit 1
		sleep 0.2
	done
	echo "$2 did not come up; see $RUN/logs"; exit 1
}

# rpc_at PORT METHOD [PARAMS]: one JSON-RPC call to the btcd on PORT.
rpc_at() {
	curl -s --user "$RPC_USER:$RPC_PASS" -H 'content-type: application/json' \
		--data "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$2\",\"params\":${3:-[]}}" \
		"http://127.0.0.1:$1/"
}
rpc() { rpc_at "$BTCD_RPC_PORT" "$@"; }

# start_btcd [NAME RPC_PORT P2P_PORT [ARGS...]]: a regtest btcd, by default
# the pool's (btcd on BTCD_RPC_PORT, BTCD_P2P_PORT), its data in $RUN/NAME,
# its log in $RUN/logs/NAME.log; ARGS are added to its command line.
start_btcd() {
local name=${1:-btcd} rpcport=${2:-$BTCD_RPC_PORT} p2pport=${3:-$BTCD_P2P_PORT}
shift $(($# < 3 ? $# : 3))
mkdir -p "$RUN/$name"
btcd --regtest --notls --rpcuser="$RPC_USER" --rpcpass="$RPC_PASS" \
	--rpclisten="127.0.0.1:$rpcport" --listen="127.0.0.1:$p2pport" \
	--datadir="$RUN/$name" --logdir="$RUN/$name" --miningaddr="$FILLER_ADDR" --txindex --addrindex \
	--rpcmaxclients="${BTCD_RPC_MAX_CLIENTS:-10}" \
	"$@" >"$RUN/logs/$name.log" 2>&1 &
track "$name" "$RUN/logs/$name.log"
for _ in $(seq 100); do
	rpc_at "$rpcport" getblockcount | grep -q '"result"' && break
	check_stack || exit 1
	sleep 0.2
done
rpc_at "$rpcport" getblockcount | grep -q '"result"' || { echo "$name did not start; see $RUN/logs/$name.log"; exit 1; }
}

start_postgres() {
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U adit --auth=trust >"$RUN/logs/initdb.log" 2>&1
as_pg "$PGBIN/pg_ctl" start -D "$PGDIR/data" -w -l "$PGDIR/postgres.log" \
	-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGDIR -c fsync=off" >/dev/null
pg_started=1
DSN="postgres://adit@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
}


#!/usr/bin/env bash
# deploy/local: the multi-replica topology on one machine, with no
# container engine: the machine's PostgreSQL, the standalone sandbox, two
# shim replicas sharing one database, and nginx as the load balancer.
#
#   bash deploy/local/run.sh up      # start it all, print the addresses, wait for Ctrl-C
#   bash deploy/local/run.sh smoke   # start it, run the smoke test, stop it (CI runs this)
#
# The smoke test: (1) a rolling restart of both replicas under bot load
# through the balancer, with zero failed requests; (2) a bot buys numbers
# through the balancer (so on both replicas), one replica is killed with
# SIGKILL, and every one of those IDs is still served to the end through
# the other; (3) -version and smsbulk_shim_build_info agree.
#
# Needs go, nginx (Debian: apt-get install nginx-light), psql and a
# PostgreSQL at LOCAL_PG (default postgres://postgres@127.0.0.1:5432),
# trust auth; a database of its own is created and dropped. Ports from
# LOCAL_PORT (default 18000): balancer PORT, sandbox PORT+1, replicas
# PORT+10/PORT+11 (admin PORT+20/PORT+21).
set -euo pipefail
mode=${1:-smoke}
root=$(cd "$(dirname "$0")/../.." && pwd)
pg=${LOCAL_PG:-postgres://postgres@127.0.0.1:5432}
# listening PORT: whether something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# The first base port from 18000 (in steps of 100) whose six ports are all
# free, unless LOCAL_PORT names one: another process on one of them would
# answer the probes in its place.
port=${LOCAL_PORT:-}
if [ -z "$port" ]; then
  for base in $(seq 18000 100 19900); do
    busy=
    for off in 0 1 10 11 20 21; do listening $((base + off)) && { busy=1; break; }; done
    [ -z "$busy" ] && { port=$base; break; }
  done
  [ -n "$port" ] || { echo "deploy/local: no free ports between 18000 and 19999"; exit 1; }
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/smsbulk-local.XXXXXX")
db="smsbulk_local_$$"
key="local-bot-key"
pids=()

log() { echo "deploy/local: $*"; }
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ]; then
    for f in nginx-error.log replica0.log replica1.log sandbox.log; do
      [ -f "$work/$f" ] && { echo "--- last lines of $f"; tail -15 "$work/$f"; }
    done
  fi
  for f in "$work"/replica*.pid "$work/nginx.pid"; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    # A child is reaped by wait; nginx (a daemon, not a child) is polled.
    wait "$p" 2>/dev/null || for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

command -v nginx >/dev/null || { echo "deploy/local needs nginx (apt-get install -y nginx-light)"; exit 1; }
command -v psql >/dev/null || { echo "deploy/local needs psql"; exit 1; }

version="v0.0.0-local+$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
log "building (version $version)"
(cd "$root" && go build -trimpath -ldflags "-s -w -X main.version=$version -X main.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" -o "$work/smsbulk-shim" ./cmd/smsbulk-shim)
(cd "$root" && go build -o "$work/smsbulk-sandbox" ./cmd/smsbulk-sandbox && go build -o "$work/bot" ./deploy/local/bot)

psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
dsn="$pg/$db?sslmode=disable"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') # one secret for the whole run: replicas must share it

SANDBOX_ADDR=127.0.0.1:$((port + 1)) SANDBOX_KEYS="$key=1000000.00" SANDBOX_SMS_DELAY=1s \
  "$work/smsbulk-sandbox" 2>"$work/sandbox.log" &
pids+=($!)

# start_replica N starts replica N (0 or 1); its pid goes to $work/replicaN.pid.
start_replica() {
  local n=$1
  SHIM_ADDR=127.0.0.1:$((port + 10 + n)) SHIM_ADMIN_ADDR=127.0.0.1:$((port + 20 + n)) \
    SHIM_UPSTREAM_URL=http://127.0.0.1:$((port + 1)) SHIM_KEY_SECRET="$secret" SHIM_IDMAP_DSN="$dsn" \
    SHIM_SHUTDOWN_DELAY=2s SHIM_SHUTDOWN_TIMEOUT=20s \
    "$work/smsbulk-shim" >>"$work/replica$n.log" 2>&1 &
  echo $! >"$work/replica$n.pid"
}
wait_ready() {
  local n=$1
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$((port + 20 + n))/readyz" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "replica $n not ready within 10s:"; tail -20 "$work/replica$n.log"; return 1
}
# restart_replica N: SIGTERM, wait for a clean exit, start again, wait until ready.
restart_replica() {
  local n=$1 pid
  pid=$(cat "$work/replica$n.pid")
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || { echo "replica $n exited $rc on SIGTERM"; tail -20 "$work/replica$n.log"; return 1; }
  start_replica "$n"
  wait_ready "$n"
}

start_replica 0
start_replica 1
wait_ready 0
wait_ready 1

user=""
[ "$(id -u)" = 0 ] && user="user root;"
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$port|g" -e "s|@USER@|$user|g" \
  -e "s|@A@|127.0.0.1:$((port + 10))|g" -e "s|@B@|127.0.0.1:$((port + 11))|g" \
  "$root/deploy/local/nginx.conf.in" >"$work/nginx.conf"
nginx -t -q -p "$work" -c "$work/nginx.conf"
nginx -p "$work" -c "$work/nginx.conf"
lb="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -fsS -o /dev/null "$lb/stubs/handler_api.php?api_key=$key&action=getBalance" 2>/dev/null && break; sleep 0.1; done

if [ "$mode" = up ]; then
  log "balancer $lb (key $key), replicas :$((port + 10)) :$((port + 11)), admin :$((port + 20)) :$((port + 21)), logs in $work; Ctrl-C stops"
  wait
  exit 0
fi

log "1/3 rolling restart under bot load"
"$work/bot" -url "$lb" -key "$key" load -workers 4 -until "$work/stop" >"$work/bot-load.out" 2>&1 &
botpid=$!
sleep 2
restart_replica 0
sleep 2
restart_replica 1
sleep 2
touch "$work/stop"
rc=0
wait "$botpid" || rc=$?
cat "$work/bot-load.out"
[ "$rc" -eq 0 ] || { echo "FAIL: requests failed during the rolling restart"; exit 1; }
grep -q "requests, 0 failed" "$work/bot-load.out"

log "2/3 one replica killed mid-flow"
"$work/bot" -url "$lb" -key "$key" buy -n 20 -ids "$work/ids" | tee "$work/bot-buy.out"
served0=$(grep -c '"msg":"legacy request"' "$work/replica0.log" || true)
kill -KILL "$(cat "$work/replica0.pid")"
wait "$(cat "$work/replica0.pid")" 2>/dev/null || true
"$work/bot" -url "$lb" -key "$key" finish -ids "$work/ids" | tee "$work/bot-finish.out"
grep -q "activations done" "$work/bot-finish.out"
[ "$(grep -o '[0-9]* activations done' "$work/bot-finish.out" | cut -d' ' -f1)" = 20 ] || { echo "FAIL: not every ID finished"; exit 1; }
[ "$served0" -gt 0 ] || { echo "FAIL: the killed replica had served nothing, so the test proves nothing"; exit 1; }
start_replica 0
wait_ready 0

log "3/3 versions"
"$work/smsbulk-shim" -version | tee "$work/version.out"
grep -qF "smsbulk-shim $version " "$work/version.out"
curl -fsS "http://127.0.0.1:$((port + 21))/metrics" | grep -F "smsbulk_shim_build_info{" | tee "$work/build_info.out"
grep -qF "version=\"$version\"" "$work/build_info.out"
SHIM_ADMIN_ADDR=127.0.0.1:$((port + 21)) "$work/smsbulk-shim" healthcheck

log "smoke test passed"

#!/usr/bin/env bash
# compat/run.sh: drive real SMS-Activate client libraries, unmodified, against the shim running
# its built-in sandbox on loopback. Prints one line per library per check (PASS/FAIL), then
# "N passed, N failed", and exits 1 if any check failed. Needs node and npm (the libraries are
# pinned in package-lock.json) and go. Usage: bash compat/run.sh
set -euo pipefail

compat=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$compat/.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
if [ -z "${HOME:-}" ]; then HOME=$(getent passwd "$(id -u)" | cut -d: -f6); export HOME; fi

# The libraries, exactly as locked; from the npm cache when it has them.
(cd "$compat" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)

tmp=$(mktemp -d)
shim_pid=
cleanup() {
  if [ -n "$shim_pid" ]; then
    kill "$shim_pid" 2>/dev/null || true
    wait "$shim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$root" && go build -o "$tmp/smsbulk-shim" ./cmd/smsbulk-shim)

# One key per library so that each sees its own balance, a key with nothing on it, and a key the
# sandbox does not know. demo is the sandbox's public key; the others are made here and never printed.
rand() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
hero_key=$(rand)
broke_key=$(rand)
bad_key=$(rand)
sms_delay_ms=1500

# Port 0: the kernel picks free loopback ports and the shim's "listening" line names them.
: >"$tmp/shim.log"
SHIM_ADDR=127.0.0.1:0 SHIM_ADMIN_ADDR=127.0.0.1:0 SHIM_IDMAP_DSN="$tmp/idmap.db" \
  SANDBOX_SMS_DELAY="${sms_delay_ms}ms" SANDBOX_RATE_LIMIT=0 \
  SANDBOX_KEYS="demo=100.00,$hero_key=42.50,$broke_key=0.00" OTEL_SDK_DISABLED=true \
  "$tmp/smsbulk-shim" -sandbox >"$tmp/shim.log" 2>&1 &
shim_pid=$!

addr= admin=
for _ in $(seq 1 100); do
  line=$(grep -m1 '"msg":"listening"' "$tmp/shim.log" 2>/dev/null || true)
  if [ -n "$line" ]; then
    addr=$(sed -E 's/.*"addr":"([^"]+)".*/\1/' <<<"$line")
    admin=$(sed -E 's/.*"admin_addr":"([^"]+)".*/\1/' <<<"$line")
    break
  fi
  kill -0 "$shim_pid" 2>/dev/null || break
  sleep 0.1
done
healthy=
if [ -n "$admin" ]; then
  for _ in $(seq 1 50); do
    if [ "$(curl -fsS "http://$admin/healthz" 2>/dev/null || true)" = ok ]; then healthy=1; break; fi
    sleep 0.1
  done
fi
if [ -z "$healthy" ]; then
  echo "the shim did not come up; its log:" >&2
  cat "$tmp/shim.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# No proxy may stand between the libraries and the loopback shim.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY='*' no_proxy='*'
export COMPAT_SHIM_URL="http://$addr" COMPAT_BROKE_KEY="$broke_key" COMPAT_BAD_KEY="$bad_key" \
  COMPAT_SMS_DELAY_MS="$sms_delay_ms"

# suite LIB CMD...: run one library's suite (at most 120s), keep its lines; a suite that dies or
# hangs without saying why counts as a failed check.
results="$tmp/results"
: >"$results"
suite() {
  local lib=$1 rc=0
  shift
  timeout 120 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  cat "$tmp/out" >>"$results"
  cat "$tmp/out"
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$tmp/out"; then
    echo "FAIL $lib suite: exited $rc: $(tail -c 600 "$tmp/err" | tr '\n' ' ')" | tee -a "$results"
  fi
}

# sms-activate@1.0.1 hard-codes http://sms-activate.ru: redirect.js points it at the shim.
COMPAT_KEY=demo COMPAT_BALANCE=100.00 SHIM_REDIRECT_URL="http://$addr" \
  suite sms-activate@1.0.1 node --require "$compat/node/redirect.js" "$compat/node/sms-activate.js"
# hero-sms@2.0.0 takes the URL as its baseUrl option.
COMPAT_KEY="$hero_key" COMPAT_BALANCE=42.50 \
  suite hero-sms@2.0.0 node "$compat/node/hero-sms.js"

passed=$(grep -c '^PASS ' "$results" || true)
failed=$(grep -c '^FAIL ' "$results" || true)
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# Calls-per-second load test: the release engine against sipp on this host.
#
#   benches/sipp_cps.sh [RATE] [CALLS]      (defaults: 1000 CPS, 20000 calls)
#
# Each call is INVITE → 100 → 200 → ACK → BYE → 200 to the `echo` number, with no hold time.
# Prints sipp's totals and one JSON line: {"rate":…,"calls":…,"successful":…,"failed":…,
# "elapsed_s":…,"achieved_cps":…}. Exits non-zero when any call failed.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${1:-1000}
CALLS=${2:-20000}
SIP_PORT=${SIP_PORT:-25060}
HTTP_PORT=${HTTP_PORT:-25080}

cargo build --release --bin hotline >/dev/null
BIN=${CARGO_TARGET_DIR:-target}/release/hotline
work=$(mktemp -d)
trap 'kill "$engine" 2>/dev/null || true; wait "$engine" 2>/dev/null || true; rm -rf "$work"' EXIT

cat >"$work/hotline.yaml" <<YAML
media:
  address: 127.0.0.1
  rtp_ports: 30000-60000
numbers:
  echo:
    action: echo
YAML
RUST_LOG=warn "$BIN" serve --config "$work/hotline.yaml" --sip "127.0.0.1:$SIP_PORT" \
  --http "127.0.0.1:$HTTP_PORT" --data "$work/data" 2>"$work/engine.log" &
engine=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break
  sleep 0.1
done

start=$(date +%s.%N)
set +e
(cd "$work" && sipp -sn uac -s echo -r "$RATE" -m "$CALLS" -d 0 -l 5000 \
  -i 127.0.0.1 -p 25070 -nostdin -trace_screen -timeout 300s \
  "127.0.0.1:$SIP_PORT" >/dev/null 2>&1)
rc=$?
set -e
end=$(date +%s.%N)
screen=$(ls "$work"/*_screen.log)
ok=$(awk -F'|' '/Successful call/ {gsub(/ /,"",$3); print $3}' "$screen")
failed=$(awk -F'|' '/Failed call/ {gsub(/ /,"",$3); print $3}' "$screen")
elapsed=$(echo "$end - $start" | bc -l)
cps=$(echo "$ok / $elapsed" | bc -l)
grep -E "Successful call|Failed call|Call Rate" "$screen" || true
printf '{"rate":%s,"calls":%s,"successful":%s,"failed":%s,"elapsed_s":%.2f,"achieved_cps":%.0f}\n' \
  "$RATE" "$CALLS" "${ok:-0}" "${failed:-0}" "$elapsed" "$cps"
exit "$rc"

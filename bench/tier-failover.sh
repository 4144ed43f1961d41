#!/usr/bin/env bash
# Tier failover across two clouds: `kvgate demo --clouds` with the built-in workload (24
# conversations over 16 tenants, streamed, 48 tokens each). Tier 1 (cloud aws, 2 engines) is killed
# at --fail-at and restarted at --recover-at; tier 2 (cloud gcp, 2 engines) takes the traffic in
# between. Reports, per run and phase, requests answered, errors (and how many were streams cut
# mid-response by the engines' death), TTFT p50/p90 and their ratio to the first phase (both tiers
# up, measured in the same run), the time until the gateway had ejected tier 1, and the time from
# the restart until tier 1 served again.
#
# Usage: bench/tier-failover.sh [--runs N] [--fail-at S] [--recover-at S] [--duration S] [--out FILE]
# Builds kvgate.jar when missing. Each run is CPU-bound for --duration seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=2
FAIL_AT=40
RECOVER_AT=70
DURATION=100
OUT=bench/results/tier-failover-$(date -u +%Y%m%dT%H%M%SZ).md
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --fail-at) FAIL_AT=$2; shift 2 ;;
    --recover-at) RECOVER_AT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
JAVA=${JAVA:-java}
JAR=${KVGATE_JAR:-gateway/target/kvgate.jar}
[ -f "$JAR" ] || ./mvnw -q -B -DskipTests package
mkdir -p "$(dirname "$OUT")"
{
  echo "# tier failover, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $("$JAVA" -version 2>&1 | head -1)"
  echo "fail at ${FAIL_AT}s, recover at ${RECOVER_AT}s, ${DURATION}s per run"
} > "$OUT"
for run in $(seq 1 "$RUNS"); do
  LOG=$(mktemp /tmp/kvgate-tier-failover.XXXXXX)
  "$JAVA" -jar "$JAR" demo --clouds --port 0 --fail-at "$FAIL_AT" --recover-at "$RECOVER_AT" \
    --duration "$DURATION" --report-seconds 5 > "$LOG" 2>&1 || true
  {
    echo
    echo "## run $run"
    echo '```'
    sed -n '/^summary by phase:/,$p' "$LOG"
    echo '```'
  } >> "$OUT"
  rm -f "$LOG"
done
cat "$OUT"

#!/usr/bin/env bash
# bench-peers.sh — earshot beside the peers an operator would otherwise
# deploy, in one run on this machine: the call-rate ladder through earshot,
# through Kamailio and through Kamailio with rtpengine (bench-sip.sh), CPU
# per relayed packet of earshot and of rtpengine in userspace, behind
# Kamailio with the same sipps and driven by a Python peer
# (bench-relay.sh), supervised calls per
# mixer worker in listen and in barge, and as root in listen with the
# in-kernel relay (bench-mix.sh load), and the control plane's reads with
# 5,000 held calls (bench-api.sh). `make bench-peers` runs it.
#
#   scripts/bench-peers.sh
#   RATES="1000 2000" CALLS="100" scripts/bench-peers.sh   # shorter
#
# As root with apt, it installs what is missing first (sip-tester,
# kamailio, rtpengine-daemon); otherwise a missing peer only drops its
# baseline. Each step prints the machine's load average before and after
# it: the figures are only comparable within a step, peer beside earshot.
# It ends with a summary of every step's ratios and headline figures.
# About 14 minutes with the defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)
command -v rtpengine >/dev/null 2>&1 || missing+=(rtpengine-daemon)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    # The packages' services are not wanted running: the benchmarks start
    # their own instances.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: ${missing[*]} missing and cannot be installed here; their baselines are skipped" >&2
  fi
fi

# Each step's output is also kept, for the summary at the end.
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
NSTEP=0

step() {
  local name=$1 t0=$SECONDS log
  shift
  NSTEP=$((NSTEP + 1))
  log="$LOGS/$NSTEP"
  echo "$name" >"$log.name"
  echo
  echo "## $name"
  echo
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" | tee "$log.load"
  echo
  "$@" 2>&1 | tee "$log"
  echo
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) ($((SECONDS - t0)) s)" | tee -a "$log.load"
}

# summary: the ratios and headline figures of every step in one place,
# each under its step's name and load.
summary() {
  echo
  echo "## Summary ($((SECONDS / 60)) min $((SECONDS % 60)) s)"
  local i
  for i in $(seq "$NSTEP"); do
    echo
    echo "$(cat "$LOGS/$i.name") — $(paste -sd';' "$LOGS/$i.load" | sed 's/;/; /')"
    grep -E '^(earshot / |at [0-9]+ calls/s: |[0-9]+ calls[,:]|.*summary: |\| [0-9]+ held.*\| /api/v1/)' "$LOGS/$i" |
      sed -E 's/^ *load_test\.go:[0-9]+: /  /; s/^([^ ])/  \1/'
  done
}

echo "# earshot beside its peers, $(date -u +%Y-%m-%dT%H:%MZ), $(git describe --always --dirty 2>/dev/null || echo dev)"
RATES=${RATES:-"1000 2000 2500 3200 4000 5000"} step "Call rate: earshot, Kamailio, Kamailio + rtpengine, direct" scripts/bench-sip.sh
# Without the rows of one sendto per packet (the batched sends' A/B, in
# scripts/bench-relay.sh's default run), to stay within 15 minutes.
SENDTO=${SENDTO:-0} step "Relay: earshot and rtpengine (userspace; behind Kamailio with the same sipps, and Python-driven)" scripts/bench-relay.sh
STEPS=${STEPS:-"200,400,500,600,750,1000"} WINDOW=${WINDOW:-10s} step "Supervised calls on one mixer worker (listen)" \
  scripts/bench-mix.sh load
MODE=barge STEPS=${BARGE_STEPS:-"300,400,500,600,750,1000"} WINDOW=${WINDOW:-5s} \
  step "Supervised calls on one mixer worker (barge: all three legs mixed)" scripts/bench-mix.sh load
if [ "$(id -u)" = 0 ]; then
  KERNEL=1 STEPS=${KERNEL_STEPS:-"500,750,1000,1250,1500"} WINDOW=${WINDOW:-5s} \
    step "Supervised calls on one mixer worker (listen, in-kernel relay)" scripts/bench-mix.sh load
else
  echo; echo "(not root: the in-kernel relay's mixer load is skipped)"
fi
HELD=${HELD:-5000} step "Control plane reads with held calls (GET /calls, /stats)" scripts/bench-api.sh
summary

#!/usr/bin/env bash
# bench-mix.sh — the figures of the supervision section of
# docs/performance.md: supervised calls one mixer worker carries, the delay
# the mix path adds over the relay, and the allocation-free micro-benchmarks
# of the mixer and of the mix path.
#
#   scripts/bench-mix.sh                          # all three
#   STEPS="200,300,400" WINDOW=10s scripts/bench-mix.sh load
#   MODE=barge scripts/bench-mix.sh load         # all three legs mixed
#   KERNEL=1 scripts/bench-mix.sh load           # in-kernel relay (root)
#   scripts/bench-mix.sh delay
#   scripts/bench-mix.sh micro
#
# load:  TestLoadSupervised ramps calls of three legs each (customer, agent,
#        supervisor in listen mode — MODE=whisper or barge for the others —
#        every phone sending 20 ms PCMU over
#        loopback) on an engine with one mixer worker and prints a table row
#        per step: tick lateness from the mixer's histogram, packets in and
#        frames out, and the CPU of earshot, of the fake phones (their own
#        OS threads) and of every other process on the machine.
# delay: TestDelayMixVsRelay sends marker frames to pairs of calls, one
#        relayed and one mixed, and prints the delay of each path and their
#        difference.
# micro: go test -bench over ./mixer/ and ./rtpengine/ with -benchmem.
#
# The two measurements are Go tests gated by EARSHOT_LOAD=1, so that a plain
# go test skips them. CPUS sets GOMAXPROCS for them (go test -cpu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-all}
cpus=${CPUS:-$(nproc)}

load() {
  EARSHOT_LOAD=1 EARSHOT_LOAD_STEPS=${STEPS:-} EARSHOT_LOAD_WINDOW=${WINDOW:-} \
    EARSHOT_LOAD_MODE=${MODE:-} EARSHOT_LOAD_KERNEL=${KERNEL:-} \
    go test ./rtpengine/ -run '^TestLoadSupervised$' -count=1 -v -timeout 30m -cpu "$cpus"
}

delay() {
  EARSHOT_LOAD=1 EARSHOT_DELAY_WINDOW=${DELAY_WINDOW:-} \
    go test ./rtpengine/ -run '^TestDelayMixVsRelay$' -count=1 -v -timeout 5m -cpu "$cpus"
}

micro() {
  go test -run '^$' -bench . -benchmem ./mixer/ ./rtpengine/
}

case $what in
  load) load ;;
  delay) delay ;;
  micro) micro ;;
  all) load; delay; micro ;;
  *) echo "usage: $0 [load|delay|micro|all]" >&2; exit 2 ;;
esac

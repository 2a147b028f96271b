#!/usr/bin/env bash
# Regenerates the built-in English queue prompts in mixer/audio/prompts/.
#
# Run it from the repository root:
#
#   scripts/gen-prompts.sh
#
# It needs espeak-ng (the voice) and sox (resampling, trimming, encoding).
# On Debian or Ubuntu: apt-get install espeak-ng sox
#
# Every prompt is spoken by espeak-ng with the voice and rate below, then sox
# trims leading and trailing silence (so prompts chain without gaps), fades
# the first and last few milliseconds (no clicks), resamples to 8000 Hz mono,
# normalises to -3 dBFS peak and stores it as G.711 µ-law WAV (format 7).
# The output is deterministic: the same tools give the same files.
# VOICE and RATE in the environment override the espeak-ng voice and rate.
#
# The prompt texts live in the list at the end of this file, one line per
# prompt: the name (the WAV file's base name and the name Prompt takes in
# package audio), a '|', and the text.
set -euo pipefail

voice=${VOICE:-en-us+f3}
rate=${RATE:-150}
out=mixer/audio/prompts

for tool in espeak-ng sox; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "gen-prompts: $tool not found; on Debian: apt-get install espeak-ng sox" >&2
    exit 1
  fi
done
if [ ! -d "$out" ]; then
  echo "gen-prompts: $out not found; run from the repository root" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count=0
while IFS='|' read -r name text; do
  case $name in '' | '#'*) continue ;; esac
  espeak-ng -v "$voice" -s "$rate" -w "$tmp/raw.wav" -- "$text"
  # -D: no dither, so the output is repeatable; -V1: errors only.
  sox -V1 -D "$tmp/raw.wav" -c 1 -e u-law -b 8 -r 8000 "$out/$name.wav" \
    silence 1 0.01 0.1% fade h 0.005 reverse \
    silence 1 0.01 0.1% fade h 0.005 reverse \
    rate -v 8000 \
    norm -3
  count=$((count + 1))
done <<'PROMPTS'
queue-welcome|All our agents are busy at the moment. Please hold, and you will be connected to the next available agent.
queue-position|You are caller number
queue-in-line|in line.
queue-wait|Your estimated waiting time is
queue-minute|minute.
queue-minutes|minutes.
queue-less-than-minute|less than one minute.
queue-thanks|Thank you for holding. An agent will be with you shortly.
queue-callback|Thank you. We have your number, and an agent will call you back.
queue-leave|To be called back instead of waiting, press star.
queue-closed|Sorry, no agents are available to take your call. Please try again later.
num-0|zero
num-1|one
num-2|two
num-3|three
num-4|four
num-5|five
num-6|six
num-7|seven
num-8|eight
num-9|nine
num-10|ten
num-11|eleven
num-12|twelve
num-13|thirteen
num-14|fourteen
num-15|fifteen
num-16|sixteen
num-17|seventeen
num-18|eighteen
num-19|nineteen
num-20|twenty
num-30|thirty
num-40|forty
num-50|fifty
num-60|sixty
num-70|seventy
num-80|eighty
num-90|ninety
num-hundred|hundred
PROMPTS

echo "gen-prompts: wrote $count prompts to $out ($voice, rate $rate)"

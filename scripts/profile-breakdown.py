#!/usr/bin/env python3
"""profile-breakdown.py CPU.pprof: where earshot's CPU goes, by concern.

Reads `go tool pprof -traces` and puts each sample in the first category
(in the order below) that any frame of its stack matches, so a sendto made
while building the control plane's transaction counts once, as control
plane. Prints a Markdown table, largest first. Used for the profile
breakdown in docs/performance.md (profiles from scripts/bench-sip.sh with
PROFILE set).
"""
import collections
import re
import subprocess
import sys

CATEGORIES = [
    ("garbage collection (background mark, assists, sweep)",
     r"runtime\.gcBgMarkWorker|runtime\.bgsweep|runtime\.gcAssistAlloc|runtime\.bgscavenge|runtime\.gcStart"),
    ("control plane (event worker: bbolt, JSON, stream)", r"earshot/control\."),
    ("media session set-up and tear-down (RTP sockets, reader start/stop, SDP)",
     r"rtpengine\.\(\*Engine\)\.NewSession|rtpengine\.\(\*Session\)\.(Close|Offer|Answer|readRTP|readRTCP)"
     r"|internal/app\.mediaAdapter"),
    ("SIP datagrams out (sendto)", r"syscall\.sendto"),
    ("SIP datagrams in (recvfrom)", r"syscall\.recvfrom"),
    ("SIP parsing (sipgo parser)", r"sipgo/sip\.\(\*Parser\)"),
    ("logging (slog)", r"log/slog\."),
    ("scheduler, goroutines, timers",
     r"runtime\.(mcall|schedule|findRunnable|park_m|goexit0|newproc|sysmon|mstart|runTimer|wakep|startm|notewakeup|futex)"),
]


def seconds(v):
    for suffix, scale in (("ms", 1e-3), ("us", 1e-6), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0)):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * scale
    raise ValueError(v)


def main(path):
    out = subprocess.run(["go", "tool", "pprof", "-traces", path], capture_output=True, text=True, check=True).stdout
    total, by = 0.0, collections.Counter()
    for block in out.split("-----------+-------------------------------------------------------"):
        lines = [l for l in block.strip().split("\n") if l.strip()]
        if not lines:
            continue
        first = lines[0].split()
        try:
            v = seconds(first[0])
        except (ValueError, IndexError):
            continue
        frames = [" ".join(first[1:])] + [l.strip() for l in lines[1:]]
        stack = "\n".join(frames)
        total += v
        for name, rx in CATEGORIES:
            if re.search(rx, stack):
                by[name] += v
                break
        else:
            if any(re.search(r"runtime\.(mallocgc|newobject|makeslice|growslice)", f) for f in frames[:4]):
                by["allocation elsewhere (mallocgc)"] += v
            elif "sipgo" in stack:
                by["sipgo transactions and message building"] += v
            elif "earshot/b2bua" in stack:
                by["b2bua call logic (routing, dialogs, tables)"] += v
            else:
                by["other"] += v
    print(f"CPU samples: {total:.2f} s\n")
    print("| where | share |")
    print("|---|---|")
    for name, v in by.most_common():
        print(f"| {name} | {100 * v / total:.0f} % |")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env bash
# bench-sip.sh — the highest call rate earshot carries with zero failed
# calls, beside the same ladder run through Kamailio as a stateful
# record-routing proxy (the peer an operator would otherwise deploy, when
# it is installed) and directly between the two sipps (what the load
# generators themselves manage on this machine), all in the same run.
#
#   scripts/bench-sip.sh                       # default ladder
#   RATES="200 1000" SECS=5 scripts/bench-sip.sh
#   PROFILE=prof/sip RATES=1500 scripts/bench-sip.sh  # + profiles per rate
#   KAMAILIO=0 scripts/bench-sip.sh            # without the Kamailio ladders
#   RTPENGINE=0 scripts/bench-sip.sh           # without the Kamailio + rtpengine ladder
#   FULL=1 scripts/bench-sip.sh                # every rate, also after a collapse
#   KAMAILIO=0 DIRECT=0 scripts/bench-sip.sh   # earshot's ladder alone (A/B runs)
#   RTP_MIN=10000 RTP_MAX=65535 scripts/bench-sip.sh  # another RTP port range
#                                              # (earshot's and rtpengine's; default 20000-59999)
#   SIP_LINGER=2s scripts/bench-sip.sh         # earshot's sip.transaction_linger (its default: 5s)
#   OVERLOAD=off scripts/bench-sip.sh          # sip.overload disabled (or OVERLOAD=50ms/100ms:
#                                              # its max_delay/interval; default 100ms/200ms)
#   UAC_TRANSPORT=t1 KAMAILIO=0 DIRECT=0 scripts/bench-sip.sh
#                                              # the calling sipp over one TCP connection
#                                              # (sipp's -t; default u1, UDP)
#
# Kamailio (Debian package kamailio) runs testdata/kamailio/bench.cfg: tm +
# rr, KAM_CHILDREN UDP workers (default 4), the sipps' 4 MiB socket buffers,
# in front of a second answering sipp that copies Record-Route
# (testdata/sipp/bench_uas_rr.xml). Its CPU is that of all its processes.
# When rtpengine (Debian: rtpengine-daemon) is installed too, a second peer
# ladder runs Kamailio with rtpengine allocating every call's media
# (testdata/kamailio/relay.cfg: offer, answer and delete over rtpengine's
# control protocol), as earshot allocates media for every call: the
# deployment an operator would put in earshot's place. Its CPU is
# Kamailio's plus rtpengine's. rtpengine runs with --delete-delay=0: by
# default it keeps an ended call, and its four sockets, for 30 s, which at
# these rates needs more descriptors than a machine like this allows.
#
# With PROFILE set, earshot runs with http.pprof on and a CPU profile of
# SECS-2 seconds in the middle of each earshot step is saved as
# PROFILE-RATE.pprof, the allocations over the same time as
# PROFILE-RATE.allocs.pprof and the live heap at its end as
# PROFILE-RATE.heap.pprof (read them with `go tool pprof -top FILE`).
#
# Topology, all on loopback: sipp UAC (127.0.0.2, the demo trunk source) ->
# earshot (127.0.0.1) -> sipp UAS (127.0.0.3) answering as NGROUPS x PER_GROUP
# registered agents. Calls are INVITE/180/200/ACK/BYE without talk time.
# Needs: go, sipp, python3 (for the digest REGISTERs; sipp cannot answer
# earshot's SHA-256-first challenge), curl (earshot's metrics, and its
# profiles with PROFILE). Prints a Markdown table; its last column counts
# the calls earshot refused with 503 for load (sip.max_calls, sip.overload).
#
# This file also holds the helpers scripts/bench-relay.sh uses; sourcing it
# defines them without running the benchmark.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIPP_DIR="$ROOT/testdata/sipp"

# free_port IP: a port free for both UDP and TCP on IP.
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
ip = sys.argv[1]
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((ip, 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind((ip, port))
    except OSError:
        t.close(); continue
    t.close(); u.close()
    print(port)
    break
PY
}

# write_config FILE NGROUPS PER_GROUP RTP_MIN RTP_MAX SIP HTTP DATA: the demo
# tenant grown to NGROUPS groups (numbers 5000, 5001, ...) of PER_GROUP agents
# each (extensions 7000, 7001, ...), longest-idle, every password "bench",
# and a supervisor (4999, API token bench-token-sup). MEDIA_TIMEOUT (30s)
# is media.timeout: calls held without RTP (bench-api.sh) need it longer.
# KERNEL_RELAY, IO_URING and RECEIVE_THREADS set media.kernel_relay (off),
# media.io_uring (auto) and media.receive_threads (dedicated).
write_config() {
  python3 - "$@" <<'PY'
import os, sys
out, groups, per, rmin, rmax, sip, http, data = sys.argv[1:]
pprof = ", pprof: true" if os.environ.get("PROFILE") else ""
groups, per = int(groups), int(per)
L = ["log: {format: text, level: warn}",
     "sip:",
     "  listen:",
     f"    - {{transport: udp, address: \"{sip}\"}}",
     f"    - {{transport: tcp, address: \"{sip}\"}}",
     "  max_calls: 20000",
     # All the agents register from the one answering sipp: lift the
     # per-source REGISTER limit meant for one phone per address.
     "  limits: {register_rate: 100000}",
     # earshot's own default unless SIP_LINGER asks for another.
     *([f"  transaction_linger: {os.environ['SIP_LINGER']}"] if os.environ.get("SIP_LINGER") else []),
     # sip.overload: earshot's defaults unless OVERLOAD ("off", or
     # MAX_DELAY/INTERVAL such as 50ms/100ms) asks for others.
     *([f"  overload: {{disabled: true}}"] if os.environ.get("OVERLOAD") == "off" else
       [f"  overload: {{max_delay: {os.environ['OVERLOAD'].split('/')[0]}, interval: {os.environ['OVERLOAD'].split('/')[1]}}}"] if os.environ.get("OVERLOAD") else []),
     f"http: {{listen: \"{http}\"{pprof}}}",
     f"data_dir: \"{data}\"",
     f"media: {{address: 127.0.0.1, port_min: {rmin}, port_max: {rmax}, timeout: {os.environ.get('MEDIA_TIMEOUT', '30s')}, "
     f"kernel_relay: {os.environ.get('KERNEL_RELAY', 'off')}, io_uring: {os.environ.get('IO_URING', 'auto')}, "
     f"receive_threads: {os.environ.get('RECEIVE_THREADS', 'dedicated')}}}",
     "tenants:",
     "  - name: demo",
     "    trunks:",
     "      - {name: carrier, sources: [127.0.0.2/32], outbound: \"127.0.0.2:5080\", transport: udp}",
     "    groups:"]
users = []
for g in range(groups):
    agents = [str(7000 + g * per + i) for i in range(per)]
    users += agents
    L.append(f"      - {{name: g{g}, numbers: [{{number: \"{5000 + g}\"}}], agents: [{', '.join(agents)}], strategy: longest-idle}}")
L.append("    users:")
L.append('      - {extension: "4999", name: "Bench Supervisor", role: supervisor, password: bench, token: bench-token-sup}')
for u in users:
    L.append(f"      - {{extension: \"{u}\", name: \"Agent {u}\", role: agent, password: bench, token: bench-token-{u}}}")
open(out, "w").write("\n".join(L) + "\n")
PY
}

# start_earshot CONFIG: starts earshot in the background and sets
# EARSHOT_PID, SIP_ADDR and HTTP_ADDR from its banner.
start_earshot() {
  local cfg=$1 out="$WORK/earshot.out"
  "$WORK/earshot" serve -config "$cfg" >"$out" 2>"$WORK/earshot.log" &
  EARSHOT_PID=$!
  for _ in $(seq 100); do
    if grep -q '^  HTTP' "$out" 2>/dev/null; then break; fi
    kill -0 "$EARSHOT_PID" 2>/dev/null || { cat "$WORK/earshot.log" >&2; exit 1; }
    sleep 0.1
  done
  SIP_ADDR=$(awk '$1=="SIP" && $2=="UDP" {print $3}' "$out")
  HTTP_ADDR=$(awk '$1=="HTTP" {sub("http://","",$2); sub("/metrics","",$2); print $2}' "$out")
  [ -n "$SIP_ADDR" ] || { echo "no earshot banner" >&2; exit 1; }
}

# register SERVER CONTACT PASSWORD EXT...: digest REGISTER (MD5) of each
# extension with CONTACT as its address, sent from CONTACT itself because
# earshot reaches a phone where its REGISTER came from.
register() {
  python3 - "$@" <<'PY'
import hashlib, os, re, socket, sys
server, contact, password, *exts = sys.argv[1:]
sh, sp = server.rsplit(":", 1); ch, cp = contact.rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ch, int(cp))); s.settimeout(5)
md5 = lambda x: hashlib.md5(x.encode()).hexdigest()
def req(ext, cseq, auth):
    m = (f"REGISTER sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {contact};branch=z9hG4bK{os.urandom(6).hex()}\r\n"
         f"From: <sip:{ext}@{sh}>;tag={ext}\r\nTo: <sip:{ext}@{sh}>\r\nCall-ID: reg-{ext}-{os.getpid()}\r\n"
         f"CSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@{contact}>\r\nExpires: 3600\r\n")
    if auth: m += f"Authorization: {auth}\r\n"
    s.sendto((m + "Content-Length: 0\r\n\r\n").encode(), (sh, int(sp)))
    while True:
        r = s.recv(65535).decode(errors="replace")
        code = int(r.split(" ", 2)[1])
        if code >= 200: return code, r
for ext in exts:
    code, r = req(ext, 1, None)
    ch_ = [l for l in r.split("\r\n") if l.lower().startswith("www-authenticate:") and "algorithm=MD5" in l]
    if code != 401 or not ch_: sys.exit(f"REGISTER {ext}: {code}, no MD5 challenge")
    realm = re.search(r'realm="([^"]*)"', ch_[0]).group(1); nonce = re.search(r'nonce="([^"]*)"', ch_[0]).group(1)
    uri, cnonce = f"sip:{server}", os.urandom(8).hex()
    resp = md5(f"{md5(f'{ext}:{realm}:{password}')}:{nonce}:00000001:{cnonce}:auth:{md5('REGISTER:' + uri)}")
    auth = (f'Digest username="{ext}", realm="{realm}", nonce="{nonce}", uri="{uri}", response="{resp}", '
            f'algorithm=MD5, qop=auth, nc=00000001, cnonce="{cnonce}"')
    code, _ = req(ext, 2, auth)
    if code != 200: sys.exit(f"REGISTER {ext}: {code}")
PY
}

# cpu_ticks PID: user+system CPU time of PID in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# machine_ticks: busy CPU time of the whole machine (user, nice, system,
# irq, softirq, steal of every CPU) in clock ticks, from /proc/stat.
machine_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# session_ticks SID: user+system CPU time of every process of session SID
# (Kamailio and the workers it forked) in clock ticks.
session_ticks() {
  local p sum=0
  for p in $(ps -o pid= --sid "$1"); do
    sum=$((sum + $(cpu_ticks "$p" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

# start_kamailio UAS [CFG NG]: starts Kamailio as a record-routing proxy in
# front of UAS (testdata/kamailio/CFG, default bench.cfg; relay.cfg adds
# rtpengine at its control address NG) and sets KAM_PID and KAM_ADDR. Its
# shared memory is KAM_SHM MiB (default 2048): tm keeps every transaction
# there until its wait timer ends (seconds after the call), so at a few
# thousand calls/s 256 MiB ran out and tm answered "500 No error (2/SL)"
# — a memory limit of the setup, not Kamailio's call rate.
start_kamailio() {
  local mods
  mods=$(dirname "$(ls /usr/lib/*/kamailio/modules/tm.so /usr/lib/kamailio/modules/tm.so 2>/dev/null | head -1)")
  [ -d "$mods" ] || { echo "kamailio's modules (tm.so) not found" >&2; return 1; }
  KAM_ADDR="127.0.0.1:$(free_port 127.0.0.1)"
  sed -e "s|@LISTEN@|$KAM_ADDR|" -e "s|@UAS@|$1|" -e "s|@MPATH@|$mods/|" \
    -e "s|@CHILDREN@|${KAM_CHILDREN:-4}|" -e "s|@BUFFER@|4194304|g" -e "s|@NG@|${3:-}|" \
    "$ROOT/testdata/kamailio/${2:-bench.cfg}" >"$WORK/kamailio.cfg"
  mkdir -p "$WORK/kamailio-run"
  setsid kamailio -f "$WORK/kamailio.cfg" -DD -E -m "${KAM_SHM:-2048}" -M 16 -Y "$WORK/kamailio-run" >"$WORK/kamailio.log" 2>&1 &
  KAM_PID=$!
  # Up when its port is taken.
  for _ in $(seq 100); do
    if ! python3 -c "import socket,sys; h,p=sys.argv[1].rsplit(':',1); socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind((h,int(p)))" "$KAM_ADDR" 2>/dev/null; then
      return 0
    fi
    kill -0 "$KAM_PID" 2>/dev/null || { cat "$WORK/kamailio.log" >&2; return 1; }
    sleep 0.1
  done
  echo "kamailio did not bind $KAM_ADDR" >&2
  return 1
}

# start_rtpengine: starts an rtpengine daemon relaying in userspace (no
# kernel module) with its control protocol on a free loopback port; sets
# RTPE_PID and RTPE_NG. Ended calls are deleted at once (--delete-delay=0;
# see the header).
start_rtpengine() {
  RTPE_NG="127.0.0.1:$(free_port 127.0.0.1)"
  rtpengine --config-file=none -f -E --table=-1 -i 127.0.0.1 -n "$RTPE_NG" -m "${RTP_MIN:-20000}" -M "${RTP_MAX:-59999}" \
    --num-threads=2 --delete-delay=0 -L 3 >"$WORK/rtpengine.log" 2>&1 &
  RTPE_PID=$!
  PIDS="$PIDS $RTPE_PID"
  sleep 0.5
  kill -0 "$RTPE_PID" 2>/dev/null || { tail -5 "$WORK/rtpengine.log" >&2; RTPE_PID=""; return 1; }
}

# rss_kib PID: resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# udp_drops: datagrams the kernel dropped for a full socket receive buffer,
# machine-wide (/proc/net/snmp Udp RcvbufErrors).
udp_drops() {
  awk '$1=="Udp:" && !h {for (i=2;i<=NF;i++) if ($i=="RcvbufErrors") c=i; h=1; next} $1=="Udp:" {print $c}' /proc/net/snmp
}

# stat_col CSV NAME: a column of the last line of a sipp -trace_stat file.
stat_col() {
  awk -F';' -v n="$2" 'NR==1 {for (i=1;i<=NF;i++) if ($i==n) c=i} END {print $c}' "$1"
}

# load1: the machine's one-minute load average.
load1() { cut -d' ' -f1 /proc/loadavg; }

cleanup() {
  local p
  for p in ${PIDS:-}; do kill "$p" 2>/dev/null || true; done
  for p in ${PIDS:-}; do wait "$p" 2>/dev/null || true; done
  if [ -n "${WORK:-}" ] && [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK" >&2; fi
}

# peer_ratios LABEL NAME: earshot's ladder against the peer ladder LABEL
# (printed as NAME): the three highest rates as ratios, and the CPU per
# call at every rate both have a figure for.
peer_ratios() {
  local label=$1 name=$2 rate
  # A peer that carried the ladder's top rate may carry more: the ratio
  # is then earshot's against a floor of the peer's, an upper bound.
  awk -v e="${BEST[earshot]}" -v k="${BEST[$label]}" -v n="$name" -v top="${RATES##* }" 'BEGIN {
    if (k > 0) printf "earshot / %s, highest rate with zero failed calls: %.2f%s\n", n, e / k,
      (k == top ? " (" n " carried the top of the ladder and may carry more: an upper bound)" : "")
    else printf "%s carried no rate of this ladder with zero failed calls\n", n }'
  awk -v e="${CLEAN[earshot]}" -v k="${CLEAN[$label]}" -v n="$name" 'BEGIN {
    if (k > 0) printf "earshot / %s, highest rate carried cleanly: %.2f\n", n, e / k }'
  awk -v e="${UPTO[earshot]}" -v k="${UPTO[$label]}" -v n="$name" 'BEGIN {
    if (k > 0) printf "earshot / %s, highest rate with no failed call up to it: %.2f\n", n, e / k }'
  for rate in $RATES; do
    [ -n "${CPU[earshot-$rate]:-}" ] && [ -n "${CPU[$label-$rate]:-}" ] || continue
    awk -v r="$rate" -v e="${CPU[earshot-$rate]}" -v k="${CPU[$label-$rate]}" -v n="$name" \
      -v eo="${OK[earshot-$rate]:+, no call failed}" -v ko="${OK[$label-$rate]:+, no call failed}" \
      'BEGIN {if (k > 0) printf "at %d calls/s: earshot %d µs CPU per successful call%s, %s %d%s: %.2fx\n", r, e, eo, n, k, ko, e / k}'
  done
}

# peer_ticks: the CPU time of the peer under test, Kamailio's processes
# and, when RTPE_PID is set, rtpengine's, in clock ticks.
peer_ticks() {
  echo $(( $(session_ticks "$KAM_PID") + $( [ -n "${RTPE_PID:-}" ] && cpu_ticks "$RTPE_PID" || echo 0) ))
}

# load_refused: the new calls earshot has answered 503 for load so far
# (earshot_sip_load_refused_total, every reason): among a step's failed
# calls, those refused at once rather than lost. It prints nothing when
# the metrics cannot be read (three tries): a step past the machine's rate
# can leave the HTTP listener too slow to answer at once, and a missing
# reading taken as 0 once printed a negative count.
load_refused() {
  local m i
  for i in 1 2 3; do
    if m=$(curl -sf -m 10 "http://$HTTP_ADDR/metrics"); then
      printf '%s\n' "$m" | awk '/^earshot_sip_load_refused_total/ {s += $2} END {printf "%d", s}'
      return
    fi
    sleep 1
  done
}

# run_ladder LABEL TARGET: one sipp UAC run per rate at TARGET; prints a
# table row per rate and remembers the best rate with zero failed calls,
# and the best rate whose step and every step below it had none (a
# ladder is not always monotone: a stall can fail a lower step and spare
# a higher one).
run_ladder() {
  local label=$1 target=$2 rate best=0 clean=0 upto=0 collapsed="" broken=""
  for rate in $RATES; do
    if [ -n "$collapsed" ]; then
      echo "| $label | $rate | – | – | – | – | – | – | – | – | – | skipped: over 10 % failed at $collapsed |"
      continue
    fi
    local n=$((rate * SECS)) csv="$WORK/$label-$rate.csv" t0 t1 cpu="" d0 r0=""
    d0=$(udp_drops)
    [ "$label" = earshot ] && r0=$(load_refused)
    local u0=0
    [ -n "${UAS_PID:-}" ] && u0=$(cpu_ticks "$UAS_PID")
    [ -n "${EARSHOT_PID:-}" ] && [ "$label" = earshot ] && t0=$(cpu_ticks "$EARSHOT_PID")
    case $label in kamailio*) t0=$(peer_ticks) ;; esac
    local prof=""
    if [ -n "${PROFILE:-}" ] && [ "$label" = earshot ] && [ "$SECS" -gt 2 ]; then
      (sleep 1
       curl -sf -o "$PROFILE-$rate.allocs.pprof" "http://$HTTP_ADDR/debug/pprof/allocs?seconds=$((SECS - 2))" &
       curl -sf -o "$PROFILE-$rate.pprof" "http://$HTTP_ADDR/debug/pprof/profile?seconds=$((SECS - 2))"
       wait
       # What is live at the end of the window (go tool pprof -sample_index=inuse_space).
       curl -sf -o "$PROFILE-$rate.heap.pprof" "http://$HTTP_ADDR/debug/pprof/heap") &
      prof=$!
    fi
    local TIMEFORMAT='%U %S'
    { time sipp -sf "$SIPP_DIR/bench_uac.xml" -inf "$WORK/numbers.csv" -t "${UAC_TRANSPORT:-u1}" \
      -i 127.0.0.2 -p "$(free_port 127.0.0.2)" -mi 127.0.0.2 -mp 6000 \
      -r "$rate" -m "$n" -l $((rate * 4)) -buff_size 4194304 \
      -max_recv_loops 10000 -max_sched_loops 10000 \
      -timeout $((SECS * 3 + 30))s -timeout_error -nostdin \
      -trace_err -error_file "$WORK/$label-$rate.err" -trace_stat -stf "$csv" -fd 1 "$target" >"$WORK/$label-$rate.out" 2>&1 || true; } 2>"$WORK/$label-$rate.time"
    [ -z "$prof" ] || wait "$prof" || echo "no profile at $rate calls/s" >&2
    local ok fail retr rtt drops=$(($(udp_drops) - d0))
    ok=$(stat_col "$csv" 'SuccessfulCall(C)'); fail=$(stat_col "$csv" 'FailedCall(C)')
    retr=$(stat_col "$csv" 'Retransmissions(C)')
    rtt=$(stat_col "$csv" 'ResponseTime1(C)' | awk -F: '{printf "%.1f", $1*3600000 + $2*60000 + $3*1000 + $4/1000}')
    if [ "$label" = earshot ] || [ "${label#kamailio}" != "$label" ]; then
      if [ "$label" = earshot ]; then t1=$(cpu_ticks "$EARSHOT_PID"); else t1=$(peer_ticks); fi
      cpu=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$ok" 'BEGIN {printf "%.0f", n ? d / hz / n * 1e6 : 0}')
      CPU[$label-$rate]=$cpu
    fi
    # Both sipps: the UAC's user+system time plus the UAS's over the step.
    local sippcpu=""
    if [ -n "${UAS_PID:-}" ]; then
      sippcpu=$(awk -v d=$(($(cpu_ticks "$UAS_PID") - u0)) -v hz="$(getconf CLK_TCK)" -v n="$ok" \
        '{printf "%.0f", n ? ($1 + $2 + d / hz) / n * 1e6 : 0}' "$WORK/$label-$rate.time")
    fi
    local refused=– r1=""
    [ -z "$r0" ] || r1=$(load_refused)
    [ -z "$r1" ] || refused=$((r1 - r0))
    echo "| $label | $rate | $n | $ok | $fail | $retr | $drops | $rtt | ${cpu:-–} | ${sippcpu:-–} | $(load1) | $refused |"
    if [ "$fail" = 0 ] && [ "$ok" = "$n" ]; then
      best=$rate; OK[$label-$rate]=1
      [ -n "$broken" ] || upto=$rate
      # Carried cleanly: also without a retransmission storm. A path that
      # fell behind can still complete every call, seconds late, because
      # the callers retransmit and wait.
      if [ $((${retr:-0} * 100)) -lt "$n" ]; then clean=$rate; fi
    else
      broken=1
    fi
    # A step that lost over a tenth of its calls has collapsed: higher
    # rates only take a minute each to say so again (FULL=1 runs them).
    if [ -z "${FULL:-}" ] && [ $((${fail:-0} * 10)) -gt "$n" ]; then collapsed=$rate; fi
  done
  BEST[$label]=$best
  CLEAN[$label]=$clean
  UPTO[$label]=$upto
}

main() {
  # Up to where Kamailio alone stops (it carried 5,000 calls/s on a
  # 2-core machine). At 5,000/s earshot needs 40,000 RTP ports, the
  # whole default range (four per call, resting 2 s after it), and as
  # many descriptors to keep their sockets; where the process may open
  # fewer, it binds and closes sockets per call again (see "What stops
  # earshot at 5,000 calls/s" in docs/performance.md).
  RATES=${RATES:-"500 1000 2000 3200 4000 5000"}
  SECS=${SECS:-10}
  NGROUPS=${NGROUPS:-100}
  PER_GROUP=${PER_GROUP:-10}
  WORK=$(mktemp -d)
  PIDS=""
  trap cleanup EXIT
  command -v sipp >/dev/null || { echo "sipp missing: make deps" >&2; exit 1; }
  [ -z "${PROFILE:-}" ] || mkdir -p "$(dirname "$PROFILE")"
  (cd "$ROOT" && go build -o "$WORK/earshot" ./cmd/earshot)

  local sip http
  sip="127.0.0.1:$(free_port 127.0.0.1)"; http="127.0.0.1:$(free_port 127.0.0.1)"
  write_config "$WORK/earshot.yaml" "$NGROUPS" "$PER_GROUP" "${RTP_MIN:-20000}" "${RTP_MAX:-59999}" "$sip" "$http" "$WORK/data"
  start_earshot "$WORK/earshot.yaml"
  PIDS="$EARSHOT_PID"

  { echo SEQUENTIAL; for g in $(seq 0 $((NGROUPS - 1))); do echo "$((5000 + g));"; done; } >"$WORK/numbers.csv"
  local uas="127.0.0.3:$(free_port 127.0.0.3)"
  register "$SIP_ADDR" "$uas" bench $(seq 7000 $((7000 + NGROUPS * PER_GROUP - 1)))
  sipp -sf "$SIPP_DIR/agent_uas.xml" -t u1 -i 127.0.0.3 -p "${uas##*:}" -mi 127.0.0.3 -mp 6002 \
    -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -nostdin >/dev/null 2>&1 &
  UAS_PID=$!
  PIDS="$PIDS $UAS_PID"

  declare -gA BEST CLEAN UPTO CPU OK
  echo "earshot $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo dev), $(nproc) CPUs, ${SECS}s per rate, $NGROUPS groups x $PER_GROUP agents"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| path | calls/s | calls | successful | failed | retransmissions | UDP drops | mean setup ms | proxy CPU µs/call | sipps CPU µs/call | load (1 min) | refused 503 |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  run_ladder earshot "$SIP_ADDR"
  # earshot's lingering transactions, timers and collections would take
  # CPU from the next ladders.
  kill "$EARSHOT_PID" 2>/dev/null || true
  wait "$EARSHOT_PID" 2>/dev/null || true
  local peer="" peer2="" nopeer="Kamailio is not installed (Debian: kamailio)"
  [ "${KAMAILIO:-1}" != 0 ] || nopeer="KAMAILIO=0"
  if [ "${KAMAILIO:-1}" != 0 ] && command -v kamailio >/dev/null; then
    nopeer="Kamailio did not start"
    local rr="127.0.0.3:$(free_port 127.0.0.3)"
    sipp -sf "$SIPP_DIR/bench_uas_rr.xml" -t u1 -i 127.0.0.3 -p "${rr##*:}" -mi 127.0.0.3 -mp 6012 \
      -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -nostdin >"$WORK/uas-rr.log" 2>&1 &
    local rr_pid=$!
    PIDS="$PIDS $rr_pid"
    sleep 0.5
    if ! kill -0 "$rr_pid" 2>/dev/null; then
      tail -5 "$WORK/uas-rr.log" >&2
      nopeer="the answering sipp for Kamailio did not start"
    elif start_kamailio "$rr"; then
      PIDS="$PIDS $KAM_PID"
      local agent_uas=$UAS_PID
      UAS_PID=$rr_pid
      run_ladder kamailio "$KAM_ADDR"
      UAS_PID=$agent_uas
      local oom
      oom=$(grep -c "could not allocate shared memory" "$WORK/kamailio.log" || true)
      [ "${oom:-0}" = 0 ] || echo "| kamailio | – | – | – | – | – | – | – | – | – | its shared memory ran out $oom times (KAM_SHM=${KAM_SHM:-2048} MiB): failures above are that, not its CPU |"
      kill -- "-$KAM_PID" 2>/dev/null || true
      wait "$KAM_PID" 2>/dev/null || true
      peer=kamailio
      if [ "${RTPENGINE:-1}" != 0 ] && command -v rtpengine >/dev/null && start_rtpengine; then
        if start_kamailio "$rr" relay.cfg "$RTPE_NG"; then
          UAS_PID=$rr_pid
          run_ladder kamailio+rtpengine "$KAM_ADDR"
          UAS_PID=$agent_uas
          kill -- "-$KAM_PID" 2>/dev/null || true
          wait "$KAM_PID" 2>/dev/null || true
          peer2=1
        fi
        kill "$RTPE_PID" 2>/dev/null || true
        wait "$RTPE_PID" 2>/dev/null || true
        RTPE_PID=""
      fi
    fi
    kill "$rr_pid" 2>/dev/null || true
  fi
  # DIRECT=0 (for A/B runs of earshot alone): no sipp-to-sipp ladder.
  if [ "${DIRECT:-1}" != 0 ]; then run_ladder direct "$uas"; else BEST[direct]=–; CLEAN[direct]=–; UPTO[direct]=–; fi
  echo
  local kr=""
  [ -z "$peer2" ] || kr="kamailio+rtpengine"
  echo "highest rate with zero failed calls: earshot ${BEST[earshot]} calls/s${peer:+, Kamailio ${BEST[kamailio]} calls/s}${kr:+, Kamailio + rtpengine ${BEST[$kr]} calls/s}, direct ${BEST[direct]} calls/s"
  echo "highest rate carried cleanly (zero failed calls, retransmissions under 1 % of the calls): earshot ${CLEAN[earshot]} calls/s${peer:+, Kamailio ${CLEAN[kamailio]} calls/s}${kr:+, Kamailio + rtpengine ${CLEAN[$kr]} calls/s}, direct ${CLEAN[direct]} calls/s"
  echo "highest rate with zero failed calls in its step and every step below it: earshot ${UPTO[earshot]} calls/s${peer:+, Kamailio ${UPTO[kamailio]} calls/s}${kr:+, Kamailio + rtpengine ${UPTO[$kr]} calls/s}, direct ${UPTO[direct]} calls/s"
  if [ -n "$peer" ]; then
    peer_ratios kamailio Kamailio
    [ -z "$kr" ] || peer_ratios "$kr" "Kamailio + rtpengine"
  else
    echo "$nopeer: no peer ladder in this run"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi

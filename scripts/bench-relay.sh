#!/usr/bin/env bash
# bench-relay.sh — CPU per relayed RTP packet and memory per active call of
# earshot's relay path (no supervisor, same codec both legs).
#
#   scripts/bench-relay.sh                 # 100 and 500 concurrent calls
#   CALLS="100" WINDOW=5 scripts/bench-relay.sh
#   KERNEL=0 scripts/bench-relay.sh        # without the in-kernel relay's rows
#   SENDTO=0 scripts/bench-relay.sh        # without the row of one sendto per packet (media.io_uring: off)
#   RECEIVE_THREADS=shared scripts/bench-relay.sh      # the receive loops without Ps of their own
#   PROFILE=prof/relay scripts/bench-relay.sh          # + a CPU profile of earshot's window per row
#   KAMAILIO=0 scripts/bench-relay.sh      # without the row of rtpengine behind Kamailio
#
# For each load: a fresh earshot, CALLS agents registered at one sipp UAS
# (127.0.0.3) that echoes RTP, and a sipp UAC (127.0.0.2) holding CALLS calls
# that each play 50 packets/s of PCMU. Every call therefore carries 50 pps
# each way through earshot. Once all calls are up and settled, earshot's CPU
# time (/proc/PID/stat utime+stime) and earshot_rtp_packets_relayed_total are
# sampled across WINDOW seconds; memory per call is the RSS with the calls up
# minus the RSS before the first call, divided by CALLS.
#
# earshot runs twice per load: relaying in userspace (media.kernel_relay:
# off) and, when it can load BPF programs (root), with the in-kernel relay
# (on). Beside the relay process's CPU the table gives the load
# generator's (the sipps; rtpengine's Python peer) and their sum, all from
# /proc/PID/stat, and the whole machine's busy time from /proc/stat. On
# loopback the kernel charges a packet's delivery — and the in-kernel
# relay's program, which runs on that path — to the process that sent it,
# so the sum is the media's whole cost for one generator: compare earshot
# userspace and in-kernel on it (same sipps), not earshot and rtpengine
# (different generators).
#
# When an rtpengine daemon is installed (Debian: rtpengine-daemon) the same
# load is relayed by it in the same run, and its CPU per packet is printed
# beside earshot's, twice: behind Kamailio (Debian: kamailio), with the same
# sipps, calls and audio as earshot's rows — the same load generator, so
# the relay + generator and machine columns compare too — and with its
# sessions set up over its ng control protocol and the packets generated
# by a small Python peer (fewer wake-ups of the generator, which the relay
# pays for on loopback: its sends deliver the packets).
set -euo pipefail
# shellcheck source=bench-sip.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-sip.sh"

# gen_pcap FILE SECONDS: a PCMU stream, 20 ms packets, for sipp's
# play_pcap_audio (it keeps only the UDP payload and the timing).
gen_pcap() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
out, secs = sys.argv[1], int(sys.argv[2])
b = bytearray(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
payload = bytes((0x1f if (i // 10) % 2 == 0 else 0x9f) for i in range(160))
for i in range(secs * 50):
    rtp = struct.pack("!BBHII", 0x80, 0, i & 0xffff, 8000 + i * 160, 0x5eed0001) + payload
    udp = struct.pack("!HHHH", 40000, 30000, 8 + len(rtp), 0) + rtp
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                               bytes([127, 0, 0, 2]), bytes([127, 0, 0, 1])))
    s = sum(struct.unpack("!10H", ip)); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xffff)
    frame = bytes(12) + b"\x08\x00" + bytes(ip) + udp
    usec = i * 20000
    b += struct.pack("<IIII", 1_700_000_000 + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)) + frame
open(out, "wb").write(b)
PY
}

# metric NAME: a value from earshot's /metrics (summed over its labels).
metric() { curl -s "http://$HTTP_ADDR/metrics" | awk -v n="$1" '$1==n || index($1, n "{")==1 {s+=$2; f=1} END {if (f) print s}'; }

# wait_calls N TIMEOUT: until earshot reports N active calls.
wait_calls() {
  local want=$1 deadline=$((SECONDS + $2))
  while [ "$(metric earshot_calls_active)" != "$want" ]; do
    [ $SECONDS -lt $deadline ] || { echo "only $(metric earshot_calls_active) of $want calls up" >&2; return 1; }
    sleep 0.5
  done
}

# start_media_sipps SCENARIO UAS CALLS TARGET: the answering sipp at UAS
# (testdata/sipp/SCENARIO, echoing every RTP packet to its source) and the
# calling sipp, which sends CALLS calls to TARGET at 100/s, each playing
# the audio for the window and more; sets UAS_SIPP and UAC_SIPP. Every
# relay's row runs these same two.
start_media_sipps() {
  sipp -sf "$SIPP_DIR/$1" -t u1 -i 127.0.0.3 -p "${2##*:}" -mi 127.0.0.3 \
    -mp "$(free_port 127.0.0.3)" -rtp_echo -buff_size 4194304 -nostdin >/dev/null 2>&1 &
  UAS_SIPP=$!; PIDS="$PIDS $UAS_SIPP"
  (cd "$WORK" && exec sipp -sf "$WORK/relay_uac.xml" -inf "$WORK/numbers.csv" -t u1 \
    -i 127.0.0.2 -p "$(free_port 127.0.0.2)" -mi 127.0.0.2 -mp "$(free_port 127.0.0.2)" \
    -r 100 -m "$3" -l "$3" -d $(( (WINDOW + 40) * 1000 )) -buff_size 4194304 -nostdin \
    "$4" >/dev/null 2>&1) &
  UAC_SIPP=$!; PIDS="$PIDS $UAC_SIPP"
}

# measure_earshot CALLS MODE: prints one table row. MODE: off (the
# userspace relay, its sends batched with io_uring where the kernel
# allows), each (the userspace relay, one sendto per packet:
# media.io_uring off) or on (the in-kernel relay).
measure_earshot() {
  local calls=$1 mode=$2 groups=$(( ($1 + 7) / 8 )) sip http uas uac_pid uas_pid name=earshot kern=$2 uring=auto
  [ "$mode" = on ] && name="earshot in-kernel"
  [ "$mode" = each ] && name="earshot, one sendto per packet" kern=off uring=off
  sip="127.0.0.1:$(free_port 127.0.0.1)"; http="127.0.0.1:$(free_port 127.0.0.1)"
  KERNEL_RELAY=$kern IO_URING=$uring write_config "$WORK/relay.yaml" "$groups" 8 20000 29999 "$sip" "$http" "$WORK/data-$calls-$mode"
  start_earshot "$WORK/relay.yaml"
  PIDS="$PIDS $EARSHOT_PID"
  { echo SEQUENTIAL; for g in $(seq 0 $((groups - 1))); do echo "$((5000 + g));"; done; } >"$WORK/numbers.csv"
  uas="127.0.0.3:$(free_port 127.0.0.3)"
  register "$SIP_ADDR" "$uas" bench $(seq 7000 $((7000 + groups * 8 - 1)))
  local rss0; rss0=$(rss_kib "$EARSHOT_PID")
  # The UAC dials the groups in turn so each call finds an idle agent.
  start_media_sipps agent_uas.xml "$uas" "$calls" "$SIP_ADDR"
  uas_pid=$UAS_SIPP uac_pid=$UAC_SIPP
  wait_calls "$calls" 60
  sleep 3 # let every call's audio start and the relay settle
  if [ "$mode" = on ] && [ "$(metric earshot_rtp_kernel_relay_enabled)" != 1 ]; then
    echo "| $name | $calls | – | – | – | – | – | – | not loaded: see earshot's log |"
    kill "$uac_pid" "$uas_pid" "$EARSHOT_PID" 2>/dev/null || true
    wait "$uac_pid" "$uas_pid" "$EARSHOT_PID" 2>/dev/null || true
    return
  fi
  local c0 p0 c1 p1 m0 m1 g0 g1 rss1 hz; hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks "$EARSHOT_PID"); p0=$(metric earshot_rtp_packets_relayed_total)
  m0=$(machine_ticks); g0=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  if [ -n "${PROFILE:-}" ]; then
    # The window's CPU profile, as bench-sip.sh takes one per rate.
    mkdir -p "$(dirname "$PROFILE")"
    curl -sf -o "$PROFILE-relay-$calls-$mode.pprof" "http://$HTTP_ADDR/debug/pprof/profile?seconds=$WINDOW" &
  fi
  sleep "$WINDOW"
  c1=$(cpu_ticks "$EARSHOT_PID"); p1=$(metric earshot_rtp_packets_relayed_total)
  m1=$(machine_ticks); g1=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  rss1=$(rss_kib "$EARSHOT_PID")
  local row
  row=$(awk -v name="$name" -v c=$((c1 - c0)) -v m=$((m1 - m0)) -v g=$((g1 - g0)) -v hz="$hz" -v p0="$p0" -v p1="$p1" -v w="$WINDOW" -v n="$calls" -v r0="$rss0" -v r1="$rss1" 'BEGIN {
    pk = p1 - p0; cpu = c / hz; u = 1e6 / hz / pk
    printf "| %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", name, n, pk / w, 100 * n, c * u, g * u, (c + g) * u, m * u, (r1 - r0) / n
  }')
  echo "$row"
  if [ "$mode" = on ]; then
    KERNEL_CPU_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $6}')
    KERNEL_NET_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $8}')
  elif [ "$mode" = each ]; then
    EACH_CPU_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $6}')
  else
    EARSHOT_CPU_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $6}')
    EARSHOT_NET_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $8}')
  fi
  kill "$uac_pid" "$uas_pid" "$EARSHOT_PID" 2>/dev/null || true
  wait "$uac_pid" "$uas_pid" "$EARSHOT_PID" 2>/dev/null || true
}

# rtpe_metric ADDR NAME: a value from rtpengine's /metrics at ADDR
# (summed over its labels; the userspace relay's for the packet counter).
rtpe_metric() { curl -s "http://$1/metrics" | awk -v n="$2" '($1==n || index($1, n "{")==1) && $1 !~ /kernel/ {s+=$2; f=1} END {if (f) print s}'; }

# measure_kamailio_rtpengine CALLS: the same sipps, the same calls and the
# same audio as measure_earshot, through Kamailio (testdata/kamailio/
# relay.cfg) with an rtpengine daemon relaying the media (userspace, no
# kernel module): the deployment earshot replaces, and a baseline whose
# load generator is earshot's own — sipp's echo threads, woken per packet,
# cost the relay that sends to them more than the Python peer of
# measure_rtpengine does. Prints one table row: rtpengine's CPU (Kamailio
# is idle in the window, the calls being held), its packet counter and
# RSS.
measure_kamailio_rtpengine() {
  local calls=$1 ng http uas uac_pid uas_pid pid name="rtpengine behind Kamailio, same sipps"
  ng="127.0.0.1:$(free_port 127.0.0.1)"; http="127.0.0.1:$(free_port 127.0.0.1)"
  rtpengine --config-file=none -f -E --table=-1 -i 127.0.0.1 -n "$ng" --listen-http="$http" \
    -m 40000 -M 49999 --num-threads=2 -L ${RTPE_LOG:-3} >"$WORK/rtpengine-kamailio.log" 2>&1 &
  pid=$!; PIDS="$PIDS $pid"
  for _ in $(seq 100); do [ -n "$(rtpe_metric "$http" rtpengine_sessions)" ] && break; sleep 0.1; done
  uas="127.0.0.3:$(free_port 127.0.0.3)"
  if ! start_kamailio "$uas" relay.cfg "$ng"; then
    echo "| $name | $calls | – | – | – | – | – | – | Kamailio did not start |"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    return
  fi
  local rss0; rss0=$(rss_kib "$pid")
  [ -f "$WORK/numbers.csv" ] || printf 'SEQUENTIAL\n5000;\n' >"$WORK/numbers.csv"
  # agent_uas.xml with the Record-Route a proxy's caller needs for its ACK.
  start_media_sipps bench_uas_rr.xml "$uas" "$calls" "$KAM_ADDR"
  uas_pid=$UAS_SIPP uac_pid=$UAC_SIPP
  local deadline=$((SECONDS + 60))
  while [ "$(rtpe_metric "$http" rtpengine_sessions)" != "$calls" ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "| $name | $calls | – | – | – | – | – | – | only $(rtpe_metric "$http" rtpengine_sessions) of $calls calls up |"
      kill "$uac_pid" "$uas_pid" "$pid" 2>/dev/null || true; kill -- "-$KAM_PID" 2>/dev/null || true
      wait "$uac_pid" "$uas_pid" "$pid" "$KAM_PID" 2>/dev/null || true
      return
    fi
    sleep 0.5
  done
  sleep 3 # as for earshot: every call's audio started
  local c0 p0 c1 p1 m0 m1 g0 g1 rss1 hz; hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks "$pid"); p0=$(rtpe_metric "$http" rtpengine_packets_total)
  m0=$(machine_ticks); g0=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  sleep "$WINDOW"
  c1=$(cpu_ticks "$pid"); p1=$(rtpe_metric "$http" rtpengine_packets_total)
  m1=$(machine_ticks); g1=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  rss1=$(rss_kib "$pid")
  local row
  row=$(awk -v name="$name" -v c=$((c1 - c0)) -v m=$((m1 - m0)) -v g=$((g1 - g0)) -v hz="$hz" -v p0="$p0" -v p1="$p1" -v w="$WINDOW" -v n="$calls" -v r0="$rss0" -v r1="$rss1" 'BEGIN {
    pk = p1 - p0; u = 1e6 / hz / pk
    printf "| %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f |\n", name, n, pk / w, 100 * n, c * u, g * u, (c + g) * u, m * u, (r1 - r0) / n
  }')
  echo "$row"
  KAMRTPE_CPU_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $6}')
  KAMRTPE_NET_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $8}')
  kill "$uac_pid" "$uas_pid" "$pid" 2>/dev/null || true
  kill -- "-$KAM_PID" 2>/dev/null || true
  wait "$uac_pid" "$uas_pid" "$pid" "$KAM_PID" 2>/dev/null || true
}

# udp_in: UDP datagrams that reached a socket on this machine, from
# /proc/net/snmp: those delivered and those a full receive buffer dropped
# (the caller's sipp never reads the echoed audio).
udp_in() {
  awk '$1=="Udp:" && !h {for (i=2;i<=NF;i++) {if ($i=="InDatagrams") c=i; if ($i=="RcvbufErrors") d=i}; h=1; next}
       $1=="Udp:" {print $c + $d}' /proc/net/snmp
}

# measure_direct CALLS: the same sipps, calls and audio with no relay: the
# caller's sipp calls the answering one straight and the audio goes sipp
# to sipp (packets: the datagrams that reached a socket in the window).
# Its generator column is what the sipps cost by themselves per packet; a
# relay's "relay + generator" figure minus it is the relay's whole cost —
# its process, the deliveries it makes and the softirq work it causes
# (which on loopback runs in the sending process and is charged to it),
# an in-kernel program's — which no process's own CPU isolates. These are
# the processes' own, precise times: the machine column, from /proc/stat,
# is sampled by the scheduler's tick, which a tickless kernel stops on an
# idle CPU, and at these loads of short bursts it was off by several
# times in both directions.
measure_direct() {
  local calls=$1 uas uac_pid uas_pid name="none: sipp to sipp, the generator alone"
  uas="127.0.0.3:$(free_port 127.0.0.3)"
  [ -f "$WORK/numbers.csv" ] || printf 'SEQUENTIAL\n5000;\n' >"$WORK/numbers.csv"
  start_media_sipps agent_uas.xml "$uas" "$calls" "$uas"
  uas_pid=$UAS_SIPP uac_pid=$UAC_SIPP
  # The UAC places 100 calls/s; then, as for the relays, 3 s more.
  sleep $(( calls / 100 + 4 ))
  local p0 p1 m0 m1 g0 g1 hz; hz=$(getconf CLK_TCK)
  p0=$(udp_in); m0=$(machine_ticks); g0=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  sleep "$WINDOW"
  p1=$(udp_in); m1=$(machine_ticks); g1=$(( $(cpu_ticks "$uac_pid") + $(cpu_ticks "$uas_pid") ))
  local row
  row=$(awk -v name="$name" -v m=$((m1 - m0)) -v g=$((g1 - g0)) -v hz="$hz" -v pk=$((p1 - p0)) -v w="$WINDOW" -v n="$calls" 'BEGIN {
    u = 1e6 / hz / pk
    printf "| %s | %d | %.0f | %.0f | – | %.2f | %.2f | %.2f | – |\n", name, n, pk / w, 100 * n, g * u, g * u, m * u
  }')
  echo "$row"
  DIRECT_NET_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $8}')
  kill "$uac_pid" "$uas_pid" 2>/dev/null || true
  wait "$uac_pid" "$uas_pid" 2>/dev/null || true
}

# measure_rtpengine CALLS: the same load through an rtpengine daemon
# (userspace forwarding, no kernel module), sessions set up with ng
# offer/answer, packets generated and echoed by a small Python peer that also
# counts what comes out of the relay. Prints one table row.
measure_rtpengine() {
  local calls=$1 ng port_min=40000
  ng=$(free_port 127.0.0.1)
  rtpengine --config-file=none -f -E --table=-1 -i 127.0.0.1 -n "127.0.0.1:$ng" \
    -m "$port_min" -M 49999 --num-threads=2 -L 3 >"$WORK/rtpengine.log" 2>&1 &
  local pid=$!; PIDS="$PIDS $pid"
  local row
  row=$(python3 - "$pid" "127.0.0.1:$ng" "$calls" "$WINDOW" <<'PY'
import os, random, selectors, socket, struct, sys, time
pid, ng, calls, window = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
nh, np_ = ng.rsplit(":", 1)

def benc(v):
    if isinstance(v, int): return b"i%de" % v
    if isinstance(v, str): v = v.encode()
    if isinstance(v, bytes): return b"%d:%s" % (len(v), v)
    if isinstance(v, list): return b"l" + b"".join(benc(x) for x in v) + b"e"
    return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"
def bdec(b, i=0):
    c = b[i:i+1]
    if c == b"i": j = b.index(b"e", i); return int(b[i+1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1; out = [] 
        while b[i:i+1] != b"e":
            x, i = bdec(b, i); out.append(x)
        return (out if c == b"l" else dict(zip(out[::2], out[1::2]))), i + 1
    j = b.index(b":", i); n = int(b[i:j]); return b[j+1:j+1+n], j + 1 + n

ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ctl.settimeout(5)
for _ in range(100):  # wait for the daemon's control socket
    try:
        ctl.sendto(b"c0 " + benc({"command": "ping"}), (nh, int(np_))); ctl.recv(65535); break
    except OSError: time.sleep(0.1)
def ngcmd(d):
    cookie = b"%x" % random.getrandbits(48)
    ctl.sendto(cookie + b" " + benc(d), (nh, int(np_)))
    while True:
        r = ctl.recv(65535)
        if r.startswith(cookie + b" "):
            v, _ = bdec(r, len(cookie) + 1)
            if v.get(b"result") != b"ok": sys.exit("rtpengine: %r" % v)
            return v
def media(sdp):
    ip = port = None
    for l in sdp.decode().split("\r\n"):
        if l.startswith("c=IN IP4 "): ip = l.split()[2]
        if l.startswith("m=audio "): port = int(l.split()[1])
    return (ip, port)
def sdp(ip, port):
    return f"v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

def rss(): return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0].split()[1])
def cpu(p=pid):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def machine():
    f = open("/proc/stat").readline().split()
    return sum(int(f[i]) for i in (1, 2, 3, 6, 7, 8)) / os.sysconf("SC_CLK_TCK")
me = os.getpid()

rss0 = rss()
sel = selectors.DefaultSelector()
cust, count = [], [0, 0]
for i in range(calls):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.bind(("127.0.0.2", 0)); c.setblocking(False)
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.3", 0)); a.setblocking(False)
    cid, ft, tt = f"bench-{i}", f"f{i}", f"t{i}"
    off = ngcmd({"command": "offer", "call-id": cid, "from-tag": ft, "sdp": sdp("127.0.0.2", c.getsockname()[1]), "ICE": "remove"})
    ans = ngcmd({"command": "answer", "call-id": cid, "from-tag": ft, "to-tag": tt, "sdp": sdp("127.0.0.3", a.getsockname()[1]), "ICE": "remove"})
    cust.append((c, media(ans[b"sdp"])))
    sel.register(c, selectors.EVENT_READ, 1)
    sel.register(a, selectors.EVENT_READ, 0)
payload = bytes(160); seq = 0; nxt = time.monotonic()
def run(secs):
    global seq, nxt
    end = time.monotonic() + secs
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= nxt:
            seq += 1
            for c, dst in cust:
                c.sendto(struct.pack("!BBHII", 0x80, 0, seq & 0xffff, seq * 160, id(c) & 0xffffffff) + payload, dst)
            nxt += 0.02
        for key, _ in sel.select(max(0, nxt - time.monotonic())):
            s = key.fileobj
            while True:
                try: data, src = s.recvfrom(2048)
                except BlockingIOError: break
                count[key.data] += 1
                if key.data == 0: s.sendto(data, src)  # the agent echoes
run(3)
c0, n0, m0, g0 = cpu(), sum(count), machine(), cpu(me)
run(window)
c1, n1, m1, g1 = cpu(), sum(count), machine(), cpu(me)
pk = n1 - n0
print("| rtpengine | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.1f |" % (calls, pk / window, 100 * calls, (c1 - c0) / pk * 1e6, (g1 - g0) / pk * 1e6,
      ((c1 - c0) + (g1 - g0)) / pk * 1e6, (m1 - m0) / pk * 1e6, (rss() - rss0) / calls))
PY
)
  echo "$row"
  RTPENGINE_CPU_PER_PKT[$calls]=$(echo "$row" | awk -F'|' '{print $6}')
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

main_relay() {
  CALLS=${CALLS:-"100 500"}
  WINDOW=${WINDOW:-10}
  WORK=$(mktemp -d)
  PIDS=""
  trap cleanup EXIT
  command -v sipp >/dev/null || { echo "sipp missing: make deps" >&2; exit 1; }
  (cd "$ROOT" && go build -o "$WORK/earshot" ./cmd/earshot)
  # The customer scenario with the talk time long enough for the window.
  sed 's#play_pcap_audio="audio.pcap"#play_pcap_audio="'"$WORK"'/audio.pcap"#; s#INVITE sip:\[service\]#INVITE sip:[field0]#; s#To: <sip:\[service\]#To: <sip:[field0]#g' \
    "$SIPP_DIR/customer_uac.xml" >"$WORK/relay_uac.xml"
  gen_pcap "$WORK/audio.pcap" $((WINDOW + 45))
  declare -gA EARSHOT_CPU_PER_PKT RTPENGINE_CPU_PER_PKT EARSHOT_NET_PER_PKT KERNEL_CPU_PER_PKT KERNEL_NET_PER_PKT EACH_CPU_PER_PKT \
    KAMRTPE_CPU_PER_PKT KAMRTPE_NET_PER_PKT DIRECT_NET_PER_PKT
  echo "earshot $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo dev), $(nproc) CPUs, ${WINDOW}s window, 50 packets/s each way per call"
  echo
  echo "| relay | calls | packets/s relayed | expected | relay process, CPU µs per packet | load generator, µs per packet | relay + generator, µs per packet | machine (/proc/stat), µs per packet | RSS KiB per call |"
  echo "|---|---|---|---|---|---|---|---|---|"
  local c
  for c in $CALLS; do
    measure_earshot "$c" off
    [ "${SENDTO:-1}" = 1 ] && measure_earshot "$c" each
    if [ "${KERNEL:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then
      measure_earshot "$c" on
    elif [ "${KERNEL:-1}" = 1 ]; then
      echo "| earshot in-kernel | $c | – | – | – | – | – | – | – (not root: BPF programs cannot be loaded) |"
    fi
  done
  if declare -F measure_rtpengine >/dev/null && command -v rtpengine >/dev/null; then
    local kam=0
    if [ "${KAMAILIO:-1}" != 0 ] && command -v kamailio >/dev/null; then kam=1; fi
    for c in $CALLS; do
      if [ "$kam" = 1 ]; then
        measure_kamailio_rtpengine "$c"
        measure_direct "$c"
      fi
      measure_rtpengine "$c"
    done
    echo
    for c in $CALLS; do
      # Relay + generator less the generator alone: each relay's whole
      # cost per packet, comparable across relays driven by the same sipps.
      if [ -n "${DIRECT_NET_PER_PKT[$c]:-}" ] && [ -n "${KAMRTPE_NET_PER_PKT[$c]:-}" ]; then
        awk -v c="$c" -v d="${DIRECT_NET_PER_PKT[$c]}" -v r="${KAMRTPE_NET_PER_PKT[$c]}" -v e="${EARSHOT_NET_PER_PKT[$c]:-}" -v k="${KERNEL_NET_PER_PKT[$c]:-}" 'BEGIN {
          rr = r - d
          printf "%d calls, whole cost (relay + sipps less the sipps alone, %.2f µs): rtpengine behind Kamailio %.2f µs per packet", c, d, rr
          if (e != "") printf ", earshot %.2f (%.2fx)", e - d, (rr > 0 ? (e - d) / rr : 0)
          if (k != "") printf ", earshot in-kernel %.2f (%.2fx)", k - d, (rr > 0 ? (k - d) / rr : 0)
          printf "\n" }'
      fi
      if [ -n "${KAMRTPE_CPU_PER_PKT[$c]:-}" ]; then
        awk -v c="$c" -v e="${EARSHOT_CPU_PER_PKT[$c]}" -v r="${KAMRTPE_CPU_PER_PKT[$c]}" -v en="${EARSHOT_NET_PER_PKT[$c]}" -v rn="${KAMRTPE_NET_PER_PKT[$c]}" \
          'BEGIN {printf "%d calls, same sipps: earshot uses %.2fx the CPU per packet of rtpengine (userspace) behind Kamailio; relay + sipps %.2fx\n", c, e / r, en / rn}'
      fi
      awk -v c="$c" -v e="${EARSHOT_CPU_PER_PKT[$c]}" -v r="${RTPENGINE_CPU_PER_PKT[$c]}" \
        'BEGIN {printf "%d calls: earshot uses %.2fx the CPU per packet of rtpengine (userspace) driven by its Python peer\n", c, e / r}'
      if [ -n "${EACH_CPU_PER_PKT[$c]:-}" ]; then
        awk -v c="$c" -v e="${EACH_CPU_PER_PKT[$c]}" -v r="${RTPENGINE_CPU_PER_PKT[$c]}" \
          'BEGIN {printf "%d calls, one sendto per packet: earshot uses %.2fx the CPU per packet of rtpengine (userspace)\n", c, e / r}'
      fi
      if [ -n "${KERNEL_CPU_PER_PKT[$c]:-}" ]; then
        awk -v c="$c" -v k="${KERNEL_CPU_PER_PKT[$c]}" -v kn="${KERNEL_NET_PER_PKT[$c]}" -v r="${RTPENGINE_CPU_PER_PKT[$c]}" -v en="${EARSHOT_NET_PER_PKT[$c]}" \
          'BEGIN {printf "%d calls, in-kernel: the earshot process uses %.2fx rtpengine'"'"'s CPU per packet; earshot + sipps %.2fx what they use with the userspace relay\n", c, k / r, kn / en}'
      fi
    done
  else
    echo
    echo "rtpengine is not installed: no baseline in this run"
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main_relay "$@"
fi

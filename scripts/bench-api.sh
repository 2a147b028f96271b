#!/usr/bin/env bash
# bench-api.sh — the control plane's reads timed whole, over HTTP, against
# a running earshot holding thousands of real SIP calls: GET /api/v1/calls
# and GET /api/v1/stats, p50/p99, with the calls steady and then while
# short calls come and go beside them.
#
#   scripts/bench-api.sh                          # 5,000 held calls
#   HELD=2000 REQUESTS=200 scripts/bench-api.sh
#   CHURN=200 scripts/bench-api.sh                # short calls/s during the second pass
#   PAGE=100 scripts/bench-api.sh                 # the page size of the paged read (500)
#   PROFILE=prof/api scripts/bench-api.sh         # + prof/api.pprof: 4 s of the first pass
#
# Part of `make bench-peers`.
#
# Topology, all on loopback, as scripts/bench-sip.sh (whose helpers it
# uses): a sipp UAC (127.0.0.2, the demo trunk) sets up HELD calls at
# SETUP_RATE calls/s through earshot to a sipp UAS answering as HELD
# registered agents (HELD/10 groups of 10), and holds them; each call has
# its media session (four sockets), so the process needs about 4 x HELD
# descriptors: the script raises its limit, and where it cannot, holds as
# many calls as the limit allows and says so.
# curl (one keep-alive connection) then times REQUESTS requests of each
# path from the request's first byte to the response's last, as a
# supervisor of the tenant (the whole list, and a page of PAGE calls as
# a client paging the list reads each). Timings include
# the client's own reading of the bytes; what the handler alone costs is
# control's BenchmarkListCalls5000/Stats5000.
# Needs: go, sipp, python3, curl. Prints a Markdown table.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench-sip.sh
source "$ROOT/scripts/bench-sip.sh"

# served_over HTTP PATH: how many requests of PATH earshot's handler
# took over 5 ms for, from its own latency histogram
# (earshot_api_request_duration_seconds): the count, minus those in the
# buckets up to 5 ms.
served_over() {
  curl -sf "http://$1/metrics" | awk -v route="GET ${2%%\?*}" '
    index($0, "earshot_api_request_duration_seconds_") == 1 && index($0, "route=\"" route "\"") {
      if ($0 ~ /_count/) all = $NF
      if ($0 ~ /le="0.005"/) fast = $NF
    }
    END {print all - fast}'
}

# timeit HTTP TOKEN N LABEL PATH...: N requests of each PATH on one
# keep-alive connection (curl, from the request's first byte to the
# response's last), a table row per path, with how many took over 5 ms
# and, when HTTP is earshot's (TOKEN not "-"), how many of those its
# handler itself took over 5 ms for. curl, not Python: reading 2 MB into
# a Python object added milliseconds to one request in ten.
timeit() {
  local addr=$1 token=$2 n=$3 label=$4 path cfg="$WORK/curl.cfg" over0 over
  shift 4
  for path in "$@"; do
    for _ in $(seq "$n"); do printf 'url = "http://%s%s"\noutput = "/dev/null"\n' "$addr" "$path"; done >"$cfg"
    [ "$token" = - ] || over0=$(served_over "$addr" "$path")
    curl -s --fail -K "$cfg" -H "Authorization: Bearer $token" -w '%{http_code} %{size_download} %{time_total}\n' >"$WORK/times"
    over=–
    [ "$token" = - ] || over=$(($(served_over "$addr" "$path") - over0))
    sort -g -k3 "$WORK/times" | awk -v label="$label" -v path="$path" -v n="$n" -v over="$over" '
        $1 != 200 {bad++} {t[NR] = $3 * 1000; size = $2; if (t[NR] > 5) slow++}
        END {
          if (bad || NR != n) {printf "GET %s: %d of %d requests failed\n", path, bad + n - NR, n > "/dev/stderr"; exit 1}
          printf "| %s | %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %d | %s |\n", label, path, NR, size / 1024,
            t[int(NR * 0.5) + 1], t[int(NR * 0.9) + 1], t[int(NR * 0.99) + 1], t[NR], slow, over
        }'
  done
}

# floor_server PORT FILE: a minimal HTTP/1.1 server on 127.0.0.1:PORT
# that answers every request on a kept-alive connection with FILE's bytes
# in one send: what moving the same answer to the same client costs on
# this machine, with no work behind it (the floor under earshot's rows).
floor_server() {
  # exec: run in the background, the server is the job itself, which the
  # cleanup's kill then reaches (a child of a subshell outlived it).
  exec python3 - "$@" <<'PY'
import socket, sys
body = open(sys.argv[2], "rb").read()
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    buf = b""
    while True:
        data = conn.recv(65536)
        if not data:
            break
        buf += data
        while b"\r\n\r\n" in buf:
            _, buf = buf.split(b"\r\n\r\n", 1)
            conn.sendall(head + body)
    conn.close()
PY
}

# live_calls HTTP TOKEN: the number of answered calls in GET /api/v1/calls.
live_calls() {
  python3 - "$@" <<'PY'
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=30)
c.request("GET", "/api/v1/calls", headers={"Authorization": "Bearer " + sys.argv[2]})
r = c.getresponse()
calls = json.loads(r.read())["calls"] if r.status == 200 else []
print(sum(1 for x in calls if x.get("state") == "answered"))
PY
}

api_main() {
  HELD=${HELD:-5000}
  REQUESTS=${REQUESTS:-300}
  SETUP_RATE=${SETUP_RATE:-500}
  CHURN=${CHURN:-100}
  PAGE=${PAGE:-500}
  WORK=$(mktemp -d)
  PIDS=""
  trap cleanup EXIT
  command -v sipp >/dev/null || { echo "sipp missing: make deps" >&2; exit 1; }
  # Four sockets per held call, and the short calls' for the two seconds
  # their ports rest bound after them (2 s), with margin. The media
  # engine binds ports only within the open-file limit less a reserve
  # (an eighth, at least 1,024: rtpengine's keepBudget), so the limit
  # must leave that reserve above them.
  local churn=$((CHURN * 4 * 3)) ports need limit budget
  ports=$((HELD * 4 + churn))
  need=$((ports * 8 / 7 + 8))
  [ "$need" -ge $((ports + 1024)) ] || need=$((ports + 1024))
  if [ "$(ulimit -n)" -lt "$need" ] && ! ulimit -n "$need" 2>/dev/null; then
    limit=$(ulimit -n)
    budget=$((limit - limit / 8))
    [ $((limit / 8)) -ge 1024 ] || budget=$((limit - 1024))
    local fit=$(((budget - churn) / 4 / 10 * 10))
    echo "note: $HELD calls need about $need file descriptors; the limit here is $(ulimit -n) and cannot be raised (hard limit $(ulimit -Hn); raising it needs CAP_SYS_RESOURCE): holding $fit calls" >&2
    HELD=$fit
  fi
  (cd "$ROOT" && go build -o "$WORK/earshot" ./cmd/earshot)

  # HELD/10 groups of 10 agents for the held calls, 20 more for the
  # short ones.
  local held=$(((HELD + 9) / 10)) groups sip http
  groups=$((held + 20))
  sip="127.0.0.1:$(free_port 127.0.0.1)"; http="127.0.0.1:$(free_port 127.0.0.1)"
  # Held calls send no RTP: keep them past the whole run.
  MEDIA_TIMEOUT=1h write_config "$WORK/earshot.yaml" "$groups" 10 20000 59999 "$sip" "$http" "$WORK/data"
  start_earshot "$WORK/earshot.yaml"
  PIDS="$EARSHOT_PID"
  # Held calls cycle over their groups' numbers: every call finds a free
  # agent. The short calls go to the last 20 groups.
  { echo SEQUENTIAL; for g in $(seq 0 $((held - 1))); do echo "$((5000 + g));"; done; } >"$WORK/numbers.csv"
  { echo SEQUENTIAL; for g in $(seq "$held" $((groups - 1))); do echo "$((5000 + g));"; done; } >"$WORK/churn.csv.in"
  local uas="127.0.0.3:$(free_port 127.0.0.3)"
  register "$SIP_ADDR" "$uas" bench $(seq 7000 $((7000 + groups * 10 - 1)))
  sipp -sf "$SIPP_DIR/agent_uas.xml" -t u1 -i 127.0.0.3 -p "${uas##*:}" -mi 127.0.0.3 -mp 6002 \
    -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -nostdin >/dev/null 2>&1 &
  UAS_PID=$!
  PIDS="$PIDS $UAS_PID"

  echo "earshot $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo dev), $(nproc) CPUs, $HELD held calls, $REQUESTS requests per path"
  sipp -sf "$SIPP_DIR/hold_uac.xml" -inf "$WORK/numbers.csv" -t u1 \
    -i 127.0.0.2 -p "$(free_port 127.0.0.2)" -mi 127.0.0.2 -mp 6000 \
    -r "$SETUP_RATE" -m "$HELD" -l "$HELD" -d 3600000 -buff_size 4194304 \
    -max_recv_loops 10000 -max_sched_loops 10000 -nostdin \
    -trace_err -error_file "$WORK/hold.err" "$SIP_ADDR" >"$WORK/hold.out" 2>&1 &
  local hold=$!
  PIDS="$PIDS $hold"
  local live=0 t
  for t in $(seq 120); do
    sleep 1
    live=$(live_calls "$HTTP_ADDR" bench-token-sup)
    [ "$live" -lt "$HELD" ] || break
    kill -0 "$hold" 2>/dev/null || break
  done
  if [ "$live" -lt "$HELD" ]; then
    echo "only $live of $HELD calls answered after ${t}s" >&2
    tail -5 "$WORK/hold.err" >&2 || true
    exit 1
  fi
  echo "$live answered calls live after ${t}s; earshot RSS $(($(rss_kib "$EARSHOT_PID") / 1024)) MiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| calls | path | requests | response KiB | p50 ms | p90 ms | p99 ms | max ms | over 5 ms | over 5 ms in the handler |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  local prof=""
  if [ -n "${PROFILE:-}" ]; then
    mkdir -p "$(dirname "$PROFILE")"
    curl -sf -o "$PROFILE.pprof" "http://$HTTP_ADDR/debug/pprof/profile?seconds=4" &
    prof=$!
  fi
  timeit "$HTTP_ADDR" bench-token-sup "$REQUESTS" "$HELD held" /api/v1/calls "/api/v1/calls?limit=$PAGE" /api/v1/stats /healthz
  [ -z "$prof" ] || wait "$prof" || echo "no profile" >&2
  # The floor: the same list's bytes from a server that does nothing
  # else, and earshot's health check (no work, no body).
  curl -sf -o "$WORK/calls.json" -H "Authorization: Bearer bench-token-sup" "http://$HTTP_ADDR/api/v1/calls"
  local floor
  floor="127.0.0.1:$(free_port 127.0.0.1)"
  floor_server "${floor##*:}" "$WORK/calls.json" &
  PIDS="$PIDS $!"
  for t in $(seq 50); do curl -sf -o /dev/null "http://$floor/" && break; sleep 0.1; done
  timeit "$floor" - "$REQUESTS" "floor: the same bytes, a minimal server" /

  # The same while short calls start and end beside the held ones, so
  # the list's encoded calls keep changing.
  sipp -sf "$SIPP_DIR/bench_uac.xml" -inf "$WORK/churn.csv.in" -t u1 \
    -i 127.0.0.2 -p "$(free_port 127.0.0.2)" -mi 127.0.0.2 -mp 6010 \
    -r "$CHURN" -l $((CHURN * 4)) -buff_size 4194304 -nostdin \
    -trace_stat -stf "$WORK/churn.csv" -fd 1 "$SIP_ADDR" >"$WORK/churn.out" 2>&1 &
  local churn=$!
  PIDS="$PIDS $churn"
  sleep 2
  local c0
  c0=$(cpu_ticks "$EARSHOT_PID")
  timeit "$HTTP_ADDR" bench-token-sup "$REQUESTS" "$HELD held + $CHURN/s short" /api/v1/calls "/api/v1/calls?limit=$PAGE" /api/v1/stats
  kill "$churn" 2>/dev/null || true
  wait "$churn" 2>/dev/null || true
  local ok fail
  ok=$(stat_col "$WORK/churn.csv" 'SuccessfulCall(C)'); fail=$(stat_col "$WORK/churn.csv" 'FailedCall(C)')
  echo
  echo "short calls during the second pass: $ok successful, $fail failed"
  echo "earshot CPU during the second pass: $(awk -v d=$(($(cpu_ticks "$EARSHOT_PID") - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f s", d / hz}'); load $(cut -d' ' -f1-3 /proc/loadavg)"
}

api_main "$@"

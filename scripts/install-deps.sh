#!/usr/bin/env bash
# Installs the SIP peers the tests use (sipp, baresip, Kamailio),
# systemd-analyze (the service unit's check) and chromium (the browser the
# workspace tests drive, headless) when they are missing. Without root or apt it only reports; those tests then fail with
# a message naming the missing tool.
set -eu
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd) # verifies deploy/systemd/earshot.service
command -v kamailio >/dev/null 2>&1 || missing+=(kamailio)       # the SBC in front of earshot (e2e)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)       # the workspace's browser tests (e2e)
# SIP.js, the web softphone library the WebRTC interop test runs in
# chromium, comes from the npm registry (npm pack checks its integrity).
sipjs_version=0.21.2
sipjs_dir="$(dirname "$0")/../.cache/sipjs-$sipjs_version"
if [ ! -f "$sipjs_dir/package/lib/index.js" ]; then
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
fetch_sipjs() {
  [ -f "$sipjs_dir/package/lib/index.js" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; cannot fetch SIP.js $sipjs_version (the SIP.js interop test will fail)" >&2
    return 0
  fi
  mkdir -p "$sipjs_dir"
  (cd "$sipjs_dir" && npm pack --silent "sip.js@$sipjs_version" >/dev/null && tar xzf "sip.js-$sipjs_version.tgz" && rm -f "sip.js-$sipjs_version.tgz") ||
    echo "warning: could not fetch SIP.js $sipjs_version (the SIP.js interop test will fail)" >&2
}
if [ ${#missing[@]} -eq 0 ]; then
  fetch_sipjs
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: cannot install ${missing[*]}; interop tests will fail" >&2
fi
fetch_sipjs

#!/usr/bin/env bash
# Makes Debian's `chromium` available for the report's headless screenshot test.
# Prints the browser's path and exits 0 when it is (or becomes) available; otherwise prints
# why not on stderr and exits 1 (the test then skips with that reason).
set -uo pipefail

find_browser() {
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

if find_browser; then exit 0; fi
if [[ "$(id -u)" != 0 ]]; then
  echo "chromium is not installed and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is not installed and this system has no apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "apt-get install chromium failed:" >&2
  tail -n 20 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
find_browser || { echo "chromium installed but not on PATH" >&2; exit 1; }

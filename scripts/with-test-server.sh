#!/usr/bin/env bash
# with-test-server.sh [SERVER OPTIONS...] -- COMMAND [ARGS...]
# Starts the bundled SPICE test server (build/tests/server/spice-test-server,
# $GST_SPICE_BUILDDIR instead of build when set) on a free loopback port,
# runs COMMAND with SPICE_URI set to it (and any argument that is exactly
# {uri} replaced by it), then stops the server.  Exits with COMMAND's
# status.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=${SPICE_TEST_SERVER:-$top/${GST_SPICE_BUILDDIR:-build}/tests/server/spice-test-server}
opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [server options] -- command..." >&2; exit 2; }

work=$(mktemp -d)
server_pid=
cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/ctl"
"$server" "${opts[@]}" <"$work/ctl" >"$work/server.log" 2>"$work/server.err" &
server_pid=$!
exec 3>"$work/ctl"      # the server exits when its stdin closes
for _ in $(seq 200); do
  grep -q '^LISTENING' "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
host=$(awk '/^LISTENING tcp/ {print $3}' "$work/server.log")
port=$(awk '/^LISTENING tcp/ {print $4}' "$work/server.log")
if [ -z "$port" ]; then
  echo "error: the SPICE test server did not start:" >&2
  cat "$work/server.err" >&2
  exit 1
fi
case $host in *:*) host="[$host]" ;; esac   # --ipv6
export SPICE_URI="spice://$host:$port"
cmd=()
for a in "$@"; do
  if [ "$a" = "{uri}" ]; then cmd+=("$SPICE_URI"); else cmd+=("$a"); fi
done
rc=0
"${cmd[@]}" || rc=$?
echo quit >&3 || true
exit $rc

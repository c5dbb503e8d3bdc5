#!/usr/bin/env bash
# The README's main job: build, start the bundled SPICE test server, record
# its display for a few seconds with a stock gst-launch-1.0 pipeline
# (spicesrc ! videoconvert ! x264enc ! matroskamux ! filesink), stop the
# server, and say what the file holds.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/scripts/bootstrap.sh"
cd "$top"

seconds=${DEMO_SECONDS:-5}
out=${DEMO_OUTPUT:-$top/build/demo/spice-demo.mkv}
mkdir -p "$(dirname "$out")"
export GST_PLUGIN_PATH="$top/build/ext/spice${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

record() {
  local pipeline="spicesrc uri=$SPICE_URI ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast ! matroskamux ! filesink location=$out"
  local log rc=0
  log=$(mktemp)
  echo "==> Recording $SPICE_URI (the bundled test server, 1280x720 at 30 fps) for $seconds s:"
  echo "    gst-launch-1.0 -e $pipeline"
  # SIGINT makes gst-launch-1.0 -e send EOS, so the file is finalised;
  # timeout's own status for that is 124
  timeout -s INT -k 10 "$seconds" gst-launch-1.0 -e $pipeline >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then cat "$log" >&2; rm -f "$log"; return $rc; fi
  rm -f "$log"
}
export -f record
export seconds out
"$top/scripts/with-test-server.sh" --size 1280x720 --fps 30 -- bash -c record
echo "==> Stopped the server. Wrote $out ($(stat -c %s "$out") bytes)"

info=$(gst-discoverer-1.0 "$out")
res=$(printf '%s\n' "$info" | awk '/Width:/ {w=$2} /Height:/ {h=$2} END {print w "x" h}')
dur=$(printf '%s\n' "$info" | awk '/Duration:/ {print $2; exit}')
codec=$(printf '%s\n' "$info" | awk '/video #/ {sub(/.*video #[0-9]+: /, ""); print; exit}')
frames=$(gst-launch-1.0 -v filesrc location="$out" ! matroskademux ! fakesink silent=false sync=false 2>/dev/null |
  grep -c 'last-message = chain' || true)
echo "    video:      $codec"
echo "    resolution: $res"
echo "    frames:     $frames"
echo "    duration:   $dur"
[ "$frames" -gt 0 ] || { echo "error: no frames recorded" >&2; exit 1; }

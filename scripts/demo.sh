#!/usr/bin/env bash
# The README's main job: build, start the bundled SPICE test server, record
# its display and its sound for a few seconds with a stock gst-launch-1.0
# pipeline (spicesrc: video ! I420 ! x264enc, audio ! opusenc, into
# matroskamux ! filesink), stop the server, and say what the file holds,
# with the H.264 profile (an error if it is not 4:2:0, what players decode).
# DEMO_BUILD_DIR: use that build as it is (no package check, no build;
# the meson test "demo" does that).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${DEMO_BUILD_DIR:-}" ]; then
  build=$DEMO_BUILD_DIR
else
  "$top/scripts/bootstrap.sh"
  build=$top/${GST_SPICE_BUILDDIR:-build}
fi
cd "$top"

seconds=${DEMO_SECONDS:-5}
out=${DEMO_OUTPUT:-$build/demo/spice-demo.mkv}
mkdir -p "$(dirname "$out")"
export GST_PLUGIN_PATH="$build/ext/spice${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export SPICE_TEST_SERVER=${SPICE_TEST_SERVER:-$build/tests/server/spice-test-server}

record() {
  local pipeline="spicesrc uri=$SPICE_URI name=s s.video ! queue ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=veryfast ! mux. s.audio ! queue ! audioconvert ! opusenc ! mux. matroskamux name=mux ! filesink location=$out"
  local log rc=0
  log=$(mktemp)
  echo "==> Recording $SPICE_URI (the bundled test server, 1280x720 at 30 fps, a 440 Hz tone) for $seconds s:"
  echo "    gst-launch-1.0 -e $pipeline"
  # SIGINT makes gst-launch-1.0 -e send EOS, so the file is finalised;
  # timeout's own status for that is 124
  timeout -s INT -k 10 "$seconds" gst-launch-1.0 -e $pipeline >"$log" 2>&1 || rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then cat "$log" >&2; rm -f "$log"; return $rc; fi
  rm -f "$log"
}
export -f record
export seconds out
"$top/scripts/with-test-server.sh" --size 1280x720 --fps 30 --audio --audio-signal sine -- bash -c record
echo "==> Stopped the server. Wrote $out ($(stat -c %s "$out") bytes)"

info=$(gst-discoverer-1.0 "$out")
res=$(printf '%s\n' "$info" | awk '/Width:/ {w=$2} /Height:/ {h=$2} END {print w "x" h}')
dur=$(printf '%s\n' "$info" | awk '/Duration:/ {print $2; exit}')
codec=$(printf '%s\n' "$info" | awk '/video #/ {sub(/.*video #[0-9]+: /, ""); print; exit}')
acodec=$(printf '%s\n' "$info" | awk '/audio #/ {sub(/.*audio #[0-9]+: /, ""); print; exit}')
arate=$(printf '%s\n' "$info" | awk '/Sample rate:/ {print $3; exit}')
achannels=$(printf '%s\n' "$info" | awk '/Channels:/ {print $2; exit}')
count() {
  gst-launch-1.0 -v filesrc location="$out" ! matroskademux name=d "d.$1" ! fakesink silent=false sync=false 2>/dev/null |
    grep -c 'last-message = chain' || true
}
frames=$(count video_0)
packets=$(count audio_0)
# the video's caps as gst-discoverer reads them back (through its parser)
vcaps=$(gst-discoverer-1.0 -v "$out" | awk '/video #[0-9]+: video\/x-h264/ {print; exit}')
profile=$(printf '%s\n' "$vcaps" | sed -n 's/.*profile=(string)\([^,]*\).*/\1/p')
chroma=$(printf '%s\n' "$vcaps" | sed -n 's/.*chroma-format=(string)\([^,]*\).*/\1/p')
echo "    video:      $codec"
echo "    profile:    ${profile:-unknown}, chroma ${chroma:-unknown}"
echo "    resolution: $res"
echo "    frames:     $frames"
echo "    audio:      $acodec, $arate Hz, $achannels channels, $packets packets"
echo "    duration:   $dur"
[ "$frames" -gt 0 ] || { echo "error: no frames recorded" >&2; exit 1; }
[ "$packets" -gt 0 ] || { echo "error: no sound recorded" >&2; exit 1; }
[ "$chroma" = "4:2:0" ] || { echo "error: the video is H.264 $profile with chroma $chroma, not 4:2:0: most players and browsers cannot decode it" >&2; exit 1; }

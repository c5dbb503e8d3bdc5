#!/usr/bin/env bash
# Packs what the GPU suites (tests/gpu, `meson test --suite gpu`) need into
# ./.gpu-bundle, for a machine that has an NVIDIA GPU but no GStreamer (the
# workplace's device machine; docs: ../shared/docs/HARDWARE.md):
#   - the suites' programs, the SPICE test server, gst-launch-1.0,
#     gst-inspect-1.0 and gst-plugin-scanner (bin/);
#   - this build's plugins and the system plugins the suites use (plugins/),
#     the SPICE client helper beside them (plugins/client/);
#   - the shared libraries all of them need, minus glibc and the GL/EGL
#     loaders (lib/; the loaders come from Debian's libegl1 & co., unpacked
#     on the machine, see the device tool's README);
#   - run-gpu-tests.sh: runs every test of the gpu suite with the
#     environment meson would give it, paths rewritten to the bundle.
# Build first (scripts/bootstrap.sh).  Usage: scripts/gpu-bundle.sh
# (writes .gpu-bundle and .gpu-bundle.tar.xz, both git-ignored)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
out=.gpu-bundle
build=build
sysplugins=$(pkg-config --variable=pluginsdir gstreamer-1.0)
scanner=$(pkg-config --variable=pluginscannerdir gstreamer-1.0)/gst-plugin-scanner

[ -f "$build/build.ninja" ] || { echo "error: build first (scripts/bootstrap.sh)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/plugins" "$out/lib"

# the gpu suite's tests, from meson
meson introspect --tests "$build" >"$out/tests.json"
mapfile -t programs < <(python3 - "$out/tests.json" <<'PY'
import json, sys
seen = set()
for t in json.load(open(sys.argv[1])):
    if not any("gpu" in s for s in t["suite"]):
        continue
    for a in t["cmd"] + list(t["env"].values()):
        if a.startswith("/") and ":" not in a and a not in seen:
            seen.add(a)
            print(a)
PY
)
for p in "${programs[@]}"; do
  [ -x "$p" ] && [ -f "$p" ] && cp "$p" "$out/bin/"
done
cp "$(command -v gst-launch-1.0)" "$(command -v gst-inspect-1.0)" "$scanner" "$out/bin/"

cp "$build"/ext/spice/libgstspice.so "$build"/ext/gpu/libgstspicegpu.so "$out/plugins/"
# the SPICE client helper: found beside the plugin (plugins/client/)
mkdir -p "$out/plugins/client"
cp "$build"/ext/spice/client/gst-spice-client "$out/plugins/client/"
for p in coreelements app videoconvertscale videotestsrc opengl nvcodec; do
  cp "$sysplugins/libgst$p.so" "$out/plugins/"
done

# the libraries' closure, without glibc and the GL/EGL loaders
skip='^(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|libEGL|libGL|libGLESv2|libGLX|libGLdispatch|libOpenGL)\.so'
for f in "$out"/bin/* "$out"/plugins/*.so "$out"/plugins/client/*; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  name=$(basename "$lib")
  [[ "$name" =~ $skip ]] || cp -L "$lib" "$out/lib/"
done

cat >"$out/run-gpu-tests.sh" <<'EOF'
#!/usr/bin/env bash
# Runs the gpu suite from this bundle; exit 0 unless a test failed
# (77 = skipped, as meson counts it).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export GST_PLUGIN_SYSTEM_PATH_1_0="$here/plugins" GST_PLUGIN_PATH_1_0=""
export GST_PLUGIN_SCANNER_1_0="$here/bin/gst-plugin-scanner"
export GST_REGISTRY_1_0="${TMPDIR:-/tmp}/gst-spice-gpu-registry.bin"
rm -f "$GST_REGISTRY_1_0"
exec python3 - "$here" "$@" <<'PY'
import json, os, subprocess, sys
here, only = sys.argv[1], sys.argv[2:]
def local(a):
    return os.path.join(here, "bin", os.path.basename(a)) if a.startswith("/") and os.path.exists(os.path.join(here, "bin", os.path.basename(a))) else a
failed = 0
for t in json.load(open(os.path.join(here, "tests.json"))):
    if not any("gpu" in s for s in t["suite"]) or (only and t["name"] not in only):
        continue
    env = dict(os.environ)
    for k, v in t["env"].items():
        if k.startswith("GST_PLUGIN") or k == "GST_REGISTRY_1_0":
            continue
        env[k] = local(v)
    cmd = [local(a) for a in t["cmd"]]
    try:
        r = subprocess.run(cmd, env=env, timeout=t.get("timeout") or 120)
        rc = r.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    verdict = "OK" if rc == 0 else "SKIP" if rc == 77 else "FAIL"
    failed += verdict == "FAIL"
    print(f"==> {t['name']}: {verdict} ({rc})", flush=True)
sys.exit(1 if failed else 0)
PY
EOF
chmod +x "$out/run-gpu-tests.sh"
# the device tool carries 64 MiB at most; ICU's data alone is 31 MB
tar -cJf "$out.tar.xz" "$out"
du -sh "$out" "$out.tar.xz"
echo "wrote $out.tar.xz: carry it (and .gl, the EGL loaders) to the GPU machine;"
echo "there: tar -xJf $out.tar.xz && $out/run-gpu-tests.sh [TEST...]"

#!/usr/bin/env bash
# The suites that do not run under valgrind, again with AddressSanitizer
# and UndefinedBehaviorSanitizer: a second build in ./build-asan (the
# plugins, the client helper, the test server and the suites), any
# sanitizer report fails the run.  CI runs it after scripts/test.sh.
#
# GST_REGISTRY_FORK=no: the registry is scanned in-process (the scanner
# would load the instrumented plugins without the ASan runtime); the ASan
# runtime is preloaded so that gst-launch-1.0 (which the suites run) can
# load them too; leak detection is valgrind's job (the leak suites);
# SIGSEGV/SIGABRT are left to kill (the suites send them to the helper).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/scripts/bootstrap.sh" >/dev/null
cd "$top"
if [ ! -f build-asan/build.ninja ]; then
  echo "==> Configuring the sanitizer build (meson setup build-asan)"
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
echo "==> Building with ASan and UBSan (ninja -C build-asan)"
ninja -C build-asan >/dev/null

export LD_PRELOAD
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export GST_REGISTRY_FORK=no
export ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_abort=0
export UBSAN_OPTIONS=print_stacktrace=1
# the audio jitter and drift runs for 10 s instead of 30: the same paths
# for memory errors; their timing is the plain runs' job
export SPICE_TEST_CLOCK_SECONDS=10
echo "==> Running the check and example suites under ASan and UBSan"
rc=0
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes 2 \
  --suite check --suite examples || rc=$?

# a report that did not fail its test (a helper, a subprocess) fails the run
findings=$(grep -cE "runtime error:|ERROR: AddressSanitizer" \
  build-asan/meson-logs/testlog.txt || true)
echo "sanitizer findings: $findings"
if [ "$findings" -gt 0 ]; then
  grep -E -A12 "runtime error:|ERROR: AddressSanitizer" \
    build-asan/meson-logs/testlog.txt | head -60
  rc=1
fi
exit $rc

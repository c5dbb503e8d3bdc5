#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): the same setup as the
# demo, then the whole suite.  The exit code is the verdict.
# GST_SPICE_BUILDDIR names the build folder (default build).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
builddir=${GST_SPICE_BUILDDIR:-build}
# a build that fails must not leave the last run's verdict behind
rm -f "$top/$builddir/meson-logs/testlog.json"
"$top/scripts/bootstrap.sh"
cd "$top"
echo "==> Running the test suite (meson test -C $builddir)"
rc=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || rc=$?

# one closing line: meson's tests by outcome
python3 "$top/scripts/test-summary.py" "$builddir/meson-logs/testlog.json"
exit $rc

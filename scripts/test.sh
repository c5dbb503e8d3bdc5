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
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
n = {"passed": 0, "failed": 0, "skipped": 0}
for line in filter(str.strip, open(sys.argv[1])):
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        n["passed"] += 1
    elif r == "SKIP":
        n["skipped"] += 1
    else:
        n["failed"] += 1
print(f"{n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped")
PY
exit $rc

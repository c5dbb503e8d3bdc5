#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): the same setup as the
# demo, then the whole suite.  The exit code is the verdict.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/scripts/bootstrap.sh"
cd "$top"
echo "==> Running the test suite (meson test -C build)"
rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?

# one closing line: meson's tests by outcome
python3 - build/meson-logs/testlog.json <<'PY'
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

#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): the same setup as the
# demo, then the whole suite.  The exit code is the verdict.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/scripts/bootstrap.sh"
cd "$top"
echo "==> Running the test suite (meson test -C build)"
meson test -C build --print-errorlogs --num-processes 2 "$@"

#!/usr/bin/env python3
"""The closing line of a test run: meson's testlog.json files (one per
run) counted by outcome.  A log that is missing (the run never got to its
tests, e.g. the build failed) counts as one failure."""
import json
import os
import sys

n = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    if not os.path.exists(path):
        n["failed"] += 1
        continue
    for line in filter(str.strip, open(path)):
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            n["passed"] += 1
        elif r == "SKIP":
            n["skipped"] += 1
        else:
            n["failed"] += 1
print(f"{n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped")

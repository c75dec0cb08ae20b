"""Schemathesis over the whole central JSON API for longer than the test suite does: every check,
every phase (examples, coverage, fuzzing, stateful), many examples per operation, against
``aquastand-cloud serve`` on SQLite with the demo chain, as its owner (tests/cloud/apifuzz.py
sets it up the same way for tests/cloud/test_schemathesis.py).

    .venv/bin/python bench/schemathesis_api.py [--examples 100] [--seed N] [--sync]

``--sync`` runs it over the stands' API (``/sync/v1/openapi.json``) instead, as a stand of the
demo's first site, provisioned and enrolled (tests/cloud/test_sync_schemathesis.py's short run).

Prints Schemathesis's report, then ``schemathesis_api cases=… failures=… seconds=…``; exits 1
when anything failed."""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cloud.apifuzz import demo_service, enrolled_stand, run_schemathesis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="default: a new one each run")
    parser.add_argument("--workers", type=int, default=1, help="Schemathesis's concurrent ones")
    parser.add_argument("--sync", action="store_true", help="the stands' API, as a stand")
    args = parser.parse_args()
    options = ["--max-examples", str(args.examples), "--workers", str(args.workers)]
    if args.seed is not None:
        options += ["--seed", str(args.seed)]
    print(
        f"machine: {platform.machine()} {platform.processor()} python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as data_dir, demo_service(Path(data_dir)) as service:
        stand_token = enrolled_stand(service) if args.sync else None
        started = time.monotonic()
        result = run_schemathesis(service, *options, stand_token=stand_token)
        seconds = time.monotonic() - started
        errors = [
            line
            for line in (Path(data_dir) / "server.log").read_text().splitlines()
            if "level=error" in line
        ]
    report = result.stdout + result.stderr
    print(report)
    print("server errors logged:", len(errors), *errors[:20], sep="\n")
    generated = re.search(r"(\d+) generated", report)
    failures = re.search(r"(\d+) failures?", report)
    print(
        f"schemathesis_api{'_sync' if args.sync else ''} cases={generated[1] if generated else '?'} "
        f"failures={failures[1] if failures else 0} seconds={seconds:.0f} exit={result.returncode}"
    )
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The JSON API is what its OpenAPI document says: Schemathesis, a fuzzing client no one here
wrote, runs every check (server errors, undocumented statuses, responses off their schema,
schema-valid data refused, schema-invalid data accepted, 405 without Allow, ...) over every
operation, in every phase including the stateful one, against the service on SQLite with the
demo chain, as its owner. A fixed seed and a few examples per operation keep it short and
repeatable; bench/schemathesis_api.py runs the same for longer."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cloud.apifuzz import demo_service, run_schemathesis

SEED = "20261206"
EXAMPLES = "20"  # per operation and phase: about two minutes on the 2-core machine


def test_schemathesis_finds_no_failure_in_the_api(tmp_path: Path) -> None:
    with demo_service(tmp_path / "data") as service:
        result = run_schemathesis(
            service, "--seed", SEED, "--max-examples", EXAMPLES, timeout_s=900
        )

    report = result.stdout + result.stderr
    assert "Tested: " in report, report  # the document was read and its operations run
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts is not None and counts[1] == counts[2], report  # every case passed
    assert result.returncode == 0, report

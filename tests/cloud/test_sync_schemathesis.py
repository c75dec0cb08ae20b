"""The stands' API is what its OpenAPI document (``/sync/v1/openapi.json``) says: Schemathesis
runs every check over every operation, in every phase including the stateful one, against the
service on SQLite with the demo chain, as a stand of its first site, provisioned and enrolled.
A fixed seed and a few examples per operation keep it short; ``bench/schemathesis_api.py --sync``
runs the same for longer."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cloud.apifuzz import demo_service, enrolled_stand, run_schemathesis

SEED = "20261207"
EXAMPLES = "25"  # per operation and phase: about a minute on the 2-core machine


def test_schemathesis_finds_no_failure_in_the_stands_api(tmp_path: Path) -> None:
    with demo_service(tmp_path / "data") as service:
        token = enrolled_stand(service)
        result = run_schemathesis(
            service, "--seed", SEED, "--max-examples", EXAMPLES, timeout_s=600, stand_token=token
        )

    report = result.stdout + result.stderr
    assert "Tested: " in report, report  # the document was read and its operations run
    assert "7 selected" in report, report  # protocol 2 added the window and the head
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts is not None and counts[1] == counts[2], report  # every case passed
    assert result.returncode == 0, report

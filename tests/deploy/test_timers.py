"""The central host's timers (issue 20): shipped with the central unit, accepted by
systemd-analyze, each starting a one-shot service that runs an aquastand-cloud command that
exists, as the central service's user with its configuration, on the schedule it promises."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cloud.cli import main as cloud_cli
from tests.conftest import need
from tests.deploy.test_units import SYSTEMD_ANALYZE, _render
from tests.deploy.units import SCHEDULED, one, read_unit, service

SCHEDULES = {
    "aquastand-mailings": "*-*-* *:*:00",
    "aquastand-expire-points": "*-*-* 03:30:00",
    "aquastand-integrity": "*-*-* *:00/5:00",
    "aquastand-receipts": "*-*-* *:*:00",
    "aquastand-payments": "*-*-* *:00/5:00",
    "aquastand-alerts": "*-*-* *:00/2:00",
}


def test_systemd_analyze_verify_accepts_every_timer_and_its_service(tmp_path: Path) -> None:
    need(Path(SYSTEMD_ANALYZE).exists(), "systemd-analyze")
    names = [f"{base}.{kind}" for base in SCHEDULED for kind in ("service", "timer")]
    rendered = [_render(name, tmp_path) for name in names]
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, rendered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("base", SCHEDULED)
def test_each_timer_runs_an_existing_command_as_the_central_service(base: str) -> None:
    unit = service(f"{base}.service")
    central = service("aquastand-cloud.service")
    assert one(unit, "Type") == "oneshot"
    assert one(unit, "User") == one(central, "User") == "aquastand"
    assert unit["Environment"] == [e for e in central["Environment"] if "PYTHON" not in e]
    program, command, *rest = shlex.split(one(unit, "ExecStart"))
    assert program == "/opt/aquastand/venv/bin/aquastand-cloud" and rest == []
    assert command in cloud_cli.commands, command


@pytest.mark.parametrize("base", SCHEDULED)
def test_each_timer_is_enabled_with_its_schedule_and_catches_up_after_downtime(base: str) -> None:
    need(Path(SYSTEMD_ANALYZE).exists(), "systemd-analyze")
    timer = read_unit(f"{base}.timer")
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert one(timer["Timer"], "Persistent") == "true"
    normalised = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", one(timer["Timer"], "OnCalendar")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert f"Normalized form: {SCHEDULES[base]}" in normalised

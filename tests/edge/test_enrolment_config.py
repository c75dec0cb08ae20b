"""What ``aquastand-edge enrol`` leaves in the data directory, as the configuration reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import load_config


def _enrolled(data_dir: Path, **record: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "enrolment.json").write_text(json.dumps(record))
    (data_dir / "stand_token").write_text("12.secret\n")


def test_the_enrolment_gives_the_stand_its_ids_and_central_service(tmp_path: Path) -> None:
    _enrolled(tmp_path, stand_id=12, site_id=3, central_url="http://central.example")

    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})

    assert (config.stand_id, config.site_id) == (12, 3)
    assert config.central_url == "http://central.example"
    assert config.stand_token() == "12.secret"
    assert config.token_path == tmp_path / "stand_token"


def test_the_toml_file_and_the_environment_win_over_the_enrolment(tmp_path: Path) -> None:
    _enrolled(tmp_path, stand_id=12, site_id=3, central_url="http://central.example")
    (tmp_path / "edge.toml").write_text("site_id = 4\n")

    config = load_config(
        environ={"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_EDGE_STAND_ID": "13"}
    )

    assert (config.stand_id, config.site_id) == (13, 4)


def test_a_stand_not_enrolled_has_no_central_service_and_no_token(tmp_path: Path) -> None:
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})

    assert (config.stand_id, config.central_url) == (0, "")
    assert config.stand_token() is None
    assert config.sync_interval_s == 2.0


def test_a_damaged_enrolment_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "enrolment.json").write_text("{not json")

    with pytest.raises(ValueError, match="enrolment"):
        load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})

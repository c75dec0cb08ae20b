"""The camera's tuning comes from the stand's configuration (TOML and environment)."""

from __future__ import annotations

from pathlib import Path

from edge.camera import camera_tuning
from edge.config import load_config
from hardware.camera import CameraTuning


def test_by_default_the_camera_focuses_continuously_zooms_twice_and_exposes_half_a_stop_under(
    tmp_path: Path,
) -> None:
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})
    assert camera_tuning(config) == CameraTuning(lens_position=None, zoom=2.0, exposure_value=-0.5)


def test_a_fixed_focus_zoom_and_exposure_come_from_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "edge.toml").write_text(
        "camera_lens_position = 4.0\ncamera_zoom = 1.5\ncamera_stops_under = 1.0\n"
    )
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})
    assert camera_tuning(config) == CameraTuning(lens_position=4.0, zoom=1.5, exposure_value=-1.0)

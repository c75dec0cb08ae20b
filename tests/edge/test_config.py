"""The stand's configuration: defaults, the TOML file, and the environment over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config


def test_defaults_suit_a_raspberry_pi(tmp_path: Path) -> None:
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})

    assert (config.port, config.nfc_device, config.pin_factory, config.camera) == (
        8080,
        "usb",
        "lgpio",
        "picamera2",
    )
    assert (config.pin_red, config.pin_green, config.pin_blue, config.pin_buzzer) == (
        17,
        27,
        22,
        18,
    )
    assert (config.max_session_s, config.max_session_kopecks, config.debounce_s) == (10800, 0, 3.0)
    assert config.database_path == tmp_path / "edge.sqlite3"
    assert config.camera_path == tmp_path / "camera"


def test_the_environment_wins_over_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "edge.toml").write_text(
        'port = 9000\nstand_id = 3\nnfc_device = "tty:AMA0:pn532"\npin_factory = "mock"\n'
        "overdraft_limit_kopecks = 20000\n"
    )

    config = load_config(
        environ={
            "AQUASTAND_DATA_DIR": str(tmp_path),
            "AQUASTAND_EDGE_PORT": "9100",
            "AQUASTAND_NFC_DEVICE": "udp:127.0.0.1:50000",
            "AQUASTAND_EDGE_TAP_REPEAT_S": "1.5",
        }
    )

    assert (config.port, config.stand_id, config.nfc_device) == (9100, 3, "udp:127.0.0.1:50000")
    assert (config.pin_factory, config.overdraft_limit_kopecks, config.tap_repeat_s) == (
        "mock",
        20000,
        1.5,
    )


def test_overrides_win_over_everything(tmp_path: Path) -> None:
    config = load_config(
        environ={"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_EDGE_PORT": "9100"}, port=9200
    )

    assert config.port == 9200


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"pin_factory": "rpigpio"}, "pin_factory must be one of"),
        ({"camera": "webcam"}, "camera must be one of"),
        ({"max_session_s": -1}, "must not be negative"),
        ({"port": 70000}, "port must be between"),
        ({"port": "eighty"}, "port: not a valid value"),
        ({"colour": "green"}, "unknown configuration keys: colour"),
        ({"nfc_targets": "106A,847X"}, "nfc_targets must be some of"),
        ({"nfc_targets": " , "}, "nfc_targets must be some of"),
    ],
)
def test_a_bad_setting_is_refused_by_name(
    tmp_path: Path, setting: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)}, **setting)


def test_only_type_a_cards_are_polled_unless_configured(tmp_path: Path) -> None:
    env = {"AQUASTAND_DATA_DIR": str(tmp_path)}
    assert load_config(environ=env).nfc_target_list == ("106A",)
    env["AQUASTAND_EDGE_NFC_TARGETS"] = "106A, 212F"
    assert load_config(environ=env).nfc_target_list == ("106A", "212F")

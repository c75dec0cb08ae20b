"""The stand's configuration: one dataclass, loaded from a TOML file and the environment.

Precedence: defaults < ``<data dir>/enrolment.json`` (written by ``aquastand-edge enrol``: the
stand and site ids and the central service's URL) < TOML file (``AQUASTAND_EDGE_CONFIG`` or ``<data dir>/edge.toml``) <
environment < overrides given by the caller (tests, ``--simulate``). Every field can be set as
``AQUASTAND_EDGE_<NAME>`` (``AQUASTAND_EDGE_PORT`` for ``port``); ``AQUASTAND_DATA_DIR`` and
``AQUASTAND_NFC_DEVICE`` are accepted as the issue names them.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hardware.nfc import TARGETS as NFC_TARGETS
from sync.errors import RuleError
from sync.funds import check_overdraft

ENV_PREFIX = "AQUASTAND_EDGE_"
ENROLMENT_FILE = "enrolment.json"
TOKEN_FILE = "stand_token"  # noqa: S105 - a file name, not a secret
ENROLMENT_KEYS = ("stand_id", "site_id", "central_url")
ALIASES = {"data_dir": "AQUASTAND_DATA_DIR", "nfc_device": "AQUASTAND_NFC_DEVICE"}
CHOICES = {"pin_factory": ("lgpio", "mock"), "camera": ("picamera2", "directory")}
OPTIONAL_INTS = {"pin_relay"}  # unset (None) unless given; "" or "none" in the environment
PINS = ("pin_red", "pin_green", "pin_blue", "pin_buzzer", "pin_relay")


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aquastand-edge"


@dataclass
class EdgeConfig:
    """Settings of one stand. Amounts in kopecks, times in seconds; 0 turns a limit off."""

    data_dir: Path = field(default_factory=default_data_dir)
    stand_id: int = 0  # the central Stand id (0: not provisioned yet, no events can be made)
    site_id: int = 0  # the site whose directory this stand loads (0: the first one loaded)
    port: int = 8080  # the touchscreen's HTTP port
    nfc_device: str = "usb"  # nfcpy path: usb, tty:S0:pn532, tty:AMA0:pn532, udp:127.0.0.1:PORT
    # The card types polled, comma-separated nfcpy types: 106A (MIFARE, NTAG; the chain's
    # cards), 212F (FeliCa), 106B, 424F. Each one more costs every sense cycle its wait.
    nfc_targets: str = "106A"
    pin_factory: str = "lgpio"  # lgpio on a Raspberry Pi, mock (gpiozero MockFactory) otherwise
    pin_red: int = 17
    pin_green: int = 27
    pin_blue: int = 22
    pin_buzzer: int = 18
    led_active_high: bool = True  # false: a common-anode LED, lit by pulling its pins low
    buzzer_active_high: bool = True  # false: a buzzer board that sounds on a low pin
    # The post's equipment relay, on exactly while a session is open here (None: no relay).
    pin_relay: int | None = None
    relay_active_high: bool = True  # false: a relay board that switches on a low pin
    camera: str = "picamera2"  # or "directory": frames from image files in camera_dir
    camera_dir: str = ""  # empty: <data_dir>/camera
    # hardware.camera.CameraTuning: a fixed focus in dioptres (4.0: 25 cm; 0, which would be
    # infinity, no use for a phone: continuous autofocus where the module has it), the zoom on
    # the middle of the view, the stops under spot metering.
    camera_lens_position: float = 0.0
    camera_zoom: float = 2.0
    camera_stops_under: float = 0.5  # ExposureValue = minus this
    debounce_s: float = 3.0  # the reader reports one UID once within this time
    tap_repeat_s: float = 2.0  # the engine ignores a credential again this soon after it acted
    # A tap by another client while a session runs here is refused ("post_busy"); the
    # attendant may still start a second session on the screen.
    one_session_per_post: bool = True
    # A tap this soon after its session's start does not end it ("too_soon_to_end"); the
    # screen's end is not held back. 0: a tap ends at once.
    end_guard_s: int = 60
    max_session_s: int = 3 * 3600  # a session running this long ends by itself (0: never)
    max_session_kopecks: int = 0  # a session costing this much ends by itself (0: never)
    # A member's credit at this stand unless the directory gives their own (sync.funds): what
    # they have available to wash counts this much below zero; at most 100 000 ₽.
    overdraft_limit_kopecks: int = 0
    directory_max_age_s: int = 24 * 3600  # an older directory is shown as stale
    # Where a card's "day" for its daily limit begins and ends (the central service's zone).
    timezone: str = "Europe/Moscow"
    screen_idle_lock_s: int = 120  # the touchscreen locks after this long untouched
    central_url: str = ""  # the central service (empty: not enrolled, no sync)
    sync_interval_s: float = 2.0  # the sync agent's cycle while the central service answers
    sync_max_backoff_s: float = 60.0  # the longest wait between attempts while it does not
    sync_batch_size: int = 200  # events per request to the central service
    # Acknowledged events are kept this long (and at most this many) to send again if the
    # central service loses them (a restore from a backup); then pruned.
    outbox_keep_days: float = 30.0
    outbox_keep_max: int = 200_000

    @property
    def database_path(self) -> Path:
        return self.data_dir / "edge.sqlite3"

    @property
    def nfc_target_list(self) -> tuple[str, ...]:
        """:attr:`nfc_targets` as the tuple the reader takes."""
        return tuple(part.strip() for part in self.nfc_targets.split(",") if part.strip())

    @property
    def camera_path(self) -> Path:
        return Path(self.camera_dir) if self.camera_dir else self.data_dir / "camera"

    @property
    def token_path(self) -> Path:
        """The stand's secret token for the central service (owner-only)."""
        return self.data_dir / TOKEN_FILE

    @property
    def enrolment_path(self) -> Path:
        return self.data_dir / ENROLMENT_FILE

    def stand_token(self) -> str | None:
        """The token ``aquastand-edge enrol`` stored, or None if the stand is not enrolled."""
        try:
            token = self.token_path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return token or None


def _coerce(name: str, raw: object, current: object) -> object:
    if name in OPTIONAL_INTS:
        text = str(raw).strip()
        return None if text.lower() in {"", "none"} else int(text)
    if isinstance(current, bool):
        return str(raw).lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(str(raw))
    if isinstance(current, float):
        return float(str(raw))
    if name == "data_dir":
        return Path(str(raw)).expanduser()
    return str(raw)


def _check(config: EdgeConfig) -> None:
    for name, choices in CHOICES.items():
        if getattr(config, name) not in choices:
            raise ValueError(f"{name} must be one of: {', '.join(choices)}")
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int | float) and value < 0:
            raise ValueError(f"{f.name} must not be negative")
    _check_pins(config)
    targets = config.nfc_target_list
    if not targets or set(targets) - set(NFC_TARGETS):
        raise ValueError(f"nfc_targets must be some of: {', '.join(NFC_TARGETS)}")
    try:
        check_overdraft(config.overdraft_limit_kopecks)
    except RuleError as error:
        raise ValueError(f"overdraft_limit_kopecks: {error.message}") from None
    if not 1 <= config.port <= 65535:
        raise ValueError("port must be between 1 and 65535")
    try:
        ZoneInfo(config.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"timezone: unknown time zone {config.timezone!r}") from None


def _check_pins(config: EdgeConfig) -> None:
    """Refuse two devices on one GPIO pin (the relay on the LED's pin would switch the
    equipment with the light)."""
    seen: dict[int, str] = {}
    for name in PINS:
        pin = getattr(config, name)
        if pin is None:
            continue
        if pin in seen:
            raise ValueError(
                f"{name}: GPIO {pin} is already {seen[pin]}; give each device its own pin"
            )
        seen[pin] = name


def _from_env(env: Mapping[str, str], name: str) -> str | None:
    """The environment's value for field ``name``: ``AQUASTAND_EDGE_<NAME>``, else the alias."""
    for key in (ENV_PREFIX + name.upper(), ALIASES.get(name)):
        if key and key in env:
            return env[key]
    return None


def _enrolment(path: Path) -> dict[str, object]:
    """The stand and site ids and central URL recorded at enrolment (empty if not enrolled)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a valid enrolment file: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a valid enrolment file")
    return {key: data[key] for key in ENROLMENT_KEYS if key in data}


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: object
) -> EdgeConfig:
    """Build the configuration; ``overrides`` win over everything. ValueError on a bad value
    or an unknown key."""
    env = os.environ if environ is None else environ
    config = EdgeConfig()
    data_dir = overrides.get("data_dir") or _from_env(env, "data_dir")
    if data_dir:
        config.data_dir = Path(str(data_dir)).expanduser()
    toml_path = path or (
        Path(env["AQUASTAND_EDGE_CONFIG"]) if "AQUASTAND_EDGE_CONFIG" in env else None
    )
    toml_path = toml_path or config.data_dir / "edge.toml"
    values: dict[str, object] = {}
    values.update(_enrolment(config.data_dir / ENROLMENT_FILE))
    if toml_path.exists():
        with toml_path.open("rb") as fh:
            values.update(tomllib.load(fh))
    for f in fields(config):
        value = _from_env(env, f.name)
        if value is not None:
            values[f.name] = value
    values.update(overrides)
    unknown = set(values) - {f.name for f in fields(config)}
    if unknown:
        raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    for name, raw in values.items():
        try:
            setattr(config, name, _coerce(name, raw, getattr(config, name)))
        except ValueError:
            raise ValueError(f"{name}: not a valid value: {raw!r}") from None
    _check(config)
    return config

"""Stand fixtures: a fresh local store per test loaded with a hand-built directory (no
``cloud`` import: the stand is tested on its own), a recording feedback, a clock the test
moves, and the engine on top of them; for the end-to-end tests, a whole stand started in this
process (``start_stand``, ``running``) with helpers to tap cards and poll ``/api/state``."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import StateServer
from edge.stand import Stand
from edge.store import Outbox, Store
from hardware.nfc import emulate_card
from sync import qrtoken
from sync.directory import validate_directory

START = datetime(2024, 6, 10, 10, 0, tzinfo=UTC)
VERSION = 1_718_000_000_000
SITE_ID = 1
STAND_ID = 4
ATTENDANT_ID = 7

IVAN = 1  # member, 1 000 ₽, card, plate and QR code, and a lost card
PETR = 2  # member with no money
GUEST = 3  # guest known by plate
BLOCKED = 4  # blocked member
EXPRESS_FAN = 5  # member whose default tariff is "Экспресс"

IVAN_CARD = "04A1B2C3D4E5F6"
IVAN_LOST_CARD = "10570000"
PETR_CARD = "0BADBA1A"
BLOCKED_CARD = "B10C4ED0"
EXPRESS_CARD = "E4E4E4E4"
IVAN_QR_ID = "1" * 32
REVOKED_QR_ID = "2" * 32

STANDARD, EXPRESS, OLD = 1, 2, 3
STANDARD_NOW, EXPRESS_NOW, STANDARD_LATER, OLD_VERSION = 11, 12, 13, 14


class FakeClock:
    """Wall and monotonic time that move only when the test says so."""

    def __init__(self) -> None:
        self.boot_id = str(uuid.uuid4())
        self.wall = START
        self.mono = 5_000 * 10**9

    def now(self) -> datetime:
        return self.wall

    def monotonic_ns(self) -> int:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += int(seconds * 1e9)

    def reboot(self, down_s: float) -> None:
        """A power cut of ``down_s`` seconds: a new boot whose monotonic clock starts again."""
        self.boot_id = str(uuid.uuid4())
        self.wall += timedelta(seconds=down_s)
        self.mono = 7 * 10**9


class RecordingFeedback:
    """Remembers every pattern played; ``fail`` makes ``play`` raise (a crash at the light)."""

    def __init__(self) -> None:
        self.patterns: list[str] = []
        self.fail = False

    def play(self, pattern: str) -> None:
        if self.fail:
            raise RuntimeError("power cut before the light")
        self.patterns.append(pattern)


QR_PRIVATE_PEM = qrtoken.generate_private_key_pem()
OTHER_PRIVATE_PEM = qrtoken.generate_private_key_pem()


def qr_token(client_id: int, token_id: str, key: bytes = QR_PRIVATE_PEM) -> str:
    return qrtoken.sign(key, qrtoken.QrClaims(token_id, client_id, 1_700_000_000))


def rates(
    member: int, guest: int, step_s: int = 60, min_charge: int = 0, grace_s: int = 0
) -> dict[str, Any]:
    return {
        "member_per_minute": member,
        "guest_per_minute": guest,
        "step_s": step_s,
        "min_charge": min_charge,
        "cap": None,
        "grace_s": grace_s,
    }


def client(client_id: int, kind: str, name: str, balance: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": client_id,
        "kind": kind,
        "name": name,
        "phones": [],
        "blocked": False,
        "default_tariff_id": None,
        "balance_kopecks": balance,
        "ledger_position": 100 + client_id,
        "overdraft_limit_kopecks": None,
        **extra,
    }


def credential(client_id: int, kind: str, value: str, lost: bool = False) -> dict[str, Any]:
    return {"client_id": client_id, "kind": kind, "value": value, "lost": lost}


DIRECTORY: dict[str, Any] = {
    "format": 1,
    "version": VERSION,
    "generated_at": "2024-06-10T06:13:20Z",
    "site_id": SITE_ID,
    "qr_public_key_pem": qrtoken.public_key_pem(QR_PRIVATE_PEM).decode(),
    "default_tariff_id": STANDARD,
    "tariffs": [
        {
            "id": STANDARD,
            "name": "Стандарт",
            "active": True,
            "versions": [
                {
                    "id": STANDARD_NOW,
                    "effective_from": "2020-01-01T00:00:00Z",
                    "rates": rates(1000, 1500, min_charge=5000, grace_s=10),
                },
                {
                    "id": STANDARD_LATER,
                    "effective_from": "2100-01-01T00:00:00Z",
                    "rates": rates(9999, 9999),
                },
            ],
        },
        {
            "id": EXPRESS,
            "name": "Экспресс",
            "active": True,
            "versions": [
                {
                    "id": EXPRESS_NOW,
                    "effective_from": "2020-01-01T00:00:00Z",
                    "rates": rates(2000, 3000),
                }
            ],
        },
        {
            "id": OLD,
            "name": "Старый",
            "active": False,
            "versions": [
                {"id": OLD_VERSION, "effective_from": "2019-01-01T00:00:00Z", "rates": rates(1, 1)}
            ],
        },
    ],
    "clients": [
        client(IVAN, "member", "Иван Петров", 100_000, phones=["+79161234567"]),
        client(PETR, "member", "Пётр Должников", 0),
        client(GUEST, "guest", "", 0),
        client(BLOCKED, "member", "Борис Блоков", 50_000, blocked=True),
        client(EXPRESS_FAN, "member", "Эдуард Быстров", 50_000, default_tariff_id=EXPRESS),
    ],
    "credentials": [
        credential(IVAN, "card", IVAN_CARD),
        credential(IVAN, "card", IVAN_LOST_CARD, lost=True),
        credential(IVAN, "plate", "А123ВС77"),
        credential(IVAN, "qr", IVAN_QR_ID),
        credential(PETR, "card", PETR_CARD),
        credential(GUEST, "plate", "О777ОО99"),
        credential(BLOCKED, "card", BLOCKED_CARD),
        credential(EXPRESS_FAN, "card", EXPRESS_CARD),
    ],
    "revoked_qr_token_ids": [REVOKED_QR_ID],
    "staff": [
        {
            "id": ATTENDANT_ID,
            "full_name": "Анна Смирнова",
            "role": "attendant",
            "pin_hash": "pbkdf2:sha256:1000$salt$0123abcd",
        }
    ],
}


def directory_doc(**changes: Any) -> dict[str, Any]:
    """A deep copy of the test directory with top-level ``changes``."""
    return {**copy.deepcopy(DIRECTORY), **changes}


def with_client(doc: dict[str, Any], client_id: int, **changes: Any) -> dict[str, Any]:
    """``doc`` with one client's fields changed."""
    for row in doc["clients"]:
        if row["id"] == client_id:
            row.update(changes)
    return doc


def events(store: Store, event_type: str | None = None) -> list[Any]:
    """The outbox's events in seq order (each read back through the shared validator)."""
    rows = store.tables.Outbox.select().order_by(store.tables.Outbox.seq)
    found = [row.event() for row in rows]
    return [e for e in found if event_type is None or e.type == event_type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def feedback() -> RecordingFeedback:
    return RecordingFeedback()


@pytest.fixture
def config(tmp_path: Path) -> EdgeConfig:
    return EdgeConfig(data_dir=tmp_path / "stand", stand_id=STAND_ID, site_id=SITE_ID)


@pytest.fixture
def store(config: EdgeConfig, clock: FakeClock) -> Iterator[Store]:
    store = Store(config.database_path)
    store.load_directory(validate_directory(directory_doc()), clock.now())
    yield store
    store.close()


@pytest.fixture
def engine(
    store: Store, feedback: RecordingFeedback, config: EdgeConfig, clock: FakeClock
) -> Engine:
    return Engine(store, feedback, config, clock)


# --- the whole stand in this process (end-to-end tests) -------------------------------------

TAP_S = 3.0  # the udp link waits a second per technology polled: stay a whole cycle and more
DEBOUNCE_S = 1.5
WAIT_S = 15.0


def free_port(kind: socket.SocketKind) -> int:
    """A port of 127.0.0.1 that was free a moment ago, and that /etc/services gives no name:
    nfcpy's udp reader turns its port into a service name and back (60177 became "tfido" and
    the reader never opened)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            socket.getservbyport(port)
        except OSError:
            return port


def load_directory(database: Path, document: dict[str, Any] | None = None) -> None:
    """Load ``document`` (default: the test directory) into the stand database at ``database``."""
    store = Store(database)
    store.load_directory(validate_directory(document or directory_doc()), datetime.now(UTC))
    store.close()


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll ``probe`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def get_state(url: str) -> dict[str, Any] | None:
    try:
        response = requests.get(f"{url}/api/state", timeout=2)
    except requests.ConnectionError:
        return None
    assert response.status_code == 200
    state: dict[str, Any] = response.json()
    return state


def wait_state(url: str, what: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The stand's state, polled over HTTP until ``condition`` holds."""

    def probe() -> dict[str, Any] | None:
        state = get_state(url)
        return state if state is not None and condition(state) else None

    result: dict[str, Any] = wait_for(what, probe)
    return result


def pattern(state: dict[str, Any]) -> str | None:
    last = state["last_feedback"]
    return None if last is None else str(last["pattern"])


def pin_history(stand: Stand, pin: int) -> list[float]:
    return [float(change.state) for change in stand.pin_factory.pin(pin).states]


class Running:
    """A started stand, its state server, and its reader's udp path."""

    def __init__(self, stand: Stand, server: StateServer) -> None:
        self.stand = stand
        self.server = server
        self.url = server.url
        self.nfc = stand.config.nfc_device

    def tap(self, uid: str) -> None:
        emulate_card(self.nfc, uid, duration_s=TAP_S)

    def let_the_card_go(self) -> None:
        """Wait until the reader has seen no card for longer than its debounce window, so the
        next tap is a new one (a card's removal may be noticed a little after it left)."""
        quiet_s = self.stand.config.debounce_s + 0.5
        assert self.stand.reader is not None
        reader = self.stand.reader

        def quiet() -> bool:
            seen = reader.health().last_seen_at
            return seen is None or (datetime.now(UTC) - seen).total_seconds() > quiet_s

        wait_for("the reader to see no card", quiet)


StartStand = Callable[..., Running]


@pytest.fixture
def start_stand(tmp_path: Path) -> Iterator[StartStand]:
    """Start a stand in this process: ``start_stand(document=None, **config_changes)`` loads
    ``document`` (default: the test directory), starts the stand with its state server on a
    free port and its nfcpy reader on a free udp port, waits for the reader and returns it.
    Everything is closed after the test."""
    with contextlib.ExitStack() as stack:

        def start(document: dict[str, Any] | None = None, **changes: Any) -> Running:
            config = EdgeConfig(
                data_dir=tmp_path / "stand",
                stand_id=STAND_ID,
                site_id=SITE_ID,
                port=8080,  # not used: the server below listens on a free port
                nfc_device=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
                pin_factory="mock",
                camera="directory",
                debounce_s=DEBOUNCE_S,
                tap_repeat_s=1.0,
            )
            config = dataclasses.replace(config, **changes)
            load_directory(config.database_path, document)
            stand = stack.enter_context(Stand(config))
            server = stack.enter_context(StateServer(stand, port=0))
            server.start()
            stand.start()
            assert stand.wait_reader(WAIT_S), stand.reader.health() if stand.reader else None
            return Running(stand, server)

        yield start


@pytest.fixture
def running(start_stand: StartStand) -> Running:
    """A started stand with the test directory and the test defaults."""
    return start_stand()

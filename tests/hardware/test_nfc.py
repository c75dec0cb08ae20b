"""The NFC reader on nfcpy's udp link, with cards emulated by nfcpy on the other end."""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hardware.nfc import DEFAULT_TARGETS, NfcpyReader, ReaderHealth, emulate_card
from tests.hardware.waiting import wait_until

FELICA_IDM = "0123456789ABCDEF"
OTHER_IDM = "FEDCBA9876543210"
NXP_NFCID1 = "04A1B2C3D4E5F6"
BOTH = ("106A", "212F")
# The udp link waits a second per technology polled: a card stays one whole poll cycle and more.
TAP_S = 3.0
AFTER_TAP_S = 0.3  # a tap is reported while the card is present; allow the thread to finish


class Taps:
    """A started reader and the identifiers it reported, in order."""

    def __init__(self, reader: NfcpyReader, reported: queue.Queue[str]) -> None:
        self.reader = reader
        self._reported = reported

    def reported(self) -> list[str]:
        time.sleep(AFTER_TAP_S)
        uids = []
        while not self._reported.empty():
            uids.append(self._reported.get_nowait())
        return uids

    def wait_ok(self) -> None:
        wait_until(lambda: self.reader.health().state == "ok", what="the reader to be polling")


@pytest.fixture
def start_reader(udp_path: str) -> Iterator[Callable[..., Taps]]:
    readers: list[NfcpyReader] = []

    def start(path: str = udp_path, **options: Any) -> Taps:
        # Most tests tap FeliCa cards (the udp link's quickest); the stand polls Type A alone.
        options.setdefault("targets", BOTH)
        reported: queue.Queue[str] = queue.Queue()
        reader = NfcpyReader(path, reported.put, **options)
        readers.append(reader)
        reader.start()
        return Taps(reader, reported)

    yield start
    for reader in readers:
        reader.close()


def test_a_tap_reports_the_exact_uid(start_reader: Callable[..., Taps], udp_path: str) -> None:
    taps = start_reader()
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    assert taps.reported() == [FELICA_IDM]


def test_a_type_a_card_reports_its_nfcid1(start_reader: Callable[..., Taps], udp_path: str) -> None:
    taps = start_reader()
    emulate_card(udp_path, NXP_NFCID1.lower(), duration_s=TAP_S)
    assert taps.reported() == [NXP_NFCID1]


def test_by_default_only_type_a_cards_are_polled(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    taps = start_reader(targets=DEFAULT_TARGETS)
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    emulate_card(udp_path, NXP_NFCID1, duration_s=TAP_S)
    assert DEFAULT_TARGETS == ("106A",)
    assert taps.reported() == [NXP_NFCID1]


@pytest.mark.parametrize("targets", [(), ("106A", "847X")])
def test_unknown_card_types_are_refused(targets: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="card types"):
        NfcpyReader("udp:127.0.0.1:9", lambda uid: None, targets=targets)


def test_two_taps_within_the_debounce_window_are_one_report(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    taps = start_reader(debounce_s=30.0)
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    assert taps.reported() == [FELICA_IDM]


def test_a_tap_after_the_debounce_window_is_reported_again(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    # On a loaded machine the emulated card may answer a presence check late: the reader then
    # loses the card and finds it again a poll cycle (about a second) later, the same tap.
    taps = start_reader(debounce_s=1.5)
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    time.sleep(2.0)  # the card is away longer than the debounce window
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    assert taps.reported() == [FELICA_IDM, FELICA_IDM]


def test_a_different_card_within_the_window_is_reported(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    taps = start_reader(debounce_s=30.0)
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    emulate_card(udp_path, OTHER_IDM, duration_s=TAP_S)
    assert taps.reported() == [FELICA_IDM, OTHER_IDM]


def test_health_is_ok_while_running_and_tells_when_a_card_was_seen(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    taps = start_reader()
    taps.wait_ok()
    assert taps.reader.health() == ReaderHealth("ok", "", None, 0)
    before = time.time()
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    health = taps.reader.health()
    assert health.state == "ok"
    assert health.last_seen_at is not None
    assert before <= health.last_seen_at.timestamp() <= time.time()


def test_reader_recovers_after_the_link_delivers_a_garbled_frame(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    taps = start_reader()
    taps.wait_ok()
    _, host, port = udp_path.split(":")
    # In place of a card, a broken device answers the reader's poll with a frame that is not
    # hexadecimal; nfcpy's driver raises out of ContactlessFrontend.connect.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as broken:
        broken.bind((host, int(port)))
        broken.settimeout(5)
        _, reader_address = broken.recvfrom(1024)
        broken.sendto(b"212F zz", reader_address)
        wait_until(lambda: taps.reader.health().state != "ok", what="the failure to show")
    health = taps.reader.health()
    assert "Non-hexadecimal" in health.last_error
    wait_until(lambda: taps.reader.health().state == "ok", what="the reader to reopen")
    assert taps.reader.health().reconnects == 1
    emulate_card(udp_path, FELICA_IDM, duration_s=TAP_S)
    assert taps.reported() == [FELICA_IDM]


def test_reader_that_cannot_be_opened_keeps_retrying_and_tells_why(
    start_reader: Callable[..., Taps],
) -> None:
    taps = start_reader("tty:aquastand-no-such-port:pn532", max_backoff_s=0.2)
    wait_until(lambda: taps.reader.health().reconnects >= 3, what="three attempts to reopen")
    health = taps.reader.health()
    assert health.state in ("connecting", "failed")
    assert "No such device" in health.last_error
    started = time.monotonic()
    taps.reader.close()
    assert time.monotonic() - started < 1.0
    assert taps.reader.health().state == "stopped"


def test_an_io_error_swallowed_by_nfcpy_is_a_failure_with_its_cause(
    start_reader: Callable[..., Taps], udp_path: str
) -> None:
    # Sending to the broadcast address without SO_BROADCAST fails in the driver; nfcpy's
    # connect() logs the OSError and returns False, as it does for an unplugged USB reader.
    port = udp_path.rsplit(":", 1)[1]
    taps = start_reader(f"udp:255.255.255.255:{port}", max_backoff_s=0.2)
    wait_until(lambda: taps.reader.health().reconnects >= 2, what="two attempts to reopen")
    assert "[Errno" in taps.reader.health().last_error


@pytest.mark.parametrize("uid", ["", "12345", "XYZ", "00112233445566778899"])
def test_emulating_a_malformed_identifier_is_refused(udp_path: str, uid: str) -> None:
    with pytest.raises(ValueError, match="card identifier"):
        emulate_card(udp_path, uid, duration_s=0.1)


def test_emulating_on_a_port_already_taken_is_an_error(udp_path: str) -> None:
    _, host, port = udp_path.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((host, int(port)))
        with pytest.raises(OSError, match="port in use"):
            emulate_card(udp_path, FELICA_IDM, duration_s=1.0)

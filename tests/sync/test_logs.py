"""The processes' log lines: logfmt fields, journald's way when systemd captures stderr, and a
line repeating every second written once per interval with the count of those dropped."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.nfc import NfcpyReader
from sync.logs import LogfmtFormatter, RepeatFilter, quote, setup_logging, under_journal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, Clock]]:
    """A logger writing through the formatter and a repeat filter on a clock the test moves."""
    stream, clock = io.StringIO(), Clock()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter(journal=False))
    handler.addFilter(RepeatFilter(60.0, clock))
    logger = logging.getLogger("aquastand.test.repeats")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream, clock
    logger.removeHandler(handler)
    logger.propagate = True


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_reader_failing_every_second_is_logged_once_a_minute_with_a_count(
    captured: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, stream, clock = captured
    for _second in range(150):
        logger.warning("NFC reader on %s failed: %s", "usb", "OSError: [Errno 19] No such device")
        clock.now += 1.0

    lines = _lines(stream)
    assert len(lines) == 3  # at 0 s, 60 s and 120 s
    assert "repeated=" not in lines[0]
    assert lines[1].endswith(
        ' msg="NFC reader on usb failed: OSError: [Errno 19] No such device" repeated=59'
    )
    assert lines[2].endswith("repeated=59")


def test_different_lines_are_not_held_back_by_each_other(
    captured: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, stream, _clock = captured
    logger.warning("NFC reader on usb failed: timeout")
    logger.warning("NFC reader on usb failed: no such device")
    logger.error("NFC reader on usb failed: timeout")  # another level: another line
    logger.warning("NFC reader on usb failed: timeout")

    assert [line.split(" msg=")[1] for line in _lines(stream)] == [
        '"NFC reader on usb failed: timeout"',
        '"NFC reader on usb failed: no such device"',
        '"NFC reader on usb failed: timeout"',
    ]


def test_a_line_differing_only_in_its_numbers_is_the_same_line(
    captured: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, stream, clock = captured
    for wait in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0):  # the agent backing off
        logger.warning("sync failed (%s); next attempt in %.1f s", "connection refused", wait)
        clock.now += wait

    lines = _lines(stream)
    assert len(lines) == 2
    assert lines[0].endswith('msg="sync failed (connection refused); next attempt in 0.5 s"')
    assert lines[1].endswith('next attempt in 60.0 s" repeated=6')
    logger.warning("sync failed (%s); next attempt in %.1f s", "HTTP 503", 1.0)
    assert len(_lines(stream)) == 3  # another error is another line


def test_the_same_message_with_another_exception_is_another_line(
    captured: tuple[logging.Logger, io.StringIO, Clock],
) -> None:
    logger, stream, _clock = captured
    for error in (ValueError("bad frame"), ValueError("bad frame"), OSError("unplugged")):
        try:
            raise error
        except (ValueError, OSError):
            logger.exception("the sync cycle failed")

    first_lines = [line for line in _lines(stream) if line.startswith("time=")]
    assert len(first_lines) == 2
    assert first_lines[0].endswith('exc="ValueError: bad frame"')
    assert first_lines[1].endswith('exc="OSError: unplugged"')
    assert "Traceback (most recent call last):" in stream.getvalue()


def test_a_line_has_time_level_logger_and_a_quoted_message() -> None:
    record = logging.LogRecord("edge.stand", logging.INFO, __file__, 1, 'said "hi"\nthen', (), None)
    record.created = 1_764_748_800.25  # 2025-12-03 08:00:00.250 UTC

    line = LogfmtFormatter(journal=False).format(record)

    assert line == (
        'time=2025-12-03T08:00:00.250+00:00 level=info logger=edge.stand msg="said \\"hi\\"\\nthen"'
    )
    assert quote("plain") == "plain"
    assert quote("") == '""'
    assert quote("a=b") == '"a=b"'


def test_under_the_journal_a_line_has_no_time_and_a_priority_prefix() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "edge.stand", logging.ERROR, __file__, 1, "the engine failed", (), sys.exc_info()
        )

    lines = LogfmtFormatter(journal=True).format(record).splitlines()

    assert (
        lines[0]
        == '<3>level=error logger=edge.stand msg="the engine failed" exc="RuntimeError: boom"'
    )
    assert all(line.startswith("<3>") for line in lines)  # the traceback keeps its priority
    assert "time=" not in lines[0]


def test_the_journal_is_recognised_by_the_stream_systemd_named(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream, (tmp_path / "other").open("w") as other:
        status = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}

        assert under_journal(stream, env)
        assert not under_journal(other, env)  # a child of a service, writing elsewhere
        assert not under_journal(stream, {})
        assert not under_journal(io.StringIO(), env)


def test_a_process_under_systemd_writes_journal_lines(tmp_path: Path) -> None:
    """A real process whose stderr is the stream JOURNAL_STREAM names, as systemd starts it."""
    log_file = tmp_path / "journal-stream"
    with log_file.open("w") as stderr:
        status = os.fstat(stderr.fileno())
        code = (
            "import logging; from sync.logs import setup_logging; setup_logging();"
            "[logging.getLogger('hardware.nfc').warning('reader failed') for _ in range(50)];"
            "logging.getLogger('edge.stand').info('ready')"
        )
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"},
            stderr=stderr,
            check=True,
            timeout=30,
        )

    assert log_file.read_text().splitlines() == [
        '<4>level=warning logger=hardware.nfc msg="reader failed"',
        "<6>level=info logger=edge.stand msg=ready",
    ]


def test_a_real_reader_that_cannot_open_its_device_logs_each_line_once_per_interval() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = setup_logging(stream=stream, repeat_interval_s=60.0)
    reader = NfcpyReader("tty:nosuchdevice:pn532", lambda uid: None, max_backoff_s=0.05)
    try:
        reader.start()
        deadline = time.monotonic() + 10
        while reader.health().reconnects < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reader.close()
        root.removeHandler(handler)
        root.setLevel(level)

    assert reader.health().reconnects >= 10
    failures = [line for line in stream.getvalue().splitlines() if "logger=hardware.nfc" in line]
    assert len(failures) == 1, failures
    assert "NFC reader on tty:nosuchdevice:pn532 failed" in failures[0]

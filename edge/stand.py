"""The stand process wired together: store, feedback, engine, NFC reader, QR camera, ticks.

Devices run in their own threads and only put what they saw on one queue; a single engine
worker thread takes items off it, one at a time, in arrival order, and calls the engine. So a
reader never waits on the engine (its callback plays the "seen" blip and does a ``put``), and
the engine never waits on hardware (feedback ``play`` returns at once). An APScheduler
background job puts a tick on the same queue every second, so forgotten sessions end on the
same thread as taps; another copies SQLite's write-ahead log into the database
(``Store.checkpoint``) on a thread of its own, never ahead of a tap. An enrolled stand
(``aquastand-edge enrol``) also runs the sync agent as a job every ``sync_interval_s``
(:mod:`edge.syncwiring`; the agent backs off by itself while the central service is away).

``--simulate`` (:func:`simulated`) selects gpiozero's MockFactory pins, nfcpy's udp reader on
127.0.0.1 and the image-directory camera; ``aquastand-edge tap`` and ``scan`` feed them
(:func:`simulated_nfc_device`, :func:`drop_frame`, :func:`drop_qr_text`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from apscheduler.schedulers.background import BackgroundScheduler

from edge.camera import camera_tuning
from edge.config import EdgeConfig
from edge.display import customer_display
from edge.engine import Engine
from edge.store import Store
from edge.syncwiring import make_agent, sync_state
from edge.watchdog import BeatingSource
from hardware.camera import (
    DirectoryFrameSource,
    FrameSource,
    Picamera2Source,
    QrScanner,
)
from hardware.feedback import SEEN, GpioFeedback, SilentFeedback, make_pin_factory
from hardware.nfc import NfcpyReader
from hardware.relay import GpioOutput, NoOutput, make_output
from sync.agent import SyncAgent
from sync.document import format_utc

log = logging.getLogger(__name__)

SIMULATED_NFC_PORT = 9999
TICK_INTERVAL_S = 1.0
# The worker handles a tick every TICK_INTERVAL_S; none for this long means the worker hangs or
# the scheduler stopped posting them (:meth:`Stand.stopped_loops`).
TICK_STALL_S = 20.0
# The QR camera's thread reads a frame every 0.1 s, or retries a failed camera every 5 s at
# most; silent for this long, it hangs (a stalled camera driver) and the watchdog stops.
CAMERA_STALL_S = 20.0
SYNC_JOB_ID = "sync-agent"
CHECKPOINT_JOB_ID = "wal-checkpoint"
ItemKind = Literal["uid", "qr", "tick"]
_STOP = None


def simulated_nfc_device(config: EdgeConfig) -> str:
    """The udp reader path a simulated stand uses: the configured one if it is a udp path,
    else ``udp:127.0.0.1:9999``."""
    if config.nfc_device.startswith("udp:"):
        return config.nfc_device
    return f"udp:127.0.0.1:{SIMULATED_NFC_PORT}"


def simulated(config: EdgeConfig) -> EdgeConfig:
    """``config`` with MockFactory pins, the udp NFC reader and the image-directory camera."""
    return dataclasses.replace(
        config,
        pin_factory="mock",
        nfc_device=simulated_nfc_device(config),
        camera="directory",
    )


def _package_version() -> str:
    try:
        return version("aquastand")
    except PackageNotFoundError:
        return ""


def health_json(health: Any) -> dict[str, Any]:
    """A device's health snapshot as JSON scalars (times in ISO 8601 UTC)."""
    return {
        key: format_utc(value) if isinstance(value, datetime) else value
        for key, value in dataclasses.asdict(health).items()
    }


class Stand:
    """One stand: open with :meth:`start`, release everything with :meth:`close`.

    >>> with Stand(simulated(load_config())) as stand:
    ...     stand.start()
    """

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.store = Store(config.database_path)
        self.events: queue.Queue[tuple[ItemKind, str] | None] = queue.Queue()
        self._started = False
        self._closed = False
        self._worker: threading.Thread | None = None
        self._last_handled = time.monotonic()  # when the worker last finished an item
        self._scheduler: BackgroundScheduler | None = None
        self.pin_factory: Any = None
        self.feedback: GpioFeedback | SilentFeedback | None = None
        self.relay: GpioOutput | NoOutput | None = None
        self.reader: NfcpyReader | None = None
        self.camera: QrScanner | None = None
        self.frame_source: BeatingSource | None = None
        self.agent: SyncAgent | None = None
        self.gpio_fault = ""  # why the LED, buzzer and relay could not be opened ("" if they were)
        self._camera_beat = time.monotonic()  # when the QR camera's thread last read or retried
        try:
            self._open_gpio(config)
            assert self.feedback is not None and self.relay is not None
            self.engine = Engine(self.store, self.feedback, config, relay=self.relay)
            self.reader = NfcpyReader(
                config.nfc_device,
                self._on_uid,
                debounce_s=config.debounce_s,
                targets=config.nfc_target_list,
            )
            self.camera = QrScanner(self._frame_source(), self._on_qr)
            self.agent = make_agent(
                config, self.store, self.engine, self.device_health, _package_version()
            )
        except BaseException:
            self.close()
            raise

    def _open_gpio(self, config: EdgeConfig) -> None:
        """The LED, buzzer and relay on their pins; on a GPIO failure (no lgpio, the wrong
        chip, a pin taken) the stand runs on without them, telling why (:attr:`gpio_fault`,
        the screen, the heartbeat): cards, codes and the screen still work, where a crash
        would restart into the same failure for ever."""
        try:
            self.pin_factory = make_pin_factory(config.pin_factory)
            self.feedback = GpioFeedback(
                config.pin_red,
                config.pin_green,
                config.pin_blue,
                config.pin_buzzer,
                pin_factory=self.pin_factory,
                led_active_high=config.led_active_high,
                buzzer_active_high=config.buzzer_active_high,
            )
            # Off from here on; the engine turns it on if a session is still open.
            self.relay = make_output(
                config.pin_relay,
                pin_factory=self.pin_factory,
                active_high=config.relay_active_high,
            )
        # Whatever the pin library raises (ImportError, lgpio.error, gpiozero's PinError, ...).
        except Exception as error:
            self.gpio_fault = f"{type(error).__name__}: {error}"
            log.error("GPIO failed, running without light, sound and relay: %s", self.gpio_fault)
            for device in (self.feedback, self.relay, self.pin_factory):
                if device is not None:
                    device.close()
            self.feedback, self.relay, self.pin_factory = SilentFeedback(), NoOutput(), None

    def lights_health(self) -> dict[str, str]:
        """The LED and buzzer (and relay) pins: "ok", or "failed" with the reason."""
        if self.gpio_fault:
            return {"state": "failed", "last_error": self.gpio_fault}
        return {"state": "ok", "last_error": ""}

    @property
    def camera_inbox(self) -> Path:
        """Where the image-directory camera takes its frames from."""
        return self.config.camera_path

    def device_health(self) -> dict[str, dict[str, Any]]:
        """The reader's and the camera's health, as the heartbeat reports them."""
        found: dict[str, dict[str, Any]] = {}
        if self.reader is not None:
            found["reader"] = health_json(self.reader.health())
        if self.camera is not None:
            found["camera"] = health_json(self.camera.health())
        found["lights"] = self.lights_health()
        return found

    def _sync(self) -> None:
        """The sync job: one agent cycle (it skips the cycle itself while backing off)."""
        if self.agent is not None:
            try:
                self.agent.run_once()
            except Exception:
                # A bug or a database error in one cycle must not end the job: next one runs.
                log.exception("the sync cycle failed")
            finally:
                self.store.close()  # this pool thread's connection

    def _checkpoint(self) -> None:
        """The checkpoint job: the write-ahead log into the database, on a pool thread and its
        own connection, so that it never queues ahead of a tap on the engine's worker."""
        try:
            self.store.checkpoint()
        except Exception:
            log.exception("the WAL checkpoint failed")
        finally:
            self.store.close()  # this pool thread's connection

    def _frame_source(self) -> FrameSource:
        source: FrameSource
        if self.config.camera == "picamera2":
            source = Picamera2Source(tuning=camera_tuning(self.config))
        else:
            source = DirectoryFrameSource(self.camera_inbox)
        self.frame_source = BeatingSource(source, self._camera_beats)
        return self.frame_source

    def _camera_beats(self) -> None:
        self._camera_beat = time.monotonic()

    # --- device callbacks (device threads: never block) -------------------------------------

    def _on_uid(self, uid: str) -> None:
        self._seen()
        self.events.put(("uid", uid))

    def _on_qr(self, payload: str) -> None:
        self._seen()
        self.events.put(("qr", payload))

    def _seen(self) -> None:
        """The "seen" blip, at once on the device's thread: the verdict waits for its commit
        (and whatever is ahead of it on the queue), which a slow SD card can stretch to
        seconds. One blip per report: the reader reports a card once per tap, the camera a
        code once per showing."""
        if self.feedback is not None:
            self.feedback.play(SEEN)

    def _post_tick(self) -> None:
        self.events.put(("tick", ""))

    # --- running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine worker, the devices and the tick job (at most once)."""
        if self._started or self._closed:
            return
        self._started = True
        self._last_handled = self._camera_beat = time.monotonic()
        self._worker = threading.Thread(target=self._work, name="engine-worker", daemon=True)
        self._worker.start()
        assert self.reader is not None and self.camera is not None
        self.reader.start()
        self.camera.start()
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self._post_tick,
            "interval",
            seconds=TICK_INTERVAL_S,
            id="engine-tick",
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.add_job(
            self._checkpoint,
            "interval",
            seconds=TICK_INTERVAL_S,
            id=CHECKPOINT_JOB_ID,
            max_instances=1,
            coalesce=True,
        )
        if self.agent is not None:
            self._scheduler.add_job(
                self._sync,
                "interval",
                seconds=self.config.sync_interval_s,
                id=SYNC_JOB_ID,
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
        self._scheduler.start()

    def wait_reader(self, timeout: float) -> bool:
        """Wait until the NFC reader polls; False if ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while self.reader is not None and self.reader.health().state != "ok":
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return self.reader is not None

    def _work(self) -> None:
        """The engine worker: one item at a time, in arrival order, until told to stop."""
        try:
            while (item := self.events.get()) is not _STOP:
                kind, value = item
                try:
                    if kind == "uid":
                        self.engine.on_uid(value)
                    elif kind == "qr":
                        self.engine.on_qr(value)
                    else:
                        self.engine.tick()
                except Exception:
                    # One bad item must not stop the stand; the next tap is served.
                    log.exception("the engine failed on %s", kind)
                self._last_handled = time.monotonic()
        finally:
            self.store.close()  # this thread's connection

    def stopped_loops(self) -> list[str]:
        """The loops of this started stand that do not run (empty when all is well): the engine
        worker (dead, or no tick handled for TICK_STALL_S), the NFC reader's thread, the
        scheduler and the QR camera's thread (dead, or stuck in a read for CAMERA_STALL_S).
        systemd's watchdog is fed only while this is empty (:mod:`edge.watchdog`)."""
        stopped = []
        if self._worker is None or not self._worker.is_alive():
            stopped.append("engine worker")
        elif time.monotonic() - self._last_handled > TICK_STALL_S:
            stopped.append(f"engine worker (no tick handled for {TICK_STALL_S:.0f} s)")
        if self.reader is None or not self.reader.running:
            stopped.append("NFC reader")
        if self._scheduler is None or not self._scheduler.running:
            stopped.append("scheduler")
        if time.monotonic() - self._camera_beat > CAMERA_STALL_S:
            stopped.append(f"QR camera (no frame read for {CAMERA_STALL_S:.0f} s)")
        return stopped

    def close(self) -> None:
        """Stop the tick job, the devices and the worker; release pins and the database."""
        if self._closed:
            return
        self._closed = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        if self.agent is not None:
            self.agent.close()
        for device in (self.reader, self.camera):
            if device is not None:
                device.close()
        if self._worker is not None:
            self.events.put(_STOP)
            self._worker.join()
        if self.feedback is not None:
            self.feedback.close()
        if self.relay is not None:
            self.relay.close()  # the equipment stops with the stand
        if self.pin_factory is not None:
            self.pin_factory.close()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --- what the web app uses of a stand (``edge.screen``) ------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_utc(moment)


def _health(health: Any) -> dict[str, Any]:
    return {
        key: _iso(value) if isinstance(value, datetime) else value
        for key, value in asdict(health).items()
    }


@dataclass(frozen=True)
class StandParts:
    """What the web app uses of a stand: ``devices()`` gives each device's health as JSON;
    ``agent`` is the sync agent of an enrolled stand (None: not enrolled, never online)."""

    config: EdgeConfig
    store: Store
    engine: Engine
    devices: Callable[[], dict[str, Any]]
    agent: SyncAgent | None = None


def parts_of(stand: Stand | StandParts) -> StandParts:
    """``stand``'s parts; a Stand's devices are its NFC reader and QR camera."""
    if isinstance(stand, StandParts):
        return stand

    def devices() -> dict[str, Any]:
        assert stand.reader is not None and stand.camera is not None
        relay = stand.relay if stand.config.pin_relay is not None else None
        return {
            "reader": {"device": stand.config.nfc_device, **_health(stand.reader.health())},
            "camera": {"source": stand.config.camera, **_health(stand.camera.health())},
            # The equipment relay: "on", "off", or None when no relay is wired.
            "relay": None if relay is None else ("on" if relay.is_on else "off"),
            "lights": stand.lights_health(),
        }

    return StandParts(stand.config, stand.store, stand.engine, devices, stand.agent)


def state_of(stand: Stand | StandParts) -> dict[str, Any]:
    """What ``GET /api/state`` returns (see the issue's "Commands and interfaces"); its
    ``display`` is the customer's (:mod:`edge.display`), ``post_busy`` whether a session is
    open here."""
    parts = parts_of(stand)
    store, engine = parts.store, parts.engine
    sessions = store.open_sessions()
    client_ids = {session.client_id for session in sessions}
    names: dict[int, str] = {}
    for client_id in client_ids:
        client = store.client(client_id)
        names[client_id] = "" if client is None else str(client.name)
    plates = store.first_plates(client_ids) if client_ids else {}
    last = engine.last_feedback
    return {
        "open_sessions": [
            {
                "id": session.uuid,
                "client_id": session.client_id,
                "client_name": names.get(session.client_id, ""),
                "plate": plates.get(session.client_id),
                "started_at": _iso(session.started_at),
                "cost_kopecks": engine.running_cost(session),
            }
            for session in sessions
        ],
        "last_feedback": None
        if last is None
        else {
            "pattern": last.pattern,
            "at": _iso(last.at),
            "reason": last.reason,
            "reason_code": last.code,
        },
        "display": customer_display(engine).as_json(),
        "post_busy": bool(sessions),
        "outbox": store.outbox_size(),
        "directory_version": store.directory_version(),
        # The agent's view: a reply from the central service within the last few cycles.
        "online": parts.agent is not None and parts.agent.online(),
        "sync": sync_state(parts.agent, store),
        "devices": parts.devices(),
    }

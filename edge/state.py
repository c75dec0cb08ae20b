"""The stand's web app: the JSON state for the screen and for tests (``GET /api/state``) and
the attendant's touchscreen (:mod:`edge.screen`), one Flask app (:func:`create_state_app`)
served by waitress in a background thread (:class:`StateServer`).

The app needs only what :class:`StandParts` holds (configuration, store, engine, the
devices' health), so tests build it without hardware; a running :class:`Stand` gives its own.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from waitress import create_server, wasyncore

from edge import screen
from edge.config import EdgeConfig
from edge.engine import Engine
from edge.stand import Stand
from edge.store import Store
from edge.syncwiring import sync_state
from sync.agent import SyncAgent
from sync.document import format_utc

CLOSE_GRACE_S = 5.0


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
        return {
            "reader": {"device": stand.config.nfc_device, **_health(stand.reader.health())},
            "camera": {"source": stand.config.camera, **_health(stand.camera.health())},
        }

    return StandParts(stand.config, stand.store, stand.engine, devices, stand.agent)


def state_of(stand: Stand | StandParts) -> dict[str, Any]:
    """What ``GET /api/state`` returns (see the issue's "Commands and interfaces")."""
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
        else {"pattern": last.pattern, "at": _iso(last.at), "reason": last.reason},
        "outbox": store.outbox_size(),
        "directory_version": store.directory_version(),
        # The agent's view: a reply from the central service within the last few cycles.
        "online": parts.agent is not None and parts.agent.online(),
        "sync": sync_state(parts.agent, store),
        "devices": parts.devices(),
    }


def ensure_secret_key(data_dir: Path) -> str:
    """The screen's session key, created on first use and kept owner-only in ``data_dir``."""
    path = data_dir / "screen_secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_state_app(stand: Stand | StandParts) -> Flask:
    """The Flask app serving ``stand``'s state and its touchscreen."""
    parts = parts_of(stand)
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.secret_key = ensure_secret_key(parts.config.data_dir)
    database = parts.store.database

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _disconnect(_error: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    @app.get("/api/state")
    def api_state() -> ResponseReturnValue:
        response = jsonify(state_of(parts))
        response.headers["Cache-Control"] = "no-store"
        return response

    screen.init_app(app, parts, lambda: state_of(parts))
    return app


class StateServer:
    """``create_state_app(stand)`` served by waitress on ``host:port`` in a daemon thread.

    ``port`` 0 picks a free port; :attr:`port` and :attr:`url` tell the one bound.
    """

    def __init__(
        self, stand: Stand | StandParts, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self._server: Any = create_server(
            create_state_app(stand),
            host=host,
            port=stand.config.port if port is None else port,
            threads=4,
            ident="aquastand-edge",
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread (at most once)."""
        if self._thread is None and self._server is not None:
            self._thread = threading.Thread(
                target=self._server.run, name="state-server", daemon=True
            )
            self._thread.start()

    def stopped_loops(self) -> list[str]:
        """["screen server"] once its serving thread has ended, else [] (see Stand's)."""
        thread = self._thread
        return [] if thread is not None and thread.is_alive() else ["screen server"]

    def close(self) -> None:
        """Stop serving: close every socket (from the serving thread), stop the workers."""
        server, thread, self._thread = self._server, self._thread, None
        if server is None:
            return
        self._server = None
        if thread is not None and thread.is_alive():
            # Sockets belong to the serving thread's loop: close them there, which ends it.
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            except OSError:  # the trigger is closed already (the loop is ending): close here
                wasyncore.close_all(server._map)
            thread.join(CLOSE_GRACE_S)
        else:
            wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown(timeout=CLOSE_GRACE_S)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

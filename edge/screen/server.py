"""The stand's web app served by waitress in a background thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from waitress import create_server, wasyncore

if TYPE_CHECKING:
    from edge.stand import Stand, StandParts

CLOSE_GRACE_S = 5.0


class StateServer:
    """``create_state_app(stand)`` served by waitress on ``host:port`` in a daemon thread.

    ``port`` 0 picks a free port; :attr:`port` and :attr:`url` tell the one bound.
    """

    def __init__(
        self, stand: Stand | StandParts, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        from edge.screen import create_state_app  # the package imports this module

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

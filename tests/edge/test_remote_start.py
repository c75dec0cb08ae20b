"""A session started by the central service's ``start_session`` command (edge/remotestart.py,
carried out by edge/syncwiring.py's ``EngineCommands``): as if the client tapped, under the
command's uuid, once however often the command comes; refusals answered by
``command.refused``."""

from __future__ import annotations

import uuid

import pytest

from edge.engine import Engine
from edge.store import Store
from edge.syncwiring import EngineCommands
from sync.agent import Command
from tests.edge.conftest import (
    ATTENDANT_ID,
    BLOCKED,
    IVAN,
    IVAN_CARD,
    PETR,
    RecordingFeedback,
    events,
)


def start_command(client_id: int, command_id: int = 31) -> Command:
    return Command(command_id, "start_session", str(uuid.uuid4()), "", ATTENDANT_ID, client_id)


def test_the_command_starts_the_session_under_its_uuid_once(
    engine: Engine, store: Store, feedback: RecordingFeedback
) -> None:
    command = start_command(IVAN)
    run = EngineCommands(engine)

    run(command)
    run(command)  # repeated by the next poll before the central service applied the start

    session = store.session(command.session_uuid)
    assert session is not None and session.ended_at is None
    assert (session.client_id, session.start_method, session.started_by) == (
        IVAN,
        "dashboard",
        str(ATTENDANT_ID),
    )
    started = events(store, "session.started")
    assert [(e.data.session_uuid, e.data.method, e.actor) for e in started] == [
        (command.session_uuid, "dashboard", str(ATTENDANT_ID))
    ]
    assert events(store, "command.refused") == []
    assert feedback.patterns[-1] == "accepted"
    # The client's card ends it as any session.
    engine.clock.advance(120)
    engine.on_uid(IVAN_CARD)
    assert store.session(command.session_uuid).ended_at is not None


@pytest.mark.parametrize(
    ("client_id", "reason"),
    [(PETR, "insufficient_funds"), (BLOCKED, "blocked"), (999, "unknown")],
)
def test_the_stands_refusals_are_answered_with_the_reason(
    engine: Engine, store: Store, client_id: int, reason: str
) -> None:
    command = start_command(client_id)

    EngineCommands(engine)(command)
    EngineCommands(engine)(command)  # the same command again: answered once by this engine

    assert store.open_sessions() == []
    refused = events(store, "command.refused")
    assert [(e.data.command_id, e.data.session_uuid, e.data.reason) for e in refused] == [
        (command.id, command.session_uuid, reason)
    ]


def test_a_busy_post_and_a_session_of_the_client_already_here_are_refused(
    engine: Engine, store: Store
) -> None:
    engine.on_uid(IVAN_CARD)  # Иван washes here
    run = EngineCommands(engine)

    run(start_command(IVAN, 41))
    run(start_command(PETR, 42))

    reasons = [(e.data.command_id, e.data.reason) for e in events(store, "command.refused")]
    assert reasons == [(41, "already_open"), (42, "post_busy")]
    assert [s.client_id for s in store.open_sessions()] == [IVAN]

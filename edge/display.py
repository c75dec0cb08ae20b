"""What the customer's display shows: derived from the engine's last feedback and the store.

The display is the customer's answer to a tap, read from the stand's state: the locked
touchscreen and ``GET /customer`` show it (:mod:`edge.screen.customer`), ``GET /api/state``
reports it under ``"display"``. Kinds:

- ``idle``: nothing happens ("Приложите карту или покажите QR-код");
- ``started``: a session has just started: the first word of the client's name, the tariff,
  the balance;
- ``ended``: a session has just ended: its duration, what it cost, the balance after (with
  "see the attendant" when that is negative; also an automatic end);
- ``refused``: a tap was refused: the reason in plain words (``edge.refusals``);
- ``running``: a session is open at the post and no verdict is fresh: its elapsed time, its
  running cost and the balance left after that cost. An end held back by ``end_guard_s`` is
  no refusal for the customer (the wash goes on, the light is the calm "running" one): the
  running view with the seconds left until a tap ends it.

A verdict (started, ended, refused) is fresh for ``VERDICT_SHOW_S`` seconds of the engine's
clock after it was played; then the display falls back to running or idle. The verdict names
its session (``LastFeedback.session_uuid``), so the figures are that session's even if
another one opened meanwhile. Nothing of a client is shown beyond the first word of the name:
the customer at the post may not be that client.

Texts are Russian; ``customer_display(..., translate=gettext)`` gives them in the screen's
language (``N_`` marks them for the catalogue, edge/translations/babel.cfg reads this module).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from edge.engine import Engine, LastFeedback
from edge.refusals import N_, REFUSAL_TEXTS, Translate, refusal_text, untranslated
from edge.store import LocalSession

VERDICT_SHOW_S = 8  # how long a verdict stays on the display before it falls back
Kind = Literal["idle", "started", "running", "ended", "refused"]

IDLE_TEXT = N_("Приложите карту или покажите QR-код")
RUNNING_TEXT = N_("Сеанс идёт")
STARTED_TEXT = N_("Сеанс начат. Тариф «%(tariff)s»")
STARTED_NAMED_TEXT = N_("%(name)s, сеанс начат. Тариф «%(tariff)s»")
# The engine's codes of an end (``edge.engine.MESSAGES``) and what the customer reads.
ENDED_TEXTS = {
    "ended": N_("Сеанс завершён"),
    "negative": N_("Сеанс завершён. Баланс отрицательный: обратитесь к администратору"),
    "auto_ended": N_("Сеанс завершён автоматически"),
}


@dataclass(frozen=True)
class Display:
    """One view of the customer's display (``/api/state``'s ``"display"``): money in kopecks,
    None where the kind shows no such figure."""

    kind: Kind
    text: str
    elapsed_s: int | None = None
    cost_kopecks: int | None = None
    balance_kopecks: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def first_name(name: str) -> str:
    """The first word of a client's name: all of them the display may show."""
    words = name.split()
    return words[0] if words else ""


def fresh_verdict(engine: Engine) -> LastFeedback | None:
    """The last feedback if it is a verdict played less than ``VERDICT_SHOW_S`` ago."""
    last = engine.last_feedback
    if last is None:
        return None
    if last.code != "started" and last.code not in ENDED_TEXTS and last.code not in REFUSAL_TEXTS:
        return None  # not a verdict on a tap or a session
    age_s = (engine.clock.now() - last.at).total_seconds()
    return last if 0 <= age_s < VERDICT_SHOW_S else None


def customer_display(engine: Engine, translate: Translate = untranslated) -> Display:
    """What the display shows now (see the module's notes); texts through ``translate``."""
    verdict = fresh_verdict(engine)
    shown = None if verdict is None else _verdict(engine, verdict, translate)
    if shown is not None:
        return shown
    running = _running_session(engine)
    if running is None:
        return Display("idle", translate(IDLE_TEXT))
    return _running(engine, running, translate(RUNNING_TEXT))


def _running(engine: Engine, session: LocalSession, text: str) -> Display:
    """The running view of ``session``: elapsed time, running cost, balance left after it."""
    cost = engine.running_cost(session)
    balance = engine.store.balance_of(session.client_id)
    return Display("running", text, engine.elapsed_s(session), cost, balance - cost)


def _running_session(engine: Engine) -> LocalSession | None:
    """The open session to show: the one the last feedback names if it is still open, else
    the one started last."""
    sessions = engine.store.open_sessions()
    last = engine.last_feedback
    named = [s for s in sessions if last is not None and s.uuid == last.session_uuid]
    if named:
        return named[0]
    return max(sessions, key=lambda s: s.started_at, default=None)


def _verdict(engine: Engine, verdict: LastFeedback, translate: Translate) -> Display | None:
    """The verdict's view; None for a start or an end whose session is not stored."""
    store = engine.store
    session = None if verdict.session_uuid is None else store.session(verdict.session_uuid)
    held_back = verdict.code == "too_soon_to_end"
    if held_back and session is not None and session.ended_at is None:
        return _running(engine, session, _countdown(engine, session, translate))
    if verdict.code in REFUSAL_TEXTS:
        return Display("refused", _refusal_text(verdict, translate))
    if session is None:
        return None
    balance = store.balance_of(session.client_id)
    if verdict.code == "started":
        client = store.client(session.client_id)
        name = first_name(str(client.name)) if client is not None else ""
        tariff = store.tariff_name_of_version(session.tariff_version_id)
        template = translate(STARTED_NAMED_TEXT if name else STARTED_TEXT)
        return Display("started", template % {"name": name, "tariff": tariff}, None, None, balance)
    text = translate(ENDED_TEXTS[verdict.code])
    return Display("ended", text, session.duration_s, session.cost_kopecks, balance)


def _countdown(engine: Engine, session: LocalSession, translate: Translate) -> str:
    """An end held back: how many seconds from now a tap will end ``session``."""
    seconds = max(1, engine.config.end_guard_s - engine.elapsed_s(session))
    return refusal_text(translate(REFUSAL_TEXTS["too_soon_to_end"]), {"seconds": seconds})


def _refusal_text(verdict: LastFeedback, translate: Translate) -> str:
    """The refusal's words; a text naming values this cannot rebuild stays as the engine
    wrote it (Russian)."""
    template = REFUSAL_TEXTS[verdict.code]
    if "%(" in template:
        return verdict.reason
    return translate(template)

"""Linking a card by tapping it on the stand's reader, not by typing its UID: the page asks the
stand to wait for a card (``POST /cards/wait``: the engine's next tap within ``CARD_WAIT_S`` is
only recorded, so it neither starts a session nor is refused as unknown), then polls
``GET /cards/tapped?since=`` for the UID the reader reported after that (the page keeps
``since``, so two pages never mix their waits up and nothing rides on the session cookie). A card that belongs to a
client already is answered with who has it; the form's field stays for typing as before."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from edge.screen.context import bp, display_name, error_text, stand_parts
from edge.screen.login import staff_required
from sync.cards import normalise_card_uid
from sync.errors import RuleError

CARD_WAIT_S = 30
_SECOND_NS = 10**9


def _answer(waiting: bool, uid: str | None = None, error: str | None = None, **more: Any) -> Any:
    response = jsonify({"waiting": waiting, "uid": uid, "error": error, **more})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/cards/wait")
@staff_required
def wait_for_card() -> ResponseReturnValue:
    """The attendant pressed "tap the card": the next card tapped within ``CARD_WAIT_S`` is
    this page's. ``since`` (the stand's monotonic ns) is what the page polls with."""
    engine = stand_parts().engine
    since_ns = engine.clock.monotonic_ns()
    engine.card_wanted_until_ns = since_ns + CARD_WAIT_S * _SECOND_NS
    return _answer(True, since=since_ns)


@bp.post("/cards/cancel")
@staff_required
def cancel_card_wait() -> ResponseReturnValue:
    """Stop waiting (the attendant changed their mind or left the page): taps are taps again."""
    stand_parts().engine.card_wanted_until_ns = 0
    return _answer(False)


@bp.get("/cards/tapped")
@staff_required
def tapped_card() -> ResponseReturnValue:
    """The card tapped within ``CARD_WAIT_S`` after ``?since``: ``uid`` if a client may have
    it, ``error`` if not (or if nothing came in time), ``waiting`` while there is still time."""
    engine = stand_parts().engine
    raw = request.args.get("since", "")
    now_ns = engine.clock.monotonic_ns()
    since_ns = int(raw) if raw.isdigit() and len(raw) < 30 else now_ns + 1
    until_ns = since_ns + CARD_WAIT_S * _SECOND_NS
    tapped = engine.last_card
    if tapped is not None and since_ns <= tapped[1] <= until_ns:
        return _checked(tapped[0])
    if not since_ns <= now_ns <= until_ns:  # the time is up (or ``since`` is not the stand's)
        return _answer(False, error=gettext("Карту не приложили: нажмите ещё раз"))
    return _answer(True)


def _checked(uid: str) -> Any:
    """The UID if a new client may have it, else why not (as when it is typed)."""
    try:
        uid = normalise_card_uid(uid)
    except RuleError as error:
        return _answer(False, error=error_text(error))
    taken = stand_parts().store.credential("card", uid)
    if taken is not None:
        owner = display_name(taken.client, None)
        message = gettext("Карта %(uid)s уже принадлежит клиенту: %(name)s", uid=uid, name=owner)
        return _answer(False, error=message)
    return _answer(False, uid=uid)

"""The customer's display on the real stack: cards presented by nfcpy on its udp link to the
stand's nfcpy reader, MockFactory pins, ``GET /api/state`` over HTTP. One customer's wash
goes idle → started → running → (another client refused at the busy post) → ended → idle."""

from __future__ import annotations

from typing import Any

from edge.display import IDLE_TEXT
from tests.edge.conftest import EXPRESS_CARD, IVAN, IVAN_CARD, StartStand, get_state, wait_state


def kind(state: dict[str, Any]) -> str:
    return str(state["display"]["kind"])


def test_taps_change_what_the_customer_display_shows(start_stand: StartStand) -> None:
    running = start_stand(end_guard_s=0)  # the end follows as soon as the card comes back
    url = running.url

    state = get_state(url)
    assert state is not None
    assert state["display"] == {
        "kind": "idle",
        "text": IDLE_TEXT,
        "elapsed_s": None,
        "cost_kopecks": None,
        "balance_kopecks": None,
    }
    assert state["post_busy"] is False

    running.tap(IVAN_CARD)
    state = wait_state(url, "the start on the display", lambda s: kind(s) == "started")
    assert state["display"]["text"] == "Иван, сеанс начат. Тариф «Стандарт»"
    assert state["display"]["balance_kopecks"] == 100_000
    assert state["post_busy"] is True
    running.let_the_card_go()

    # Once the verdict has shown, the wash itself: time, running cost, balance left.
    state = wait_state(url, "the running session", lambda s: kind(s) == "running")
    shown = state["display"]
    assert shown["text"] == "Сеанс идёт"
    assert shown["elapsed_s"] >= 8
    assert shown["balance_kopecks"] == 100_000 - shown["cost_kopecks"]
    assert state["post_busy"] is True
    # Past the tariff's 10 free seconds, the minimum charge runs.
    state = wait_state(url, "the cost running", lambda s: s["display"]["cost_kopecks"] == 5_000)
    assert (kind(state), state["display"]["balance_kopecks"]) == ("running", 95_000)

    running.tap(EXPRESS_CARD)  # another client at the busy post
    state = wait_state(url, "the refusal on the display", lambda s: kind(s) == "refused")
    assert state["display"]["text"] == "Пост занят"
    assert state["display"]["balance_kopecks"] is None  # nothing of anyone's money
    assert state["post_busy"] is True
    running.let_the_card_go()

    running.tap(IVAN_CARD)
    state = wait_state(url, "the end on the display", lambda s: kind(s) == "ended")
    ended = state["display"]
    assert ended["text"] == "Сеанс завершён"
    assert ended["elapsed_s"] >= 8 and ended["cost_kopecks"] == 5_000
    assert ended["balance_kopecks"] == 95_000 == running.stand.store.balance_of(IVAN)
    assert state["post_busy"] is False
    assert state["open_sessions"] == []

    state = wait_state(url, "the display at rest again", lambda s: kind(s) == "idle")
    assert state["display"]["text"] == IDLE_TEXT

"""The "seen" blip on the whole stand: a card on nfcpy's udp link and a QR code dropped into the
camera's inbox each light the LED pale white from the device's thread before their verdict,
read back from the MockFactory pins."""

from __future__ import annotations

import pytest

from edge.camera import drop_qr_text
from tests.edge.conftest import (
    IVAN,
    IVAN_CARD,
    IVAN_QR_ID,
    WAIT_S,
    Running,
    pattern,
    pin_history,
    qr_token,
    wait_state,
)


@pytest.mark.parametrize("credential", ["card", "qr"])
def test_a_card_or_a_qr_code_is_seen_before_its_verdict(running: Running, credential: str) -> None:
    stand, config = running.stand, running.stand.config
    if credential == "card":
        running.tap(IVAN_CARD)
    else:
        drop_qr_text(stand.camera_inbox, qr_token(IVAN, IVAN_QR_ID))

    wait_state(running.url, "the session to open", lambda s: pattern(s) == "accepted")
    assert stand.feedback is not None and stand.feedback.wait_idle(WAIT_S)
    # Pale white on all three colours first, then the green of "accepted" (straight from
    # the blip, or after it went dark if the commit took longer than the blip).
    assert pin_history(stand, config.pin_red) == [0, 0.4, 0]
    assert pin_history(stand, config.pin_blue) == [0, 0.4, 0]
    assert pin_history(stand, config.pin_green) in ([0, 0.4, 1, 0], [0, 0.4, 0, 1, 0])
    assert pin_history(stand, config.pin_buzzer) == [0, 1, 0]  # the blip is silent

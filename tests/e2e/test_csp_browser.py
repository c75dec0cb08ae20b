"""The Content-Security-Policy in Chromium (issue 19): the owner's pages and the stand's screen
load without a single blocked script or style, and the confirmations and the token field that
were inline handlers still work from /static."""

from __future__ import annotations

from typing import Any

from tests.cloud.conftest import PASSWORD, World
from tests.e2e.conftest import TIMEOUT_MS, StandScreen, log_in

OWNER_PAGES = [
    "/",
    "/clients",
    "/sites",
    "/stands",
    "/tariffs",
    "/staff",
    "/staff/me",
    "/staff/failed-logins",
    "/reports/sessions",
    "/diagnostics",
    "/segments",
]


def csp_violations(page: Any) -> list[str]:
    """Every CSP refusal Chromium reports on ``page`` from now on (a list that fills)."""
    seen: list[str] = []
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


def test_the_owners_pages_break_no_rule_of_the_policy(
    page: Any, live_server: str, world: World
) -> None:
    violations = csp_violations(page)
    page.goto(f"{live_server}/login")
    page.fill("input[name=phone]", world.phone("owner"))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    for path in OWNER_PAGES:
        answer = page.goto(live_server + path)
        assert answer.status == 200, path
    page.goto(f"{live_server}/clients/{world.member.id}")
    page.goto(f"{live_server}/staff/{world.users['operator'].id}")

    # A confirmation that was an inline onsubmit: dismissed, nothing is deleted.
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.click("button.danger")
    page.wait_for_timeout(300)
    assert dialogs and "Удалить сотрудника" in dialogs[0]
    assert page.url.endswith(f"/staff/{world.users['operator'].id}")

    # The new token's field selects itself when focused (was an inline onfocus).
    page.goto(f"{live_server}/staff/me")
    page.click("button:has-text('Создать токен')")
    page.wait_for_load_state()
    page.focus("#new-token input")
    selected = page.evaluate(
        "() => { const f = document.querySelector('#new-token input');"
        " return f.selectionEnd - f.selectionStart; }"
    )
    assert selected == len(page.input_value("#new-token input")) > 20
    assert violations == []


def test_the_stand_screen_breaks_no_rule_of_the_policy(
    page: Any, stand_screen: StandScreen
) -> None:
    violations = csp_violations(page)
    page.goto(f"{stand_screen.url}/customer")
    page.goto(f"{stand_screen.url}/lock")
    log_in(page, stand_screen.url)
    page.wait_for_url(f"{stand_screen.url}/", timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the dashboard's polls and the keyboard's script run
    assert violations == []

"""``make demo``'s online top-up as its printout tells a reader to do it: a demo member logs
in to the cabinet with the SMS code (the file backend's outbox), picks an amount, pays on the
YooKassa emulator's page that the demo started, and comes back to a balance topped up once;
the emulator's notification and the return both reach the central service over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests

from tests.deploy.test_demo import READY, Demo, demo  # noqa: F401  (demo: a fixture)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def _balance(page: str) -> str:
    match = re.search(r"data-balance>([^<]+)<", page)
    assert match, page[:300]
    return match.group(1).replace("\xa0", " ").strip()


def _code(data_dir: Path, phone: str) -> str:
    lines = (data_dir / "sms-outbox.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if json.loads(line)["phone"] == phone]
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match, texts[-1]
    return match.group(1)


def test_a_demo_member_tops_up_online_through_the_emulated_provider(demo: Demo) -> None:  # noqa: F811
    demo.read_until(READY)
    printed = "".join(demo.output)
    phone = re.search(r"log in as a demo member, phone (\+\d+)", printed)
    assert phone, printed
    central = demo.central
    with requests.Session() as browser:
        token = _csrf(browser.get(f"{central}/my/login", timeout=10).text)
        browser.post(
            f"{central}/my/login", data={"phone": phone[1], "csrf_token": token}, timeout=10
        )
        code = _code(demo.data_dir, phone[1])
        browser.post(
            f"{central}/my/login/code", data={"code": code, "csrf_token": token}, timeout=10
        )
        before = _balance(browser.get(f"{central}/my/", timeout=10).text)

        form = browser.get(f"{central}/my/topup", timeout=10).text
        sent = browser.post(
            f"{central}/my/topup",
            data={"preset": "100000", "csrf_token": _csrf(form)},
            allow_redirects=False,
            timeout=10,
        )
        assert sent.status_code == 303, sent.text[:500]
        pay_page = sent.headers["Location"]
        assert "/pay/" in pay_page and "Оплатить" in browser.get(pay_page, timeout=10).text
        back = browser.post(pay_page, data={"action": "pay"}, timeout=30)
        after = _balance(browser.get(f"{central}/my/", timeout=10).text)

    assert back.status_code == 200 and 'data-status="succeeded"' in back.text
    assert "Оплачено, баланс пополнен." in back.text
    to_kopecks = lambda text: int(re.sub(r"[^\d-]", "", text))  # noqa: E731
    assert to_kopecks(after) - to_kopecks(before) == 100_000

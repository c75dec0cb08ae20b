"""The attendant's shift on the stand's screen (Flask test client): opening with the cash in
the drawer, the report so far, closing by counting the cash, the closed shift's report; the
shift events in the outbox; bad amounts refused with a red line and nothing stored; a top-up
with no open shift recorded all the same and flagged as outside shifts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge.config import EdgeConfig
from edge.engine import Engine
from edge.screen import create_state_app
from edge.stand import StandParts
from edge.store import LocalShift, Outbox, Store
from sync.errors import RuleError
from tests.edge.conftest import ATTENDANT_ID, IVAN, SITE_ID, STAND_ID, VERSION, FakeClock, events
from tests.edge.test_screen import (
    IDLE_LOCK_S,
    OTHER_ID,
    OTHER_PIN,
    devices,
    log_in,
    post,
    red_line,
    reload,
    text,
)


@pytest.fixture
def config(tmp_path: Path) -> EdgeConfig:
    return EdgeConfig(
        data_dir=tmp_path / "stand",
        stand_id=STAND_ID,
        site_id=SITE_ID,
        screen_idle_lock_s=IDLE_LOCK_S,
    )


@pytest.fixture
def app(store: Store, engine: Engine, config: EdgeConfig, clock: FakeClock) -> Flask:
    reload(store, clock, VERSION + 1)
    return create_state_app(StandParts(config, store, engine, devices))


@pytest.fixture
def signed_in(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        assert log_in(client).status_code == 302
        yield client


def rows(store: Store) -> tuple[int, int]:
    return store.tables[Outbox].select().count(), store.tables[LocalShift].select().count()


def total(page: str, name: str) -> str:
    marker = f'data-total="{name}">'
    start = page.index(marker) + len(marker)
    return page[start : page.index("</td>", start)].replace("<strong>", "").replace("</strong>", "")


def test_a_shift_is_opened_with_the_cash_and_closed_by_counting_it(
    signed_in: FlaskClient, store: Store
) -> None:
    assert "Открыть смену" in text(signed_in.get("/shift"))
    opened = post(signed_in, "/shift/open", cash="1 000")
    assert opened.status_code == 302
    post(signed_in, f"/clients/{IVAN}/topup", amount="500", method="cash")
    post(signed_in, f"/clients/{IVAN}/topup", amount="300,50", method="card")
    post(signed_in, f"/clients/{IVAN}/topup", amount="200", method="cash")

    page = text(signed_in.get("/shift"))
    assert total(page, "cash") == "700,00\xa0₽"
    assert total(page, "expected") == "1\xa0700,00\xa0₽"
    assert total(page, "card") == "300,50\xa0₽"
    assert "Закрыть смену" in page

    closed = post(signed_in, "/shift/close", counted="1 650")
    assert closed.status_code == 302 and closed.location.startswith("/shift/")
    report = text(signed_in.get(closed.location))
    assert total(report, "counted") == "1\xa0650,00\xa0₽"
    assert total(report, "difference") == "-50,00\xa0₽"
    assert total(report, "topups") == "3"

    opening, closing = events(store, "shift.opened") + events(store, "shift.closed")
    assert opening.actor == closing.actor == str(ATTENDANT_ID)
    assert opening.payload == {"shift_uuid": opening.payload["shift_uuid"], "cash_kopecks": 100_000}
    assert closing.payload["counted_kopecks"] == 165_000
    assert closing.payload["shift_uuid"] == opening.payload["shift_uuid"]
    assert "Открыть смену" in text(signed_in.get("/shift"))  # a new one may start


@pytest.mark.parametrize(
    ("cash", "words"),
    [
        ("-100", "отрицательной"),
        ("сто", "Некорректная сумма"),
        ("", "Введите сумму"),
        ("12,345", "двух знаков"),
        ("99999999999", "Слишком большая сумма"),
    ],
)
def test_a_bad_cash_amount_is_refused_and_nothing_is_stored(
    signed_in: FlaskClient, store: Store, cash: str, words: str
) -> None:
    before = rows(store)
    response = post(signed_in, "/shift/open", cash=cash)
    assert response.status_code == 400
    assert words in red_line(response)
    assert rows(store) == before


def test_a_bad_count_is_refused_and_the_shift_stays_open(
    signed_in: FlaskClient, store: Store
) -> None:
    post(signed_in, "/shift/open", cash="100")
    before = rows(store)
    response = post(signed_in, "/shift/close", counted="-5")
    assert response.status_code == 400 and "отрицательной" in red_line(response)
    assert rows(store) == before
    assert store.open_shift_of(ATTENDANT_ID) is not None


def test_closing_with_no_open_shift_is_refused(signed_in: FlaskClient, store: Store) -> None:
    response = post(signed_in, "/shift/close", counted="100")
    assert response.status_code == 400 and "Смена не открыта" in red_line(response)
    assert rows(store) == (0, 0)


def test_a_second_opening_is_refused(engine: Engine, store: Store) -> None:
    engine.open_shift(ATTENDANT_ID, 0)
    with pytest.raises(RuleError, match="уже открыта"):
        engine.open_shift(ATTENDANT_ID, 100)
    assert rows(store) == (1, 1)


def test_another_attendants_top_ups_and_shift_report_are_not_this_shifts(
    app: Flask, store: Store, engine: Engine
) -> None:
    shift = engine.open_shift(ATTENDANT_ID, 0)
    engine.record_topup(IVAN, 10_000, "cash", OTHER_ID)
    engine.record_topup(IVAN, 20_000, "cash", ATTENDANT_ID)
    assert engine.shift_report(shift).cash_kopecks == 20_000
    closed, _report = engine.close_shift(ATTENDANT_ID, 20_000)
    with app.test_client() as other:
        assert log_in(other, OTHER_PIN, OTHER_ID).status_code == 302
        assert other.get(f"/shift/{closed.uuid}").status_code == 404


def test_a_top_up_without_a_shift_is_recorded_and_said_to_be_outside_shifts(
    signed_in: FlaskClient, store: Store
) -> None:
    page = text(signed_in.get(f"/clients/{IVAN}?tab=topup"))
    assert 'id="no-shift"' in page
    response = post(signed_in, f"/clients/{IVAN}/topup", amount="100", method="cash")
    assert response.status_code == 302
    assert len(events(store, "topup.recorded")) == 1
    post(signed_in, "/shift/open", cash="0")
    assert 'id="no-shift"' not in text(signed_in.get(f"/clients/{IVAN}?tab=topup"))
    shift = store.open_shift_of(ATTENDANT_ID)
    assert shift is not None and store.shift_topups(shift) == []


def test_the_shift_page_in_english(signed_in: FlaskClient) -> None:
    signed_in.get("/lang/en")
    page = text(signed_in.get("/shift"))
    assert "Open shift" in page and "Cash in the drawer at opening" in page


def test_a_stand_database_from_before_shifts_opens_and_gets_the_table(
    config: EdgeConfig, store: Store, engine: Engine
) -> None:
    engine.record_topup(IVAN, 10_000, "cash", ATTENDANT_ID)
    table = store.tables[LocalShift]._meta.table_name
    store.database.execute_sql(f'DROP TABLE "{table}"')  # as an older program left it
    store.close()

    reopened = Store(config.database_path)
    try:
        assert reopened.open_shift_of(ATTENDANT_ID) is None
        assert reopened.outbox_size() == 1  # the rows kept
        assert reopened.tables[LocalShift].select().count() == 0
    finally:
        reopened.close()

"""A directory is written in steps (``edge.store.directory``): each a transaction of its own, so
a tap's commit waits for one step at most; a load cut short leaves the cursor at 0, so the
agent's next poll walks the whole directory again; what the new directory lacks goes."""

from __future__ import annotations

from typing import Any

import pytest

from edge.store import Store, directory
from sync.balances import BalanceEntry
from sync.directory import validate_directory
from sync.directorypage import DirectoryPage
from tests.edge.conftest import (
    IVAN,
    IVAN_CARD,
    REVOKED_QR_ID,
    SITE_ID,
    VERSION,
    FakeClock,
    directory_doc,
)


def load(store: Store, clock: FakeClock, doc: dict[str, Any]) -> None:
    store.load_directory(validate_directory(doc), clock.now())


def test_each_step_of_a_load_is_committed_on_its_own(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "CLIENTS_PER_STEP", 2)
    store._set(directory.DIRECTORY_CURSOR_KEY, "42")
    doc = directory_doc(version=VERSION + 1)
    for client in doc["clients"]:
        client["name"] += " (new)"
    # Another connection to the file, as the engine's worker has: what it sees while each
    # step of the five clients (two, two, one) is still open.
    other = Store(store.path)
    seen: list[tuple[int, int, int]] = []
    relink = store.relink_local_clients

    def each_step() -> int:
        renamed = other.tables.DirClient.select().where(
            other.tables.DirClient.name.endswith("(new)")
        )
        seen.append((renamed.count(), other.directory_cursor(), other.directory_version()))
        return relink()

    monkeypatch.setattr(store, "relink_local_clients", each_step)
    try:
        load(store, clock, doc)
    finally:
        other.close()

    # The steps before each had committed; the cursor was 0 and the version the old one
    # until the last step, which stored both.
    assert seen == [(0, 0, VERSION), (2, 0, VERSION), (4, 0, VERSION)]
    assert store.directory_cursor() == 42  # a file's load keeps the agent's cursor
    assert store.directory_version() == VERSION + 1
    assert (
        store.tables.DirClient.select().where(store.tables.DirClient.name.endswith("(new)")).count()
        == 5
    )


def test_a_load_cut_short_is_walked_again_from_cursor_0(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "CLIENTS_PER_STEP", 2)
    store._set(directory.DIRECTORY_CURSOR_KEY, "42")
    steps = 0
    relink = store.relink_local_clients

    def power_cut_in_the_second_step() -> int:
        nonlocal steps
        steps += 1
        if steps == 2:
            raise OSError("power cut")
        return relink()

    monkeypatch.setattr(store, "relink_local_clients", power_cut_in_the_second_step)
    with pytest.raises(OSError):
        load(store, clock, directory_doc(version=VERSION + 1))

    assert store.directory_version() == VERSION
    assert store.directory_cursor() == 0  # the agent's next poll fetches everything again
    assert store.credential("card", IVAN_CARD) is not None  # every client old or new, none gone
    assert store.tables.DirClient.select().count() == 5


def test_what_a_new_directory_lacks_is_deleted(store: Store, clock: FakeClock) -> None:
    doc = directory_doc(version=VERSION + 1, staff=[], revoked_qr_token_ids=[])
    doc["tariffs"] = [t for t in doc["tariffs"] if t["name"] != "Старый"]
    doc["clients"] = [c for c in doc["clients"] if c["id"] == IVAN]
    doc["credentials"] = [c for c in doc["credentials"] if c["client_id"] == IVAN]

    load(store, clock, doc)

    t = store.tables
    assert [row.id for row in t.DirClient.select()] == [IVAN]
    assert t.DirCredential.select().count() == 4  # Ivan's card, lost card, plate and QR
    assert t.DirTariff.select().count() == 2
    assert t.DirTariffVersion.select().count() == 3  # the old tariff's version went with it
    assert t.DirStaff.select().count() == 0
    assert not store.is_revoked(REVOKED_QR_ID)


def test_compact_balances_change_the_clients_held_and_skip_the_others(
    store: Store, clock: FakeClock
) -> None:
    """Protocol 3's balances (sync/balances.py): the balance, ledger position, points and open
    session of a client the copy holds; a client it lacks is not made from them."""
    load(store, clock, directory_doc())
    doc = directory_doc()
    page = DirectoryPage(
        cursor=77,
        more=False,
        reset=False,
        site_id=SITE_ID,
        stand_id=1,
        server_time=clock.now(),
        qr_public_key_pem=doc["qr_public_key_pem"],
        default_tariff_id=doc["default_tariff_id"],
        balances=(BalanceEntry(IVAN, 123_45, 999, 40, 3), BalanceEntry(4242, 1, 1, 0, None)),
    )

    store.apply_directory_page(page, clock.now(), SITE_ID)

    ivan = store.tables.DirClient.get_by_id(IVAN)
    assert (ivan.balance_kopecks, ivan.ledger_position, ivan.points_balance) == (123_45, 999, 40)
    assert ivan.open_session_stand_id == 3 and ivan.name  # the rest as it was
    assert store.tables.DirClient.get_or_none(store.tables.DirClient.id == 4242) is None
    assert store.directory_cursor() == 77

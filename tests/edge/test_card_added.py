"""A card given to a client at the stand (``Engine.link_card``): known here at once, offline
too, told to the central service as ``card.linked``; the directory's word on the card is final
once it brings it; a card a client has already is refused and changes nothing."""

from __future__ import annotations

import pytest

from edge.engine import Engine
from edge.store import Store
from sync.errors import RuleError
from tests.edge.conftest import (
    IVAN,
    IVAN_CARD,
    VERSION,
    FakeClock,
    credential,
    directory_doc,
    events,
)
from tests.edge.test_store import load

NEW_CARD = "04C0FFEE123456"


def test_a_card_given_to_a_directory_client_starts_their_session_at_once(
    engine: Engine, store: Store
) -> None:
    assert engine.link_card(IVAN, "04:c0:ff:ee:12:34:56", actor=7) == NEW_CARD

    (linked,) = events(store, "card.linked")
    assert linked.payload == {"client_id": IVAN, "client_uuid": None, "uid": NEW_CARD}
    assert store.credentials_of(IVAN, "card")[-1] == NEW_CARD
    engine.on_uid(NEW_CARD)
    session = store.open_session_of(IVAN)
    assert session is not None and session.credential_value == NEW_CARD


def test_a_card_someone_has_is_refused_and_nothing_is_stored(engine: Engine, store: Store) -> None:
    before = events(store)
    with pytest.raises(RuleError) as refused:
        engine.link_card(3, IVAN_CARD, actor=7)
    assert refused.value.code == "credential_taken"
    with pytest.raises(RuleError) as bad:
        engine.link_card(IVAN, "not a uid", actor=7)
    assert bad.value.code == "bad_card_uid"
    assert events(store) == before
    assert store.tables.AddedCard.select().count() == 0


def test_the_directory_that_brings_the_card_has_the_last_word(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    engine.link_card(IVAN, NEW_CARD, actor=7)
    # A directory that does not hold the card yet (made before the event arrived) keeps it.
    load(store, clock, directory_doc(version=VERSION + 1))
    assert store.credential("card", NEW_CARD).client.id == IVAN
    # The central service gave it to Ivan: the directory's row now; unlinked later, it is gone.
    doc = directory_doc(version=VERSION + 2)
    doc["credentials"].append(credential(IVAN, "card", NEW_CARD))
    load(store, clock, doc)
    assert store.tables.AddedCard.select().count() == 0
    assert store.credential("card", NEW_CARD).client.id == IVAN
    load(store, clock, directory_doc(version=VERSION + 3))
    assert store.credential("card", NEW_CARD) is None


def test_a_card_given_to_a_client_registered_here_survives_the_re_link(
    engine: Engine, store: Store, clock: FakeClock
) -> None:
    local = engine.register_member("Ольга Новикова", [], ["О111ОО77"], [], actor=7)
    engine.link_card(int(local.id), NEW_CARD, actor=7)
    (linked,) = events(store, "card.linked")
    assert linked.payload == {"client_id": None, "client_uuid": local.uuid, "uid": NEW_CARD}
    # The central service knows her as client 60 from a page made before the card arrived.
    doc = directory_doc(version=VERSION + 1)
    doc["clients"].append({**doc["clients"][0], "id": 60, "name": "Ольга Новикова"})
    doc["clients"][-1]["uuids"] = [local.uuid]
    load(store, clock, doc)

    assert store.tables.LocalClient.select().count() == 0
    assert store.credential("card", NEW_CARD).client.id == 60

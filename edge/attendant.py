"""What the attendant does at the stand besides starting and ending sessions: top-ups, comments,
a card given to a client, registering a guest by plate or a member. Part of :class:`edge.engine.Engine` (a mixin over its
store, lock, events and feedback), kept apart so the engine's module reads as taps and sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from edge.store import LocalClient, LocalSession
from sync.cards import normalise_card_uid
from sync.errors import RuleError
from sync.events import PAYMENT_METHODS, Payload
from sync.lengths import MAX_COMMENT, MAX_NAME
from sync.phones import normalise_phone
from sync.plates import check_new_plate

MAX_TOPUP_KOPECKS = 100_000_000


@dataclass(frozen=True)
class StartedWith:
    """The credential a start was made with, and the card's daily limit if it has one."""

    kind: str  # card, plate or qr
    value: str  # the card UID, normalised plate or QR token id
    daily_limit_kopecks: int | None = None


class AttendantActions:
    """The attendant's bookkeeping; the engine provides ``store``, ``clock``, ``_lock``,
    ``_event``, ``_known_client``, ``_client_ref``, ``_start`` and ``_atomic``."""

    store: Any
    clock: Any
    _lock: Any
    _event: Any
    _known_client: Any
    _client_ref: Any
    _start: Any
    _atomic: Any
    _signal: Any

    def record_topup(self, client_id: int, amount_kopecks: int, method: str, actor: int) -> str:
        """Money taken for a client (cash, card, transfer); returns the top-up's uuid."""
        if isinstance(amount_kopecks, bool) or not isinstance(amount_kopecks, int):
            raise RuleError("Сумма должна быть целым числом копеек", "bad_amount")
        if amount_kopecks <= 0:
            raise RuleError("Сумма пополнения должна быть больше нуля", "bad_amount")
        if amount_kopecks > MAX_TOPUP_KOPECKS:
            raise RuleError("Слишком большая сумма: не больше 1 000 000 ₽", "bad_amount")
        if method not in PAYMENT_METHODS:
            raise RuleError("Выберите способ оплаты: наличные, карта или перевод", "bad_method")
        topup_uuid = str(uuid.uuid4())
        with self._lock:
            client = self._known_client(client_id)
            now = self.clock.now()
            payload: Payload = {
                "topup_uuid": topup_uuid,
                **self._client_ref(client),
                "amount_kopecks": amount_kopecks,
                "method": method,
            }
            with self.store.atomic():
                event_id = self._event("topup.recorded", payload, _staff(actor), now)
                self.store.add_ledger_entry(
                    event_id, client.id, "topup", amount_kopecks, now, method
                )
        return topup_uuid

    def add_comment(
        self, client_id: int, text: str, actor: int, session_uuid: str | None = None
    ) -> str:
        """A comment on a client (and maybe one of their sessions); returns its uuid."""
        text = _comment_text(text, required=True)
        comment_uuid = str(uuid.uuid4())
        with self._lock:
            client = self._known_client(client_id)
            now = self.clock.now()
            payload: Payload = {
                "comment_uuid": comment_uuid,
                **self._client_ref(client),
                "session_uuid": session_uuid,
                "text": text,
            }
            with self.store.atomic():
                self._event("comment.added", payload, _staff(actor), now)
                self.store.add_comment(comment_uuid, client.id, text, actor, now, session_uuid)
        return comment_uuid

    def link_card(self, client_id: int, uid_text: str, actor: int) -> str:
        """Give the client a card (tapped on the reader or typed): known here at once, and
        ``card.linked`` tells the central service. Returns the normalised UID; RuleError
        on a bad UID or one a client has already."""
        uid = normalise_card_uid(uid_text)
        with self._lock:
            client = self._known_client(client_id)
            now = self.clock.now()
            payload: Payload = {**self._client_ref(client), "uid": uid}
            with self.store.atomic():
                self.store.add_card(client.id, uid, now)
                self._event("card.linked", payload, _staff(actor), now)
        return uid

    def register_guest(
        self, plate_text: str, tariff_id: int | None, actor: int, *, foreign: bool = False
    ) -> tuple[LocalClient, LocalSession]:
        """A guest known only by a car plate, registered here, whose session starts at once:
        the client, ``guest.registered`` and ``session.started`` in one transaction. The
        plate must match a Russian format unless ``foreign`` (``sync.plates``)."""
        plate = check_new_plate(plate_text, foreign=foreign)
        staff = _staff(actor)
        with self._lock:
            now = self.clock.now()
            client_uuid = str(uuid.uuid4())
            with self._atomic():
                client = self.store.add_local_client(
                    client_uuid, "guest", "", [], [("plate", plate)], now
                )
                payload: Payload = {"client_uuid": client_uuid, "plate": plate}
                self._event("guest.registered", payload, staff, now)
                session = self._start(
                    client, tariff_id, "screen", staff, StartedWith("plate", plate)
                )
            self._signal("accepted", "started")
            return client, session

    def register_member(
        self,
        name: str,
        phones: list[str],
        plates: list[str],
        cards: list[str],
        actor: int,
        *,
        foreign: bool = False,
    ) -> LocalClient:
        """A club member registered here (``client.registered``); phones and plates are
        normalised, card UIDs too (``sync.cards``). RuleError on a bad or already used value."""
        name = " ".join(name.split())
        if not name:
            raise RuleError("Введите имя клиента", "bad_name")
        if len(name) > MAX_NAME:
            raise RuleError(f"Имя — не длиннее {MAX_NAME} символов", "bad_name")
        phones = list(dict.fromkeys(normalise_phone(p) for p in phones))
        plates = list(dict.fromkeys(check_new_plate(p, foreign=foreign) for p in plates))
        cards = list(dict.fromkeys(normalise_card_uid(c) for c in cards))
        staff = _staff(actor)
        credentials = [("plate", p) for p in plates] + [("card", c) for c in cards]
        with self._lock:
            now = self.clock.now()
            client_uuid = str(uuid.uuid4())
            with self.store.atomic():
                client = self.store.add_local_client(
                    client_uuid, "member", name, phones, credentials, now
                )
                payload: Payload = {
                    "client_uuid": client_uuid,
                    "name": name,
                    "phones": phones,
                    "plates": plates,
                    "cards": cards,
                    "guest_client_id": None,
                    "guest_client_uuid": None,
                }
                self._event("client.registered", payload, staff, now)
            return client


def _comment_text(text: str, required: bool) -> str:
    text = text.strip() if isinstance(text, str) else ""
    if required and not text:
        raise RuleError("Введите текст комментария", "bad_comment")
    if len(text) > MAX_COMMENT:
        raise RuleError(f"Комментарий — не длиннее {MAX_COMMENT} символов", "bad_comment")
    return text


def _staff(actor: int) -> str:
    if isinstance(actor, bool) or not isinstance(actor, int) or actor < 1:
        raise ValueError(f"not a staff id: {actor!r}")
    return str(actor)

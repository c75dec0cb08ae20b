"""The session engine: what a tap, a scan or a touch on the screen does at the stand.

Rules (DESIGN.md, taps and feedback, offline rules):

- A known card, or a valid QR code, of a client with no open session here starts one with the
  tariff ``edge.tariffs`` picks (the client's default, else the stand's); the tariff version
  in force now prices it, by its schedule in the stand's ``timezone`` if it has one. Any credential of that client again ends the session,
  prices it with ``sync.pricing`` and charges the balance. One client has one open session at
  a stand.
- One car per post (``one_session_per_post``, on by default): a card or QR start while any
  session is open here is refused ("post_busy") and changes nothing but the ``tap.refused``
  event. Only taps are held back: an attendant may start a second session on the screen, and
  the client whose session runs here ends it with a tap as usual.
- One open session per client across posts, as far as the stand can know: a card or QR start
  of a client whom the directory shows with a session open at another stand
  (``open_session_stand_id``) is refused ("open_elsewhere") and changes nothing but the
  ``tap.refused`` event. The attendant may still start one on the screen deliberately. Offline,
  or before the other start has reached the central service, the stand cannot know: the
  central integrity check lists such overlaps and the debts report marks them (DESIGN.md).
- Ending is deliberate (``end_guard_s``): a card or QR tap sooner than that after its
  session's start (as ``elapsed_s`` measures) does not end it; it is refused
  ("too_soon_to_end", saying in how many seconds a tap will end it) with the "running"
  pattern, not the red "refused" one, since the wash goes on. The screen's end is not held.
- Refused, with a ``tap.refused`` event and the "refused" pattern: an unknown card or QR
  token; a lost card (even to end a session: the screen ends it); a blocked client's start
  (a blocked client may still end a session, which stops the charge); a QR code that is not
  signed by the central service's key or whose token id is revoked; a start without the money
  for it ("insufficient_funds", see money below); a member's card or QR start while the
  directory is stale (older than
  ``directory_max_age_s``: the balance it shows may be long spent elsewhere), though an
  attendant may still start one on the screen, taking payment in person; no tariff in force.
- A valid QR token of a known client is accepted even if its token id is not in the directory
  yet (issued after the last sync): the signature proves it; revoked ids are refused.
- An end is priced with the client's personal discount as it was at the start, and paid with
  bonus points as the client prefers (``sync.bonus``), only within the points this stand has
  seen (the directory's points balance less its own unsettled spends); the event carries the
  points spent.
- After an end the pattern is "ended", or "attention" (see the attendant) if the balance after
  the charge is negative.
- Bounce: the reader reports a UID once per tap, but a credential that started or ended a
  session is ignored for ``tap_repeat_s`` after it (no event, no light), so a bounce never
  ends a session it just started, nor starts a new one right after an end.
- A card with a daily limit (``sync.limits``) is refused ("daily_limit") once the sessions it
  started here today (local day, ``timezone``) cost the limit or more; the stand knows only
  its own sessions, so this holds offline, and the central service flags what went over
  across stands. A session running past the limit finishes and is charged in full. The
  limit is the card's: an attendant's start on the screen is not counted against it.
- Every session records what started it (``credential_kind``/``credential_value``: the card
  UID, the QR token id, or the plate an attendant chose on the screen), so the account page
  centrally lists sessions per card and plate.
- Money (``sync.funds``, the rule the central service uses too): what a client has available
  is the balance seen here, what their bonus points are worth if they spend them, and their
  overdraft (their own if the directory gives one; else, for a member, the configured
  ``overdraft_limit_kopecks``, for a guest none). A start needs at least the price of the
  shortest billed session at the tariff it starts with. Members always need it, on the screen
  too; a guest needs it (a prepayment) for a card or QR start, while an attendant's start on
  the screen is the guest's own business with the attendant: no check, no end for money.
- ``tick()`` ends sessions running longer than ``max_session_s`` (billed for exactly that
  long) or costing ``max_session_kopecks`` or more, marked auto, with the "attention" pattern;
  and a session whose running cost has gone past what the client has available now (a top-up
  during the wash moves the end), marked auto and billed for the longest duration the money
  pays for (``sync.funds.funds_end_s``, not the late second the tick saw), with the
  "attention" pattern ("funds_ended").
- The post's equipment relay (``pin_relay``) is on exactly while a session is open here
  (:mod:`edge.equipment`): each start and end tells it after its transaction commits, so it
  never waits on the database; a stand restarted with a session open turns it on at once.
- While the screen waits for a card to link to a client (``card_wanted_until_ns``), the next
  card tapped only becomes ``last_card``: it neither starts, ends nor is refused.

Every action writes its local effect and its event in one transaction and only then plays the
feedback, so a light never confirms anything that is not on disk. The methods are called from
the reader's and the camera's threads and from the screen's requests; one lock runs them one
at a time, in the order they arrive. Feedback ``play`` returns at once (the player has its own
thread), so the engine never waits on hardware.

The touchscreen also registers guests (by plate; their session starts in the same
transaction) and members, and adds comments. Such clients are local (``Store`` keeps them
under negative ids until the central service knows them); their events name them by
``client_uuid`` instead of ``client_id``.

Durations come from the monotonic clock when the session started in the same boot, else
from the wall clock (a restart after a power cut).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from edge.attendant import AttendantActions, StartedWith, _comment_text, _staff
from edge.clock import Clock, SystemClock
from edge.config import EdgeConfig
from edge.equipment import Equipment
from edge.feedbackstate import MESSAGES, Feedback, LastFeedback
from edge.refusals import refusal
from edge.remotestart import RemoteStarts
from edge.shifts import ShiftActions
from edge.store import (
    AnyClient,
    LocalSession,
    Store,
    rates_from_json,
)
from edge.taps import TapActions
from edge.tariffs import session_price, session_start, version_to_start
from hardware.relay import NoOutput, Output
from sync.bonus import split_cost
from sync.errors import RuleError
from sync.events import Payload
from sync.funds import available_kopecks, can_start, funds_run_out
from sync.limits import limit_reached, local_day
from sync.plates import normalise_plate
from sync.pricing import Discount
from sync.schedule import Start

__all__ = ["MESSAGES", "Engine", "Feedback", "LastFeedback"]


class Engine(TapActions, AttendantActions, ShiftActions, RemoteStarts):
    """The stand's session engine; see the module's rules."""

    def __init__(
        self,
        store: Store,
        feedback: Feedback,
        config: EdgeConfig,
        clock: Clock | None = None,
        relay: Output | None = None,
    ):
        if config.stand_id < 1:
            raise ValueError("stand_id is not configured: the stand cannot number its events")
        self.store = store
        self.feedback = feedback
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.last_feedback: LastFeedback | None = None
        self._lock = threading.RLock()
        # Credential -> monotonic ns of the start or end it last made (the bounce guard).
        self._recent: dict[tuple[str, str], int] = {}
        # Sessions opened (True) or closed (False) by the transaction under way (``_atomic``).
        self._changes: list[tuple[bool, str]] = []
        self._depth = 0
        open_now = [session.uuid for session in store.open_sessions()]
        self.equipment = Equipment(relay or NoOutput(), open_now)
        # The last card the reader reported (UID, monotonic ns), for the screen linking a card
        # to a client; until ``card_wanted_until_ns`` the next tap is only recorded here.
        self.last_card: tuple[str, int] | None = None
        self.card_wanted_until_ns = 0

    # --- the screen -------------------------------------------------------------------------

    def start_session(
        self, client_id: int, tariff_id: int | None, actor: int, plate: str | None = None
    ) -> LocalSession:
        """Start a session from the touchscreen (staff member ``actor``) with a chosen tariff
        (None: the client's or the stand's default), for the car with ``plate`` if the
        attendant chose one of the client's plates. Raises RuleError with the reason."""
        with self._lock:
            client = self.store.client(client_id)
            if client is None:
                raise RuleError("Клиент не найден", "unknown")
            if self.store.open_session_of(client.id) is not None:
                raise RuleError("У клиента уже идёт сеанс", "already_open")
            started_with = None
            if plate:
                plate = normalise_plate(plate)
                if plate not in self.store.credentials_of(client.id, "plate"):
                    raise RuleError(f"Номер {plate} не принадлежит клиенту", "bad_plate")
                started_with = StartedWith("plate", plate)
            session = self._start(client, tariff_id, "screen", _staff(actor), started_with)
            self._signal("accepted", "started", session_uuid=session.uuid)
            return session

    def end_session(
        self, session_uuid: str, actor: int, comment: str = "", method: str = "screen"
    ) -> LocalSession:
        """End an open session from the touchscreen (``method`` "screen" from the client's
        account, "dashboard" from the dashboard), with an optional comment."""
        if method not in ("screen", "dashboard"):
            raise ValueError(f"not a screen method: {method!r}")
        comment = _comment_text(comment, required=False)
        with self._lock:
            session = self._open_session(session_uuid)
            balance = self._end(session, method, _staff(actor), comment)
            self._signal_end(balance, session_uuid)
            return self._session(session_uuid)

    # --- forgotten sessions -----------------------------------------------------------------

    def tick(self) -> list[LocalSession]:
        """End the sessions past the configured maximum duration or amount, or past the
        client's money; returns them."""
        ended: list[LocalSession] = []
        funds_ended = False
        with self._lock:
            for session in self.store.open_sessions():
                elapsed = self.elapsed_s(session)
                limit_s = self.config.max_session_s
                limit_kopecks = self.config.max_session_kopecks
                funds_s = self._funds_end(session, elapsed)
                if limit_s and elapsed >= limit_s and (funds_s is None or limit_s <= funds_s):
                    self._end(session, "auto", "auto", duration_s=limit_s)
                elif funds_s is not None:
                    self._end(session, "auto", "auto", duration_s=funds_s)
                    funds_ended = True
                elif limit_kopecks and self.running_cost(session) >= limit_kopecks:
                    self._end(session, "auto", "auto")
                else:
                    continue
                ended.append(self._session(session.uuid))
            if ended:
                self._signal(
                    "attention",
                    "funds_ended" if funds_ended else "auto_ended",
                    session_uuid=ended[-1].uuid,
                )
        return ended

    # --- reading ----------------------------------------------------------------------------

    def elapsed_s(self, session: LocalSession) -> int:
        """Whole seconds since the start: monotonic within the boot, else wall clock."""
        if session.boot_id == self.clock.boot_id:
            elapsed_ms = self.clock.monotonic_ns() // 1_000_000 - session.started_mono_ms
            return max(0, elapsed_ms // 1000)
        return max(0, int((self.clock.now() - session.started_at).total_seconds()))

    def running_cost(self, session: LocalSession) -> int:
        return session_price(session, self.elapsed_s(session), self.config.timezone)

    def directory_is_stale(self) -> bool:
        loaded_at = self.store.directory_loaded_at()
        if loaded_at is None:
            return True
        age = (self.clock.now() - loaded_at).total_seconds()
        return age > self.config.directory_max_age_s

    # --- writing ----------------------------------------------------------------------------

    def _event(
        self, event_type: str, payload: Payload, actor: str, now: datetime | None = None
    ) -> str:
        event_id = str(uuid.uuid4())
        self.store.append_event(
            event_id,
            event_type,
            payload,
            stand_id=self.config.stand_id,
            occurred_at=now or self.clock.now(),
            boot_id=self.clock.boot_id,
            mono_ms=self.clock.monotonic_ns() // 1_000_000,
            actor=actor,
        )
        return event_id

    def _known_client(self, client_id: int) -> AnyClient:
        """The client ``client_id`` names now: a screen may still show a client registered
        here by the negative id it had before the directory re-linked it to its central id."""
        client = self.store.client(client_id)
        if client is None:
            raise RuleError("Клиент не найден", "unknown")
        return client

    @staticmethod
    def _client_ref(client: AnyClient) -> Payload:
        """How an event names a client: its central id, or, registered here and not yet
        known centrally (a negative id), the uuid it was registered under."""
        if client.id < 0:
            return {"client_id": None, "client_uuid": str(client.uuid)}
        return {"client_id": int(client.id), "client_uuid": None}

    def _daily_limit_reached(self, client_id: int, credential: StartedWith, now: datetime) -> bool:
        """Whether the client's sessions here today with the card already cost its limit."""
        if credential.daily_limit_kopecks is None:
            return False
        since, until = local_day(now, self.config.timezone)
        spent = self.store.credential_spend(
            client_id, credential.kind, credential.value, since, until
        )
        return limit_reached(spent, credential.daily_limit_kopecks)

    def _start(
        self,
        client: AnyClient,
        tariff_id: int | None,
        method: str,
        actor: str,
        credential: StartedWith | None = None,
        session_uuid: str | None = None,
    ) -> LocalSession:
        now = self.clock.now()
        session_uuid = session_uuid or str(uuid.uuid4())  # given: a start_session command's
        with self._atomic():
            if client.blocked:
                raise refusal("blocked", client.id)
            if client.kind == "member" and method != "screen" and self.directory_is_stale():
                raise refusal("stale_directory", client.id)
            if credential is not None and self._daily_limit_reached(client.id, credential, now):
                raise refusal("daily_limit", client.id)
            version = version_to_start(self.store, client, tariff_id, now)
            discount = Discount(client.discount_percent, client.discount_kopecks)
            if _funds_guarded(client.kind, method) and not can_start(
                self._available(client),
                rates_from_json(version.rates),
                client.kind,
                discount,
                Start(now, self.config.timezone),
            ):
                raise refusal("insufficient_funds", client.id)
            session = self.store.add_session(
                LocalSession(
                    uuid=session_uuid,
                    client_id=client.id,
                    client_kind=client.kind,
                    tariff_version_id=version.id,
                    rates=version.rates,
                    started_at=now,
                    started_mono_ms=self.clock.monotonic_ns() // 1_000_000,
                    boot_id=self.clock.boot_id,
                    start_method=method,
                    started_by=actor,
                    credential_kind=credential.kind if credential else None,
                    credential_value=credential.value if credential else None,
                    discount_percent=client.discount_percent,
                    discount_kopecks=client.discount_kopecks,
                )
            )
            payload: Payload = {
                "session_uuid": session_uuid,
                **self._client_ref(client),
                "tariff_version_id": version.id,
                "client_kind": client.kind,
                "method": method,
                "credential_kind": credential.kind if credential else None,
                "credential_value": credential.value if credential else None,
            }
            self._event("session.started", payload, actor, now)
            self._changes.append((True, session_uuid))
        return session

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """A write transaction (nested: a savepoint) that opens or closes sessions; once the
        outermost one commits, the equipment follows what it opened and closed. A rollback
        (of a savepoint too) forgets the changes made inside it."""
        mark = len(self._changes)
        self._depth += 1
        try:
            with self.store.atomic():
                yield
        except BaseException:
            del self._changes[mark:]
            raise
        finally:
            self._depth -= 1
        if self._depth == 0:
            changes, self._changes = self._changes, []
            self.equipment.follow(
                opened=[key for opened, key in changes if opened],
                closed=[key for opened, key in changes if not opened],
            )

    def _available(self, client: AnyClient) -> int:
        """What the client has to wash with now (``sync.funds``): the balance seen here, their
        points seen here if they spend them, their overdraft (see the module's rules)."""
        own = client.overdraft_limit_kopecks
        default = self.config.overdraft_limit_kopecks if client.kind == "member" else 0
        return available_kopecks(
            money_kopecks=self.store.balance_of(client.id),
            points=self.store.points_of(client.id),
            points_spending=client.points_spending,
            point_value_kopecks=self.store.points_value_kopecks(),
            overdraft_kopecks=default if own is None else own,
        )

    def _funds_end(self, session: LocalSession, elapsed_s: int) -> int | None:
        """The duration to end ``session`` at because its client's money has run out by
        ``elapsed_s``; None while it lasts, or for a session not guarded by money."""
        if not _funds_guarded(session.client_kind, session.start_method):
            return None
        client = self.store.client(session.client_id)
        if client is None:
            return None
        return funds_run_out(
            session.session_rates(),
            session.kind(),
            session.discount(),
            self._available(client),
            elapsed_s,
            session_start(session, self.config.timezone),
        )

    def _session(self, session_uuid: str) -> LocalSession:
        """A session known to be stored (one this engine has just started or ended)."""
        session = self.store.session(session_uuid)
        assert session is not None
        return session

    def _open_session(self, session_uuid: str) -> LocalSession:
        session = self.store.session(session_uuid)
        if session is None or session.ended_at is not None:
            raise RuleError("Сеанс не найден или уже завершён", "not_open")
        return session

    def _end(
        self,
        session: LocalSession,
        method: str,
        actor: str,
        comment: str = "",
        duration_s: int | None = None,
    ) -> int:
        """End ``session`` and charge it, paying with bonus points as the client prefers
        (``sync.bonus``); returns the client's balance after the charge."""
        now = self.clock.now()
        duration = self.elapsed_s(session) if duration_s is None else duration_s
        cost = session_price(session, duration, self.config.timezone)
        auto = method == "auto"
        with self._atomic():
            client = self.store.client(session.client_id)
            split = split_cost(
                cost,
                money_balance=self.store.balance_of(session.client_id),
                points_held=self.store.points_of(session.client_id),
                spending=client.points_spending if client is not None else "off",
                point_value_kopecks=self.store.points_value_kopecks(),
            )
            closed = self.store.close_session(
                session.uuid,
                ended_at=now,
                duration_s=duration,
                cost_kopecks=cost,
                end_method=method,
                ended_by=actor,
                auto_ended=auto,
                comment=comment,
            )
            if not closed:
                raise RuleError("Сеанс не найден или уже завершён", "not_open")
            payload: Payload = {
                "session_uuid": session.uuid,
                "duration_s": duration,
                "cost_kopecks": cost,
                "method": method,
                "auto": auto,
                "comment": comment,
            }
            if split.points:
                payload["points_spent"] = split.points
                payload["points_kopecks"] = split.points_kopecks
            event_id = self._event("session.ended", payload, actor, now)
            self._changes.append((False, session.uuid))
            if cost:
                self.store.add_ledger_entry(
                    event_id,
                    session.client_id,
                    "charge",
                    -split.money_kopecks,
                    now,
                    session_uuid=session.uuid,
                    amount_points=-split.points,
                )
            return self.store.balance_of(session.client_id)

    def _signal_end(self, balance: int, session_uuid: str) -> None:
        if balance < 0:
            self._signal("attention", "negative", session_uuid=session_uuid)
        else:
            self._signal("ended", "ended", session_uuid=session_uuid)

    def _signal(
        self, pattern: str, code: str, reason: str | None = None, session_uuid: str | None = None
    ) -> None:
        """Remember and play ``pattern``; called only after the action's commit. ``reason``:
        the text when it names values (a refusal's), else ``MESSAGES[code]``."""
        reason = MESSAGES[code] if reason is None else reason
        self.last_feedback = LastFeedback(pattern, self.clock.now(), code, reason, session_uuid)
        self.feedback.play(pattern)


def _funds_guarded(client_kind: str, method: str) -> bool:
    """Whether a start by ``method`` needs the money for it, and its session ends when the
    money runs out: always for a member, for a guest unless an attendant started it."""
    return client_kind == "member" or method != "screen"

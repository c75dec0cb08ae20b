"""Taps and scans: what a card on the reader or a QR code before the camera does. Part of
:class:`edge.engine.Engine` (a mixin, like the attendant's actions); the rules are the
engine's (edge/engine.py): a start or an end, the bounce guard, one car per post, one open
session per client across posts, the deliberate end, and every refusal as a ``tap.refused``
event with the red light (the calm one for an end held back).
"""

from __future__ import annotations

from typing import Any

from edge.attendant import StartedWith
from edge.refusals import Refused, refusal
from edge.store import AnyClient, DirClient, DirCredential, LocalSession
from sync import qrtoken
from sync.cards import compact_card_uid
from sync.errors import RuleError
from sync.events import Payload


class TapActions:
    """Answer the reader's and the camera's threads; the engine provides ``store``,
    ``config``, ``clock``, ``_lock``, ``_recent``, ``last_card``, ``card_wanted_until_ns``,
    ``elapsed_s``, ``_event``, ``_start``, ``_end``, ``_signal`` and ``_signal_end``."""

    store: Any
    config: Any
    clock: Any
    _lock: Any
    _recent: dict[tuple[str, str], int]
    last_card: tuple[str, int] | None
    card_wanted_until_ns: int
    elapsed_s: Any
    _event: Any
    _start: Any
    _end: Any
    _signal: Any
    _signal_end: Any

    def on_uid(self, uid_hex: str) -> None:
        """A card was tapped (called from the reader's thread)."""
        uid = compact_card_uid(uid_hex)  # any card in the directory, whatever its length
        self.last_card = (uid, self.clock.monotonic_ns())
        if self.last_card[1] < self.card_wanted_until_ns:  # the attendant is linking this card
            self.card_wanted_until_ns = 0
            return
        with self._lock:
            credential = self.store.credential("card", uid)
            if credential is None:
                self._refuse("card", uid, refusal("unknown"))
            elif credential.lost:
                self._refuse("card", uid, refusal("lost", credential.client.id))
            else:
                limit = (
                    credential.daily_limit_kopecks
                    if isinstance(credential, DirCredential)
                    else None
                )
                self._tap(StartedWith("card", uid, limit), credential.client)

    def on_qr(self, payload: str) -> None:
        """A QR code was scanned (called from the camera's thread)."""
        with self._lock:
            key = self.store.qr_public_key()
            if key is None:
                self._refuse("qr", payload, refusal("unknown"))
                return
            try:
                claims = qrtoken.verify(key, payload)
            except RuleError:
                self._refuse("qr", payload, refusal("forged"))
                return
            client = self.store.client(claims.client_id)
            if self.store.is_revoked(claims.token_id):
                self._refuse("qr", claims.token_id, refusal("revoked", claims.client_id))
            elif client is None:
                self._refuse("qr", claims.token_id, refusal("unknown"))
            else:
                self._tap(StartedWith("qr", claims.token_id), client)

    def _tap(self, credential: StartedWith, client: AnyClient) -> None:
        kind, value = credential.kind, credential.value
        mono = self.clock.monotonic_ns()
        repeat_ns = int(self.config.tap_repeat_s * 1e9)
        self._recent = {k: at for k, at in self._recent.items() if mono - at < repeat_ns}
        if (kind, value) in self._recent:
            return
        session = self.store.open_session_of(client.id)
        try:
            if session is None:
                self._check_open_elsewhere(client)
                self._check_post_free(client)
                started = self._start(client, None, kind, kind, credential)
            else:
                self._check_end_guard(session)
                balance = self._end(session, kind, kind)
        except Refused as refused:
            self._refuse(kind, value, refused, session.uuid if session else None)
            return
        self._recent[(kind, value)] = mono
        if session is None:
            self._signal("accepted", "started", session_uuid=started.uuid)
        else:
            self._signal_end(balance, session.uuid)

    def _check_post_free(self, client: AnyClient) -> None:
        """Refuse a tap's start while another session runs at this post (if so configured)."""
        if self.config.one_session_per_post and self.store.open_sessions():
            raise refusal("post_busy", client.id)

    def open_elsewhere(self, client: AnyClient) -> bool:
        """Whether the directory shows a session of the client open at another stand (a client
        registered here has none the central service knows of)."""
        elsewhere = client.open_session_stand_id if isinstance(client, DirClient) else None
        return elsewhere is not None and elsewhere != self.config.stand_id

    def _check_open_elsewhere(self, client: AnyClient) -> None:
        """Refuse a tap's start for a client whose session is open at another stand."""
        if self.open_elsewhere(client):
            raise refusal("open_elsewhere", client.id)

    def _check_end_guard(self, session: LocalSession) -> None:
        """Refuse a tap's end sooner than ``end_guard_s`` after the session's start."""
        elapsed = self.elapsed_s(session)
        if elapsed < self.config.end_guard_s:
            wait_s = self.config.end_guard_s - elapsed
            raise refusal("too_soon_to_end", session.client_id, seconds=wait_s)

    def _refuse(
        self, kind: str, value: str, refused: Refused, session_uuid: str | None = None
    ) -> None:
        payload: Payload = {
            "credential_kind": kind,
            "credential_value": value[:512],
            "reason": refused.code,
            # A local client has no central id yet; the event then names none.
            "client_id": refused.client_id if refused.client_id and refused.client_id > 0 else None,
        }
        with self.store.atomic():
            self._event("tap.refused", payload, kind)
        # The session goes on after an end held back: a calm light, not the red alarm.
        pattern = "running" if refused.code == "too_soon_to_end" else "refused"
        self._signal(pattern, refused.code, refused.message, session_uuid)

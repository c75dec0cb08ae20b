"""The session page: one wash session (who, where, tariff, time, cost, who started and ended
it and how), its charges, and its comments with a form to add one. Sessions are read through
the acting staff member's site scope (``sessionbook.get_session``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.clients import comments as client_comments
from cloud.clients import pages as client_pages
from cloud.clients import scope as client_scope
from cloud.clock import app_now
from cloud.errors import DomainError, NotFound
from cloud.labels import entry_labels, kind_labels
from cloud.models import Client, LedgerEntry, Session, Site, Stand, User
from cloud.permissions import Capability, requires, site_scope
from cloud.sessions import forceclose
from cloud.sessions.service import get_session, running_cost
from cloud.standsync import commands
from cloud.web import acting_user
from sync.errors import RuleError

bp = Blueprint("sessions", __name__, url_prefix="/sessions")


def method_labels() -> dict[str, str]:
    return {
        "card": _("Карта"),
        "qr": _("QR-код"),
        "screen": _("Экран поста"),
        "plate": _("Номер автомобиля"),
        "dashboard": _("Из центра"),
        "auto": _("Автоматически"),
        "forced": _("Принудительно в центре"),
    }


def force_rules() -> forceclose.ForceRules:
    """What force-closing reads from the app's configuration."""
    return forceclose.ForceRules.from_config(current_app.config["AQ"])


def _staff_name(user_id: int | None) -> str:
    user = User.get_or_none(User.id == user_id) if user_id is not None else None
    return user.full_name if user is not None else "—"


def _page(
    session: Session, error: str = "", text: str = "", status: int = 200, force_error: str = ""
) -> Any:
    now = app_now()
    forced = forceclose.forced_of([session.id]).get(session.id)
    unendable = None
    if session.ended_at is None:
        unendable = forceclose.why_unendable(
            session, session.stand, now, force_rules().silent_after
        )
    entries = list(
        LedgerEntry.select()
        .where(LedgerEntry.session == session.id)
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    )
    page = render_template(
        "sessions/view.html",
        s=session,
        started_by=_staff_name(session.started_by_id),
        ended_by=_staff_name(session.ended_by_id),
        entries=entries,
        comments=client_comments.comments_on(session),
        error=error,
        text=text,
        kind_labels=kind_labels(),
        entry_labels=entry_labels(),
        method_labels=method_labels(),
        forced=forced,
        unendable=unendable,
        reason_labels=forceclose.reason_labels(),
        running_cost=running_cost(session, now) if session.ended_at is None else 0,
        force_error=force_error,
    )
    return page, status


@bp.get("/<int:session_id>")
@requires(Capability.VIEW_CLIENTS)
def view(session_id: int) -> Any:
    return _page(get_session(acting_user(), session_id))


@bp.post("/<int:session_id>/comments")
@requires(Capability.SERVE_CLIENTS)
def comment(session_id: int) -> Any:
    """A comment on the session; it joins its client's comment history."""
    actor = acting_user()
    session = get_session(actor, session_id)
    text = request.form.get("text", "")
    try:
        client = client_scope.get_client(actor, session.client_id)
        client_comments.add_comment(actor, client, text, session)
    except (DomainError, RuleError) as error:
        status = error.status if isinstance(error, DomainError) else 400
        return _page(session, error.message, text, status)
    flash(_("Комментарий добавлен"), "success")
    return redirect(url_for("sessions.view", session_id=session.id))


@bp.post("/<int:session_id>/force-close")
@requires(Capability.FORCE_CLOSE)
def force_close(session_id: int) -> Any:
    """End centrally a session no stand can end (cloud/sessions/forceclose.py)."""
    actor = acting_user()
    try:
        forceclose.force_close(
            actor, session_id, request.form.get("comment", ""), app_now(), force_rules()
        )
    except NotFound:
        raise
    except DomainError as error:
        return _page(get_session(actor, session_id), status=error.status, force_error=error.message)
    flash(_("Сеанс завершён принудительно и списан с баланса"), "success")
    return redirect(url_for("sessions.view", session_id=session_id))


def refusal_labels() -> dict[str, str]:
    """What a stand's refusal codes (sync.events.COMMAND_REFUSALS) mean, for staff."""
    return {
        "unknown": _("пост не знает клиента"),
        "blocked": _("клиент заблокирован"),
        "insufficient_funds": _("недостаточно средств"),
        "post_busy": _("пост занят"),
        "open_elsewhere": _("сеанс клиента идёт на другом посту"),
        "already_open": _("сеанс клиента уже идёт на этом посту"),
        "no_tariff": _("нет действующего тарифа"),
        "stale_directory": _("справочник поста устарел"),
        "daily_limit": _("дневной лимит карты исчерпан"),
    }


def client_session_panel(client: Client) -> dict[str, Any]:
    """What the client page's wash panel shows: the open session (and whether its end is
    asked), the enrolled stands of the user's sites to start one on, the latest starts."""
    actor = acting_user()
    open_session = (
        Session.select(Session, Stand, Site)
        .join(Stand, on=(Session.stand == Stand.id))
        .switch(Session)
        .join(Site, on=(Session.site == Site.id))
        .where((Session.client == client.id) & Session.ended_at.is_null())
        .order_by(Session.started_at)
        .first()
    )
    stands = (
        Stand.select(Stand, Site)
        .join(Site, on=(Stand.site == Site.id))
        .where(Stand.enrolled_at.is_null(False) & Stand.revoked_at.is_null())
        .order_by(Site.name, Stand.name)
    )
    scope = site_scope(actor)
    if scope is not None:
        stands = stands.where(Stand.site.in_(sorted(scope)))
    ending = commands.pending_session_ids([open_session.id]) if open_session else set()
    return {
        "open": open_session,
        "end_requested": bool(ending),
        "stands": list(stands),
        "starts": commands.start_commands_of(client.id),
        "reasons": refusal_labels(),
    }


@bp.app_context_processor
def _panel() -> dict[str, Any]:
    return {"client_session_panel": client_session_panel}


@bp.post("/start")
@requires(Capability.SERVE_CLIENTS)
def start() -> Any:
    """Ask a stand to start a session for the client (its command channel); back to the client
    page, where the stand's answer shows."""
    actor = acting_user()
    client = client_scope.get_client(actor, request.form.get("client_id", type=int) or 0)
    try:
        commands.request_start(
            actor, client, request.form.get("stand_id", type=int) or 0, app_now()
        )
    except NotFound:
        raise
    except DomainError as error:
        flash(error.message, "error")
        page, _status = client_pages.view(client.id)
        return page, error.status
    flash(_("Запуск отправлен на пост: он ответит при следующем обмене"), "success")
    return redirect(url_for("clients.view", client_id=client.id) + "#wash")

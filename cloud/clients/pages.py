"""Client pages: the list with search, registering a member or a guest, the client page (data,
balance, credentials, sessions, ledger, comments, QR code) and its actions. The rules live in
``cloud.clients.service`` and ``cloud.ledger.service``; each route states the capability it needs."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from cloud.catalog.sites import visible_sites
from cloud.clients import comments as client_comments
from cloud.clients import credentials as client_credentials
from cloud.clients import funds as client_funds
from cloud.clients import scope as client_scope
from cloud.clients import search as client_search
from cloud.clients import service as clientbook
from cloud.clients.counters import counters_of
from cloud.clients.entry import PhoneTaken
from cloud.clients.qrkeys import qr_code
from cloud.errors import DomainError, ValidationFailed
from cloud.fiscal.receipts import receipts_of_entries
from cloud.labels import credential_labels, entry_labels, kind_labels, method_labels
from cloud.ledger import service as ledger
from cloud.loyalty import bonus
from cloud.loyalty.settings import effective_rules
from cloud.models import Client, Site, Tariff, UserSite
from cloud.permissions import Capability, requires, site_scope
from cloud.sessions import service as sessionbook
from cloud.web import acting_user
from sync.document import parse_utc
from sync.errors import RuleError
from sync.money import parse_roubles

bp = Blueprint("clients", __name__, url_prefix="/clients")

_LIST_SEPARATORS = re.compile(r"[,;\r\n]+")


def split_list(text: str | None) -> list[str]:
    """Values typed one per line or separated by commas or semicolons."""
    return [part.strip() for part in _LIST_SEPARATORS.split(text or "") if part.strip()]


def _optional_id(text: str | None, message: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationFailed(message, "bad_id")
    return int(text)


def _error_status(error: Exception) -> int:
    return error.status if isinstance(error, DomainError) else 400


def _sites() -> list[Site]:
    """The sites the acting user may choose from."""
    return list(visible_sites(acting_user()))


def _tariffs() -> list[Tariff]:
    return list(Tariff.select().where(Tariff.active).order_by(Tariff.name))


def _client(client_id: int) -> Client:
    return client_scope.get_client(acting_user(), client_id)


# --- the list ---------------------------------------------------------------------------------


@bp.get("")
@requires(Capability.VIEW_CLIENTS)
def index() -> Any:
    args = request.args
    kind = args.get("kind") if args.get("kind") in ("member", "guest") else None
    blocked = {"1": True, "0": False}.get(args.get("blocked", ""))
    site_id = args.get("site_id", type=int)
    offset = max(args.get("offset", 0, type=int), 0)
    limit = current_app.config["AQ"].page_size
    rows, total = client_search.search_clients(
        acting_user(),
        q=args.get("q", ""),
        kind=kind,
        site_id=site_id,
        blocked=blocked,
        limit=limit,
        offset=offset,
    )
    filters = {key: value for key, value in args.items() if key != "offset" and value}
    return render_template(
        "clients/index.html",
        clients=clientbook.client_dicts(rows),
        total=total,
        offset=offset,
        limit=limit,
        filters=filters,
        q=args.get("q", ""),
        kind=kind or "",
        blocked=args.get("blocked", ""),
        site_id=site_id,
        sites=_sites(),
        kind_labels=kind_labels(),
    )


# --- registering ------------------------------------------------------------------------------


def _taken(error: Exception | None) -> dict[str, Any] | None:
    """The other client of a phone warning (``cloud.clients.entry.PhoneTaken``), for its link."""
    return error.details if isinstance(error, PhoneTaken) else None


def _new_form(
    template: str, form: MultiDict[str, str], error: Exception | None = None, status: int = 200
) -> Any:
    message = getattr(error, "message", "")
    return (
        render_template(
            template,
            form=form,
            error=message,
            taken=_taken(error),
            sites=_sites(),
            tariffs=_tariffs(),
            scoped=_scoped(),
        ),
        status,
    )


def _own_site_preselected() -> MultiDict[str, str]:
    """An empty form with the site preselected when the staff member works at exactly one."""
    links = list(UserSite.select(UserSite.site).where(UserSite.user == acting_user().id))
    return MultiDict({"site_id": str(links[0].site_id)} if len(links) == 1 else {})


def _scoped() -> bool:
    return site_scope(acting_user()) is not None


@bp.route("/new", methods=["GET", "POST"])
@requires(Capability.SERVE_CLIENTS)
def create() -> Any:
    """Register a club member."""
    form = request.form
    if request.method == "GET":
        return _new_form("clients/new.html", _own_site_preselected())
    try:
        client = clientbook.create_client(
            acting_user(),
            kind="member",
            name=form.get("name", ""),
            phones=split_list(form.get("phones")),
            email=form.get("email", ""),
            plates=split_list(form.get("plates")),
            cards=split_list(form.get("cards")),
            default_tariff_id=_optional_id(form.get("default_tariff_id"), _("Неизвестный тариф")),
            note=form.get("note", ""),
            site_id=_optional_id(form.get("site_id"), _("Площадка не найдена")),
            foreign=form.get("foreign") == "yes",
            confirmed=form.get("confirm_phone") == "yes",
        )
    except (DomainError, RuleError) as error:
        return _new_form("clients/new.html", form, error, _error_status(error))
    bonus.welcome(client, effective_rules(current_app.config["AQ"]))
    flash(_("Участник клуба зарегистрирован"), "success")
    return redirect(url_for("clients.view", client_id=client.id))


@bp.route("/new-guest", methods=["GET", "POST"])
@requires(Capability.SERVE_CLIENTS)
def create_guest() -> Any:
    """Add a guest known by a car plate alone."""
    form = request.form
    if request.method == "GET":
        return _new_form("clients/new_guest.html", _own_site_preselected())
    try:
        client = clientbook.create_client(
            acting_user(),
            kind="guest",
            plates=[form.get("plate", "")],
            site_id=_optional_id(form.get("site_id"), _("Площадка не найдена")),
            foreign=form.get("foreign") == "yes",
        )
    except (DomainError, RuleError) as error:
        return _new_form("clients/new_guest.html", form, error, _error_status(error))
    flash(_("Гость добавлен"), "success")
    return redirect(url_for("clients.view", client_id=client.id))


# --- the client page --------------------------------------------------------------------------


def _page(
    client: Client, *, errors: dict[str, str] | None = None, form: Any = None, status: int = 200
) -> Any:
    """The client page; a failed action shows its message next to its form (``errors``)."""
    actor = acting_user()
    sessions, sessions_total = sessionbook.list_sessions(actor, client_id=client.id, limit=50)
    counters = counters_of([client])[client.id]
    entries = ledger.entries(client, limit=100)
    return (
        render_template(
            "clients/view.html",
            client=client,
            data=clientbook.client_to_dict(client),
            credentials=client_credentials.active_credentials(client),
            sessions=sessions,
            sessions_total=sessions_total,
            entries=entries,
            receipts=receipts_of_entries([entry.id for entry in entries]),
            comments=client_comments.comments_of(client),
            open_session=clientbook.has_open_session(client),
            home_site=Site.get_or_none(Site.id == client.home_site_id),
            sites=_sites(),
            tariff=Tariff.get_or_none(Tariff.id == client.default_tariff_id),
            errors=errors or {},
            form=form or MultiDict(),
            kind_labels=kind_labels(),
            method_labels=method_labels(),
            entry_labels=entry_labels(),
            credential_labels=credential_labels(),
            counters=counters,
            last_visit=parse_utc(counters["last_visit_at"]) if counters["last_visit_at"] else None,
        ),
        status,
    )


def _failed(client: Client, section: str, error: DomainError | RuleError) -> Any:
    errors = {section: error.message, f"{section}_code": error.code}
    return _page(client, errors=errors, form=request.form, status=_error_status(error))


def _back(client: Client, message: str) -> Any:
    flash(message, "success")
    return redirect(url_for("clients.view", client_id=client.id))


@bp.get("/<int:client_id>")
@requires(Capability.VIEW_CLIENTS)
def view(client_id: int) -> Any:
    return _page(_client(client_id))


@bp.post("/<int:client_id>/topup")
@requires(Capability.SERVE_CLIENTS)
def topup(client_id: int) -> Any:
    client = _client(client_id)
    form = request.form
    large = ledger.LargeTopups(
        current_app.config["AQ"].topup_confirm_kopecks, form.get("confirm_large") == "yes"
    )
    try:
        amount = parse_roubles(form.get("amount", ""))
        site = ledger.topup_site(acting_user(), client, form.get("site_id", type=int))
        ledger.record_topup(acting_user(), client, amount, form.get("method", ""), site, large)
    except (DomainError, RuleError) as error:
        return _failed(client, "topup", error)
    return _back(client, _("Баланс пополнен"))


@bp.post("/<int:client_id>/adjust")
@requires(Capability.ADJUST_BALANCE)
def adjust(client_id: int) -> Any:
    client = _client(client_id)
    try:
        amount = parse_roubles(request.form.get("amount", ""), allow_negative=True)
        ledger.adjust_balance(acting_user(), client, amount, request.form.get("reason", ""))
    except (DomainError, RuleError) as error:
        return _failed(client, "adjust", error)
    return _back(client, _("Баланс скорректирован"))


@bp.post("/<int:client_id>/overdraft")
@requires(Capability.SET_OVERDRAFT)
def overdraft(client_id: int) -> Any:
    """The client's own credit limit in roubles; empty: the stand's default."""
    client = _client(client_id)
    text = request.form.get("overdraft", "").strip()
    try:
        client_funds.set_overdraft(client, parse_roubles(text) if text else None)
    except (DomainError, RuleError) as error:
        return _failed(_client(client_id), "overdraft", error)
    return _back(client, _("Кредитный лимит сохранён"))


@bp.post("/<int:client_id>/comments")
@requires(Capability.SERVE_CLIENTS)
def comment(client_id: int) -> Any:
    client = _client(client_id)
    try:
        session_id = _optional_id(request.form.get("session_id"), _("Сессия не найдена"))
        if session_id is not None and session_id > 2**31 - 1:
            raise ValidationFailed(_("Сессия не найдена"), "bad_id")
        session = (
            sessionbook.get_session(acting_user(), session_id) if session_id is not None else None
        )
        client_comments.add_comment(acting_user(), client, request.form.get("text", ""), session)
    except (DomainError, RuleError) as error:
        return _failed(client, "comment", error)
    return _back(client, _("Комментарий добавлен"))


@bp.post("/<int:client_id>/cards")
@requires(Capability.EDIT_CLIENTS)
def link_card(client_id: int) -> Any:
    client = _client(client_id)
    try:
        client_credentials.link_card(acting_user(), client, request.form.get("uid", ""))
    except (DomainError, RuleError) as error:
        return _failed(client, "card", error)
    return _back(client, _("Карта привязана"))


@bp.post("/<int:client_id>/plates")
@requires(Capability.EDIT_CLIENTS)
def link_plate(client_id: int) -> Any:
    client = _client(client_id)
    try:
        client_credentials.link_plate(
            acting_user(),
            client,
            request.form.get("plate", ""),
            foreign=request.form.get("foreign") == "yes",
        )
    except (DomainError, RuleError) as error:
        return _failed(client, "plate", error)
    return _back(client, _("Номер автомобиля привязан"))


@bp.post("/<int:client_id>/credentials/<int:credential_id>/unlink")
@requires(Capability.EDIT_CLIENTS)
def unlink(client_id: int, credential_id: int) -> Any:
    client = _client(client_id)
    client_credentials.unlink_credential(acting_user(), client, credential_id)
    return _back(client, _("Отвязано"))


@bp.post("/<int:client_id>/credentials/<int:credential_id>/lost")
@requires(Capability.EDIT_CLIENTS)
def mark_lost(client_id: int, credential_id: int) -> Any:
    client = _client(client_id)
    client_credentials.mark_card_lost(acting_user(), client, credential_id)
    return _back(client, _("Карта отмечена потерянной: она больше не откроет сессию"))


@bp.post("/<int:client_id>/block")
@requires(Capability.EDIT_CLIENTS)
def block(client_id: int) -> Any:
    client = _client(client_id)
    blocking = request.form.get("action") == "block"
    try:
        clientbook.set_blocked(acting_user(), client, blocking, request.form.get("reason", ""))
    except (DomainError, RuleError) as error:
        return _failed(client, "block", error)
    return _back(client, _("Клиент заблокирован") if blocking else _("Клиент разблокирован"))


@bp.post("/<int:client_id>/delete")
@requires(Capability.DELETE_CLIENTS)
def delete(client_id: int) -> Any:
    client = _client(client_id)
    try:
        if request.form.get("confirm") != "yes":
            raise ValidationFailed(_("Подтвердите удаление отметкой"), "confirm_required")
        clientbook.delete_client(acting_user(), client)
    except (DomainError, RuleError) as error:
        return _failed(client, "delete", error)
    flash(_("Клиент удалён"), "success")
    return redirect(url_for("clients.index"))


@bp.get("/deleted")
@requires(Capability.RESTORE_CLIENTS)
def deleted() -> Any:
    offset = max(request.args.get("offset", 0, type=int), 0)
    limit = current_app.config["AQ"].page_size
    rows, total = clientbook.deleted_clients(limit, offset)
    return render_template(
        "clients/deleted.html",
        clients=rows,
        total=total,
        offset=offset,
        limit=limit,
        kind_labels=kind_labels(),
    )


@bp.post("/<int:client_id>/restore")
@requires(Capability.RESTORE_CLIENTS)
def restore(client_id: int) -> Any:
    client = clientbook.get_deleted_client(client_id)
    clientbook.restore_client(acting_user(), client)
    flash(_("Клиент восстановлен. Карты, номера и QR-код привяжите заново."), "success")
    return redirect(url_for("clients.view", client_id=client.id))


# --- edit and promote -------------------------------------------------------------------------


def _edit_values(client: Client) -> MultiDict[str, str]:
    return MultiDict(
        {
            "name": client.name,
            "phones": "\n".join(clientbook.phones_of(client)),
            "email": client.email,
            "note": client.note,
            "default_tariff_id": str(client.default_tariff_id or ""),
            "unsubscribed": "1" if client.unsubscribed else "",
            "corporate": "yes" if client.corporate else "",
        }
    )


@bp.route("/<int:client_id>/edit", methods=["GET", "POST"])
@requires(Capability.EDIT_CLIENTS)
def edit(client_id: int) -> Any:
    client = _client(client_id)
    form = request.form if request.method == "POST" else _edit_values(client)
    error, status, taken = "", 200, None
    if request.method == "POST":
        try:
            clientbook.update_client(
                acting_user(),
                client,
                confirmed=form.get("confirm_phone") == "yes",
                name=form.get("name", ""),
                phones=split_list(form.get("phones")),
                email=form.get("email", ""),
                note=form.get("note", ""),
                default_tariff_id=_optional_id(
                    form.get("default_tariff_id"), _("Неизвестный тариф")
                ),
                unsubscribed=form.get("unsubscribed") == "1",
                corporate=form.get("corporate") == "yes",
            )
        except (DomainError, RuleError) as failure:
            client = _client(client_id)  # show the stored client, not the half-changed one
            error, status, taken = failure.message, _error_status(failure), _taken(failure)
        else:
            return _back(client, _("Данные клиента сохранены"))
    page = render_template(
        "clients/edit.html",
        client=client,
        form=form,
        error=error,
        taken=taken,
        tariffs=_tariffs(),
    )
    return page, status


@bp.route("/<int:client_id>/promote", methods=["GET", "POST"])
@requires(Capability.SERVE_CLIENTS)
def promote(client_id: int) -> Any:
    """Register a guest as a club member, keeping their history."""
    client = _client(client_id)
    form = request.form
    error, status, taken = "", 200, None
    if request.method == "POST":
        try:
            clientbook.promote_to_member(
                acting_user(),
                client,
                name=form.get("name", ""),
                phones=split_list(form.get("phones")),
                email=form.get("email", ""),
                cards=split_list(form.get("cards")),
                confirmed=form.get("confirm_phone") == "yes",
            )
        except (DomainError, RuleError) as failure:
            client = _client(client_id)
            error, status, taken = failure.message, _error_status(failure), _taken(failure)
        else:
            bonus.welcome(client, effective_rules(current_app.config["AQ"]))
            return _back(client, _("Гость зарегистрирован участником клуба"))
    page = render_template(
        "clients/promote.html", client=client, form=form, error=error, taken=taken
    )
    return page, status


# --- QR code ----------------------------------------------------------------------------------


@bp.get("/<int:client_id>/qr")
@requires(Capability.VIEW_CLIENTS)
def qr(client_id: int) -> Any:
    """The client's QR code, ready to print; the first one is issued on first view."""
    client = _client(client_id)
    token = client_credentials.ensure_qr(acting_user(), client, current_app.config["AQ"])
    svg = qr_code(token).svg_inline(border=4, omitsize=True)
    return render_template(
        "clients/qr.html", client=client, data=clientbook.client_to_dict(client), svg=svg
    )


@bp.post("/<int:client_id>/qr/reissue")
@requires(Capability.EDIT_CLIENTS)
def reissue_qr(client_id: int) -> Any:
    client = _client(client_id)
    client_credentials.issue_qr(acting_user(), client, current_app.config["AQ"])
    flash(_("Выпущен новый QR-код, прежний больше не действует"), "success")
    return redirect(url_for("clients.qr", client_id=client.id))

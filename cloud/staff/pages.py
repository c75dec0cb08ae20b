"""Staff pages: the users list, a user card (view, edit, password, PIN, activity, API tokens,
delete), the new-user form and, for the owner, failed log-ins and the delays they earned.
The rules live in ``cloud.staff.service`` and ``cloud.staff.auth``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from werkzeug.datastructures import MultiDict

from cloud.clock import app_now
from cloud.errors import DomainError, ValidationFailed
from cloud.models import Site, User
from cloud.permissions import Capability, requires
from cloud.staff import auth
from cloud.staff import service as staffbook
from cloud.staff.loginpages import StaffPrincipal
from cloud.web import acting_user
from sync.errors import RuleError

bp = Blueprint("staff", __name__, url_prefix="/staff")

STATUS_FILTERS = {"all": None, "active": True, "inactive": False}


def _site_ids(form: MultiDict[str, str]) -> list[int]:
    try:
        return [int(value) for value in form.getlist("site_ids")]
    except ValueError:
        raise ValidationFailed(_("Неизвестная площадка"), "bad_site") from None


def _form_context(actor: User) -> dict[str, Any]:
    return {
        "sites": list(Site.select().order_by(Site.name)),
        "roles": staffbook.assignable_roles(actor),
        "role_labels": staffbook.ROLE_LABELS,
    }


def _values(form: MultiDict[str, str] | None, user: User | None = None) -> dict[str, Any]:
    """What the name/phone/role/sites fields show: what was typed, else what is stored."""
    if form or user is None:
        form = form or MultiDict()
        return {
            "full_name": form.get("full_name", ""),
            "phone": form.get("phone", ""),
            "role": form.get("role", ""),
            "site_ids": set(form.getlist("site_ids")),
        }
    return {
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "site_ids": {str(site.id) for site in staffbook.sites_of([user])[user.id]},
    }


def _keep_own_session(user: User) -> None:
    """After changing their own password or role, the actor stays logged in on this device;
    their other sessions have ended with the new ``session_version``."""
    if user.id == acting_user().id:
        login_user(StaffPrincipal(User.get_by_id(user.id)))


@bp.get("")
@requires(Capability.MANAGE_STAFF)
def index() -> Any:
    q = request.args.get("q", "")
    status = request.args.get("status", "all")
    if status not in STATUS_FILTERS:
        status = "all"
    users = staffbook.list_staff(q, STATUS_FILTERS[status])
    return render_template(
        "staff/index.html",
        users=users,
        sites=staffbook.sites_of(users),
        q=q,
        status=status,
        role_labels=staffbook.ROLE_LABELS,
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(Capability.MANAGE_STAFF)
def create() -> Any:
    actor = acting_user()
    if request.method == "POST":
        form = request.form
        try:
            user = staffbook.create_staff(
                name=form.get("full_name", ""),
                phone=form.get("phone", ""),
                role=form.get("role", ""),
                password=form.get("password", ""),
                pin=form.get("pin", "").strip(),
                site_ids=_site_ids(form),
                actor=actor,
            )
        except (DomainError, RuleError) as error:
            return render_template(
                "staff/new.html", error=error.message, values=_values(form), **_form_context(actor)
            ), _status(error)
        flash(_("Сотрудник %(name)s создан", name=user.full_name), "success")
        return redirect(url_for("staff.card", user_id=user.id))
    return render_template(
        "staff/new.html", error=None, values=_values(None), **_form_context(actor)
    )


def _status(error: DomainError | RuleError) -> int:
    return error.status if isinstance(error, DomainError) else 400


def _render_card(
    user: User,
    *,
    error: str | None = None,
    form: MultiDict[str, str] | None = None,
    new_token: str | None = None,
    status: int = 200,
) -> Any:
    actor = acting_user()
    return render_template(
        "staff/card.html",
        user=user,
        user_sites=staffbook.sites_of([user])[user.id],
        tokens=staffbook.list_tokens(user),
        may_manage=staffbook.may_manage(actor, user),
        may_issue_token=staffbook.may_issue_token(actor, user),
        is_self=actor.id == user.id,
        error=error,
        values=_values(form, user),
        new_token=new_token,
        **_form_context(actor),
    ), status


def _failed(user_id: int, error: DomainError | RuleError, form: Any = None) -> Any:
    """Show the card again, as stored, with the error; nothing was saved."""
    return _render_card(
        staffbook.get_staff(user_id), error=error.message, form=form, status=_status(error)
    )


@bp.get("/<int:user_id>")
@requires(Capability.MANAGE_STAFF)
def card(user_id: int) -> Any:
    return _render_card(staffbook.get_staff(user_id))


@bp.post("/<int:user_id>")
@requires(Capability.MANAGE_STAFF)
def update(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    form = request.form
    try:
        changes = staffbook.StaffChanges(
            full_name=form.get("full_name", ""),
            phone=form.get("phone", ""),
            role=form.get("role", ""),
            site_ids=_site_ids(form),
        )
        staffbook.update_staff(acting_user(), user, changes)
    except (DomainError, RuleError) as error:
        return _failed(user_id, error, form)
    _keep_own_session(user)
    flash(_("Изменения сохранены"), "success")
    return redirect(url_for("staff.card", user_id=user.id))


def _change_password(user: User) -> None:
    """The password form's change (the current password first, for one's own)."""
    form = request.form
    if form.get("password", "") != form.get("password_again", ""):
        raise ValidationFailed(_("Пароли не совпадают"), "password_mismatch")
    actor = acting_user()
    if actor.id == user.id:
        config = current_app.config["AQ"]
        staffbook.change_own_password(
            user, form.get("current_password", ""), form.get("password", ""), config, app_now()
        )
    else:
        staffbook.change_password(actor, user, form.get("password", ""))
    _keep_own_session(user)


@bp.post("/<int:user_id>/password")
@requires(Capability.MANAGE_STAFF)
def password(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    try:
        _change_password(user)
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    flash(_("Пароль изменён; прочие сеансы и API-токены сотрудника завершены"), "success")
    return redirect(url_for("staff.card", user_id=user.id))


@bp.post("/<int:user_id>/pin")
@requires(Capability.MANAGE_STAFF)
def pin(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    try:
        staffbook.change_pin(acting_user(), user, request.form.get("pin", "").strip())
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    flash(_("PIN для стендов изменён"), "success")
    return redirect(url_for("staff.card", user_id=user.id))


@bp.post("/<int:user_id>/active")
@requires(Capability.MANAGE_STAFF)
def set_active(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    wanted = request.form.get("active", "")
    try:
        if wanted not in ("0", "1"):
            raise ValidationFailed(_("Некорректный запрос"), "bad_request")
        changes = staffbook.StaffChanges(active=wanted == "1")
        staffbook.update_staff(acting_user(), user, changes)
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    if user.active:
        flash(_("Сотрудник снова активен"), "success")
    else:
        flash(_("Сотрудник деактивирован: его сеансы завершены"), "success")
    return redirect(url_for("staff.card", user_id=user.id))


@bp.post("/<int:user_id>/delete")
@requires(Capability.DELETE_STAFF)
def delete(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    try:
        staffbook.delete_staff(acting_user(), user)
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    flash(_("Сотрудник %(name)s удалён", name=user.full_name), "success")
    return redirect(url_for("staff.index"))


@bp.post("/<int:user_id>/tokens")
@requires(Capability.MANAGE_STAFF)
def create_token(user_id: int) -> Any:
    """Issue an API token and show it on this answer only: it is not stored, so it cannot be
    shown again (no redirect, unlike the other forms)."""
    user = staffbook.get_staff(user_id)
    try:
        days = current_app.config["AQ"].api_token_days
        token = staffbook.issue_token(acting_user(), user, days, app_now())
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    return _render_card(user, new_token=token)  # never cached (cloud/__init__.py)


@bp.post("/<int:user_id>/tokens/revoke")
@requires(Capability.MANAGE_STAFF)
def revoke_token(user_id: int) -> Any:
    user = staffbook.get_staff(user_id)
    try:
        token_id = request.form.get("token_id", "")
        if not token_id.isdigit():
            raise ValidationFailed(_("Токен не найден"), "bad_token")
        staffbook.revoke_token(acting_user(), user, int(token_id))
    except (DomainError, RuleError) as error:
        return _failed(user_id, error)
    flash(_("Токен отозван"), "success")
    return redirect(url_for("staff.card", user_id=user.id))


def _throttle_label(key: str) -> str:
    """What a throttle key is about, in words (``cloud.staff.auth``'s keys)."""
    kind, _sep, rest = key.partition(":")
    if kind == "pair":
        phone, _at, address = rest.rpartition("@")
        return _("Вход %(phone)s с адреса %(address)s", phone=phone, address=address)
    if kind == "phone":
        return _("Вход %(phone)s с любого адреса", phone=rest)
    if kind == "addr":
        return _("Адрес %(address)s", address=rest)
    return _("Знакомый браузер сотрудника")


@bp.get("/failed-logins")
@requires(Capability.DELETE_STAFF)  # the owner's
def logins() -> Any:
    return render_template(
        "staff/logins.html",
        throttles=auth.current_throttles(app_now()),
        failures=auth.recent_failed_logins(),
        throttle_label=_throttle_label,
    )


@bp.post("/failed-logins/clear")
@requires(Capability.DELETE_STAFF)
def clear_throttle() -> Any:
    throttle_id = request.form.get("throttle_id", "")
    valid = throttle_id.isdigit() and 0 < int(throttle_id) <= staffbook.MAX_ID
    if valid and auth.clear_throttle(int(throttle_id)):
        flash(_("Задержка снята"), "success")
    else:
        flash(_("Такой задержки нет: она уже снята или истекла"), "error")
    return redirect(url_for("staff.logins"))


# ---- one's own account: every staff member ------------------------------------------------


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page of the signed-in staff member's own account: no capability beyond signing in
    (the role-matrix walk reads ``required_capability`` None as "every role")."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    wrapped.required_capability = None  # type: ignore[attr-defined]
    return wrapped


def _render_me(error: DomainError | RuleError | None = None, new_token: str | None = None) -> Any:
    user = User.get_by_id(acting_user().id)
    page = render_template(
        "staff/me.html",
        user=user,
        user_sites=staffbook.sites_of([user])[user.id],
        tokens=staffbook.list_tokens(user),
        role_labels=staffbook.ROLE_LABELS,
        error=error.message if error else None,
        new_token=new_token,
    )
    return page, _status(error) if error else 200


@bp.get("/me")
@signed_in
def me() -> Any:
    return _render_me()


@bp.post("/me/password")
@signed_in
def my_password() -> Any:
    try:
        _change_password(User.get_by_id(acting_user().id))
    except (DomainError, RuleError) as error:
        return _render_me(error)
    flash(_("Пароль изменён; прочие сеансы и API-токены завершены"), "success")
    return redirect(url_for("staff.me"))


@bp.post("/me/tokens")
@signed_in
def my_token() -> Any:
    user = User.get_by_id(acting_user().id)
    try:
        days = current_app.config["AQ"].api_token_days
        token = staffbook.issue_token(user, user, days, app_now())
    except (DomainError, RuleError) as error:
        return _render_me(error)
    return _render_me(new_token=token)


@bp.post("/me/tokens/revoke")
@signed_in
def revoke_my_token() -> Any:
    user = User.get_by_id(acting_user().id)
    try:
        token_id = request.form.get("token_id", "")
        if not token_id.isdigit():
            raise ValidationFailed(_("Токен не найден"), "bad_token")
        staffbook.revoke_token(user, user, int(token_id))
    except (DomainError, RuleError) as error:
        return _render_me(error)
    flash(_("Токен отозван"), "success")
    return redirect(url_for("staff.me"))

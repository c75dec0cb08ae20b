"""The staff audit log: every staff action that changes money, access, prices or clients is
one ``AuditEntry`` row, written by the service that makes the change, inside the same
transaction (a change that fails or is refused leaves no row; a row never tells of a change
that was rolled back).

One function to call, from any area's service (this module imports no area, so every area
may import it)::

    from cloud.audit import service as audit

    with db_proxy.atomic():
        client.save()
        audit.record("client.blocked", audit.target("client", client.id, client.name),
                     before={"blocked": False}, after={"blocked": True}, comment=reason)

``record`` fills in who, when and from where by itself: the ``actor`` given, else the staff
member behind the request (an API token's user, or the logged-in one); the address the app
sees (``request.remote_addr``, which honours ``trusted_proxy_count`` through ProxyFix); the
API token's id when the request came with one; the time from the app's injected clock
(``cloud.clock``). Outside a request (the command line) the actor is the one given or none,
and the address is empty.

The log cannot be changed from the application: there is no route that edits or deletes a
row, and the database refuses UPDATE and DELETE on the table (``install_guard``: triggers on
PostgreSQL, where TRUNCATE is refused too, and on SQLite).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import peewee as pw
from flask import current_app, g, has_app_context, has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from cloud.clock import EXTENSION as CLOCK
from cloud.clock import app_now, iso_utc
from cloud.db import utcnow
from cloud.models import AuditEntry, User

TABLE = AuditEntry._meta.table_name
MAX_LABEL = 200
MAX_COMMENT = 2000
REFUSAL = "audit_entry is append-only"


# Every action code the log knows, with its label on the Audit page. A new kind of action is a
# new row here (``record`` refuses a code not listed, so a typo fails its test).
ACTIONS: dict[str, Any] = {
    # money
    "ledger.topup": _l("Пополнение баланса"),
    "ledger.adjustment": _l("Корректировка баланса"),
    "ledger.refund": _l("Возврат"),
    "held_topup.released": _l("Задержанное пополнение зачислено"),
    "held_topup.rejected": _l("Задержанное пополнение отклонено"),
    "session.force_closed": _l("Сеанс завершён принудительно"),
    "points.adjusted": _l("Начисление или списание баллов"),
    "client.terms": _l("Скидка и порядок списания баллов"),
    "client.overdraft": _l("Кредитный лимит клиента"),
    "card.daily_limit": _l("Дневной лимит карты"),
    "loyalty.settings": _l("Настройки бонусной программы"),
    # clients
    "client.created": _l("Клиент создан"),
    "client.updated": _l("Клиент изменён"),
    "client.promoted": _l("Гость стал участником клуба"),
    "client.blocked": _l("Клиент заблокирован"),
    "client.unblocked": _l("Клиент разблокирован"),
    "client.deleted": _l("Клиент удалён"),
    "client.restored": _l("Клиент восстановлен"),
    "credential.linked": _l("Карта или номер привязаны"),
    "credential.unlinked": _l("Карта или номер отвязаны"),
    "credential.lost": _l("Карта отмечена потерянной"),
    "qr.issued": _l("QR-код выпущен"),
    "driver.added": _l("Водитель добавлен"),
    "driver.removed": _l("Водитель удалён"),
    # prices
    "tariff.created": _l("Тариф создан"),
    "tariff.renamed": _l("Тариф переименован"),
    "tariff.activated": _l("Тариф включён"),
    "tariff.deactivated": _l("Тариф выключен"),
    "tariff.version_added": _l("Новая версия тарифа"),
    "tariff.version_changed": _l("Запланированная версия тарифа изменена"),
    "tariff.version_cancelled": _l("Запланированная версия тарифа отменена"),
    "site.default_tariff_set": _l("Тариф площадки по умолчанию"),
    "stand.default_tariff_set": _l("Тариф поста по умолчанию"),
    # access
    "staff.created": _l("Сотрудник создан"),
    "staff.updated": _l("Сотрудник изменён"),
    "staff.activated": _l("Сотрудник активирован"),
    "staff.deactivated": _l("Сотрудник деактивирован"),
    "staff.deleted": _l("Сотрудник удалён"),
    "staff.password": _l("Пароль изменён"),
    "staff.pin": _l("PIN изменён"),
    "staff.alerts": _l("Оповещения сотрудника изменены"),
    "login.lock_cleared": _l("Задержка входа снята"),
    "token.issued": _l("API-токен выпущен"),
    "token.revoked": _l("API-токен отозван"),
    "site.created": _l("Площадка создана"),
    "site.renamed": _l("Площадка переименована"),
    "stand.created": _l("Пост создан"),
    "stand.renamed": _l("Пост переименован"),
    "stand.provisioned": _l("Код подключения поста выдан"),
    "stand.revoked": _l("Доступ поста отозван"),
}


@dataclass(frozen=True)
class Target:
    """What an action was done to: a kind (``client``, ``staff``, ``tariff``...), its row id
    and a label as it was then (a name), so the log reads well after the row has changed."""

    kind: str
    id: int | None
    label: str = ""


def target(kind: str, row_id: int | None, label: str | None = "") -> Target:
    return Target(kind, row_id, (label or "")[:MAX_LABEL])


def client_target(client: Any) -> Target:
    """A client as a target: their name, or their number for a guest known by a plate."""
    return target("client", client.id, client.name or f"#{client.id}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _dump(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, ensure_ascii=False, sort_keys=True, default=_jsonable)


def fields_of(row: pw.Model, *names: str) -> dict[str, Any]:
    """The named fields of ``row`` as they are now, for ``before``/``after``: a foreign key by
    its id (``default_tariff_id``), a time as ISO 8601 UTC."""
    values: dict[str, Any] = {}
    for name in names:
        field = row._meta.fields.get(name[:-3]) if name.endswith("_id") else None
        value = (
            row.__data__.get(field.name)
            if isinstance(field, pw.ForeignKeyField)
            else getattr(row, name)
        )
        values[name] = iso_utc(value) if isinstance(value, datetime) else value
    return values


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, from each side (an edit's before and after)."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    keys += [key for key in before if key not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


@dataclass(frozen=True)
class Origin:
    """Who acted and from where, as the request says."""

    actor: User | None
    address: str
    api_token_id: int | None


def _origin(actor: User | None) -> Origin:
    if not has_request_context():
        return Origin(actor, "", None)
    api_user = g.get("api_user")
    if actor is None:
        actor = api_user if api_user is not None else _logged_in()
    token_id = None
    if api_user is not None and actor is not None and api_user.id == actor.id:
        token_id = getattr(api_user, "api_token_id", None)
    return Origin(actor, (request.remote_addr or "")[:64], token_id)


def _logged_in() -> User | None:
    row = getattr(current_user, "row", None) if current_user else None
    return row if isinstance(row, User) else None


def _now() -> datetime:
    """The app's clock; the wall clock only where no app runs (a script of its own)."""
    return app_now() if has_app_context() and CLOCK in current_app.extensions else utcnow()


def record(
    action: str,
    what: Target,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    *,
    comment: str = "",
    actor: User | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Write one row of the audit log: ``action`` (a code like ``client.blocked``; see
    ``ACTIONS``) done to ``what``, with the values ``before`` and ``after`` (JSON objects;
    None: the thing did not exist / is gone) and a ``comment`` (a reason given).

    Call it inside the transaction of the change. ``actor`` and ``now`` default to the
    request's staff member and the app's clock."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to ACTIONS")
    origin = _origin(actor)
    who = origin.actor
    return AuditEntry.create(
        at=now or _now(),
        actor_id=who.id if who is not None else None,
        actor_name=(who.full_name if who is not None else "")[:200],
        actor_role=who.role if who is not None else "",
        address=origin.address,
        api_token_id=origin.api_token_id,
        action=action,
        target_kind=what.kind,
        target_id=what.id,
        target_label=what.label,
        before=_dump(before),
        after=_dump(after),
        comment=(comment or "")[:MAX_COMMENT],
    )


# --- the database refuses changes -----------------------------------------------------------

_PG_FUNCTION = (
    'CREATE OR REPLACE FUNCTION "audit_entry_refuse"() RETURNS trigger LANGUAGE plpgsql AS $$\n'
    f"BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
)


def _guard_sql(database: pw.Database) -> list[str]:
    if isinstance(database, pw.PostgresqlDatabase):
        return [
            _PG_FUNCTION,
            f'DROP TRIGGER IF EXISTS "audit_entry_append_only" ON "{TABLE}"',
            f'CREATE TRIGGER "audit_entry_append_only" BEFORE UPDATE OR DELETE ON "{TABLE}" '
            'FOR EACH ROW EXECUTE FUNCTION "audit_entry_refuse"()',
            f'DROP TRIGGER IF EXISTS "audit_entry_no_truncate" ON "{TABLE}"',
            f'CREATE TRIGGER "audit_entry_no_truncate" BEFORE TRUNCATE ON "{TABLE}" '
            'FOR EACH STATEMENT EXECUTE FUNCTION "audit_entry_refuse"()',
        ]
    return [
        f'CREATE TRIGGER IF NOT EXISTS "audit_entry_no_{event.lower()}" BEFORE {event} '
        f"ON \"{TABLE}\" BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        for event in ("UPDATE", "DELETE")
    ]


def install_guard(database: pw.Database) -> None:
    """Make the database refuse UPDATE and DELETE of audit rows (safe to run again)."""
    for sql in _guard_sql(database):
        database.execute_sql(sql)

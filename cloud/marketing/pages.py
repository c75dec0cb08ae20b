"""Segment and mailing pages: the segments (saved client filters) with their members, CSV
export, and mailings to a segment with a preview and the status of every recipient. The rules
live in ``cloud.marketing.segments`` and ``cloud.marketing.mailings``."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from cloud.clients import service as clientbook
from cloud.csvexport import CSV_BOM, CSV_SEPARATOR, roubles_plain, safe_cell
from cloud.errors import DomainError, ValidationFailed
from cloud.labels import kind_labels
from cloud.marketing import mailings
from cloud.marketing import segments as segmentbook
from cloud.marketing.segments import SegmentFilter
from cloud.models import Client, Segment, Site
from cloud.permissions import Capability, requires
from cloud.web import acting_user
from sync.errors import RuleError
from sync.money import format_kopecks, parse_roubles

bp = Blueprint("segments", __name__)

DATE_FIELDS = ("last_visit_from", "last_visit_before", "period_from", "period_to")
COUNT_FIELDS = ("visits_min", "visits_max")
MONEY_FIELDS = ("spent_min_kopecks", "spent_max_kopecks")
SIGNED_MONEY_FIELDS = ("balance_below_kopecks", "balance_above_kopecks")
FLAG_FIELDS = ("blocked", "has_card", "has_email", "has_phone")
CSV_CHUNK = 500


def filter_labels() -> dict[str, str]:
    return {
        "kind": _("Тип клиента"),
        "site_id": _("Площадка (домашняя или был визит)"),
        "last_visit_from": _("Последний визит не раньше"),
        "last_visit_before": _("Последний визит раньше"),
        "period_from": _("Период визитов и трат: с"),
        "period_to": _("Период визитов и трат: по"),
        "visits_min": _("Визитов в периоде не меньше"),
        "visits_max": _("Визитов в периоде не больше"),
        "spent_min_kopecks": _("Потрачено в периоде не меньше, ₽"),
        "spent_max_kopecks": _("Потрачено в периоде не больше, ₽"),
        "balance_below_kopecks": _("Баланс меньше, ₽"),
        "balance_above_kopecks": _("Баланс больше, ₽"),
        "blocked": _("Заблокирован"),
        "has_card": _("Есть карта"),
        "has_email": _("Есть e-mail"),
        "has_phone": _("Есть телефон"),
    }


def status_labels() -> dict[str, str]:
    return {
        "queued": _("В очереди"),
        "sending": _("Отправляется"),
        "sent": _("Отправлено"),
        "failed": _("Ошибка"),
        "skipped": _("Пропущено"),
    }


def state_labels() -> dict[str, str]:
    return {"sending": _("Отправляется"), "done": _("Завершена")}


# --- the filter form -------------------------------------------------------------------------


def _field_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{filter_labels()[name]}: {message}", "bad_filter")


def _form_date(name: str, text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise _field_error(name, _("дата в виде ГГГГ-ММ-ДД")) from None


def _form_count(name: str, text: str) -> int:
    if not text.isdigit() or int(text) > segmentbook.COUNT_LIMIT:
        raise _field_error(name, _("целое число от 0"))
    return int(text)


def _form_money(name: str, text: str, signed: bool) -> int:
    try:
        return parse_roubles(text, allow_negative=signed)
    except RuleError as error:
        raise _field_error(name, error.message) from None


def _form_value(name: str, text: str) -> Any:
    if name in DATE_FIELDS:
        return _form_date(name, text)
    if name in COUNT_FIELDS:
        return _form_count(name, text)
    if name in MONEY_FIELDS or name in SIGNED_MONEY_FIELDS:
        return _form_money(name, text, name in SIGNED_MONEY_FIELDS)
    if name in FLAG_FIELDS:
        return {"1": True, "0": False}.get(text)
    if name == "site_id":
        if not text.isdigit():
            raise _field_error(name, _("площадка не найдена"))
        return int(text)
    if text not in ("member", "guest"):
        raise _field_error(name, _("участник клуба или гость"))
    return text


def filter_from_form(form: MultiDict[str, str]) -> SegmentFilter:
    """The filter typed on the page (money in roubles, days as ``YYYY-MM-DD``)."""
    data: dict[str, Any] = {}
    for name in filter_labels():
        text = (form.get(name) or "").strip()
        if text:
            data[name] = _form_value(name, text)
    return segmentbook.parse_filter(data)


def form_from_filter(segment: Segment) -> MultiDict[str, str]:
    """The stored filter as the page's form values (the inverse of ``filter_from_form``)."""
    values: dict[str, str] = {"name": segment.name}
    for name, value in segmentbook.filter_of(segment).model_dump(exclude_none=True).items():
        if name in MONEY_FIELDS or name in SIGNED_MONEY_FIELDS:
            values[name] = roubles_plain(value)
        elif name in FLAG_FIELDS:
            values[name] = "1" if value else "0"
        else:
            values[name] = str(value)
    return MultiDict(values)


def describe(segment: Segment) -> list[tuple[str, str]]:
    """The segment's conditions as (label, value) lines for people."""
    labels = filter_labels()
    sites = {site.id: site.name for site in Site.select()}
    lines = []
    for name, value in segmentbook.filter_of(segment).model_dump(exclude_none=True).items():
        if name in MONEY_FIELDS or name in SIGNED_MONEY_FIELDS:
            shown = format_kopecks(value)
        elif name in FLAG_FIELDS:
            shown = _("да") if value else _("нет")
        elif name == "kind":
            shown = kind_labels()[value]
        elif name == "site_id":
            shown = sites.get(value, "—")
        elif name in DATE_FIELDS:
            shown = value.strftime("%d.%m.%Y")
        else:
            shown = str(value)
        lines.append((labels[name], shown))
    return lines


def _timezone() -> str:
    return str(current_app.config["AQ"].timezone)


def _page_size() -> int:
    return int(current_app.config["AQ"].page_size)


def _offset() -> int:
    return max(request.args.get("offset", 0, type=int), 0)


def _status(error: DomainError | RuleError) -> int:
    return error.status if isinstance(error, DomainError) else 400


# --- segments --------------------------------------------------------------------------------


@bp.get("/segments")
@requires(Capability.SEGMENTS)
def index() -> Any:
    segments = segmentbook.all_segments()
    counts = {s.id: segmentbook.members(s, _timezone()).count() for s in segments}
    return render_template(
        "segments/index.html", segments=segments, counts=counts, describe=describe
    )


def _form_page(segment: Segment | None, form: MultiDict[str, str], error: str = "") -> Any:
    return render_template(
        "segments/form.html",
        segment=segment,
        form=form,
        error=error,
        labels=filter_labels(),
        sites=list(Site.select().order_by(Site.name)),
        kind_labels=kind_labels(),
    )


@bp.route("/segments/new", methods=["GET", "POST"])
@requires(Capability.SEGMENTS)
def create() -> Any:
    if request.method == "GET":
        return _form_page(None, MultiDict())
    try:
        conditions = filter_from_form(request.form)
        segment = segmentbook.create_segment(
            acting_user(), request.form.get("name", ""), conditions
        )
    except (DomainError, RuleError) as error:
        return _form_page(None, request.form, error.message), _status(error)
    flash(_("Сегмент сохранён"), "success")
    return redirect(url_for("segments.view", segment_id=segment.id))


@bp.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
@requires(Capability.SEGMENTS)
def edit(segment_id: int) -> Any:
    segment = segmentbook.get_segment(segment_id)
    if request.method == "GET":
        return _form_page(segment, form_from_filter(segment))
    try:
        conditions = filter_from_form(request.form)
        segmentbook.update_segment(segment, request.form.get("name", ""), conditions)
    except (DomainError, RuleError) as error:
        segment = segmentbook.get_segment(segment_id)
        return _form_page(segment, request.form, error.message), _status(error)
    flash(_("Сегмент сохранён"), "success")
    return redirect(url_for("segments.view", segment_id=segment.id))


@bp.post("/segments/<int:segment_id>/delete")
@requires(Capability.SEGMENTS)
def delete(segment_id: int) -> Any:
    segment = segmentbook.get_segment(segment_id)
    segmentbook.delete_segment(segment)
    flash(_("Сегмент «%(name)s» удалён", name=segment.name), "success")
    return redirect(url_for("segments.index"))


@bp.get("/segments/<int:segment_id>")
@requires(Capability.SEGMENTS)
def view(segment_id: int) -> Any:
    segment = segmentbook.get_segment(segment_id)
    offset, limit = _offset(), _page_size()
    rows, total = segmentbook.member_page(segment, _timezone(), limit, offset)
    return render_template(
        "segments/view.html",
        segment=segment,
        conditions=describe(segment),
        clients=clientbook.client_dicts(rows),
        total=total,
        offset=offset,
        limit=limit,
        kind_labels=kind_labels(),
    )


def members_csv(query: Any) -> str:
    """The clients of ``query`` as CSV text (without the byte order mark)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_SEPARATOR)
    writer.writerow(
        [
            _("№"),
            _("Тип"),
            _("Имя"),
            _("Телефоны"),
            _("Электронная почта"),
            _("Номера автомобилей"),
            _("Баланс, ₽"),
            _("Заблокирован"),
            _("Отписан от рассылок"),
        ]
    )
    labels, yes, no = kind_labels(), _("да"), _("нет")
    clients: list[Client] = list(query)
    for start in range(0, len(clients), CSV_CHUNK):
        for row in clientbook.client_dicts(clients[start : start + CSV_CHUNK]):
            writer.writerow(
                [
                    row["id"],
                    labels[row["kind"]],
                    safe_cell(row["name"]),
                    ", ".join(row["phones"]),
                    safe_cell(row["email"]),
                    ", ".join(row["plates"]),
                    roubles_plain(row["balance_kopecks"]),
                    yes if row["blocked"] else no,
                    yes if row["unsubscribed"] else no,
                ]
            )
    return out.getvalue()


@bp.get("/segments/<int:segment_id>/members.csv")
@requires(Capability.SEGMENTS)
def export_csv(segment_id: int) -> Any:
    segment = segmentbook.get_segment(segment_id)
    text = members_csv(segmentbook.members(segment, _timezone()))
    return Response(
        (CSV_BOM + text).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="segment_{segment.id}.csv"'},
    )


# --- mailings --------------------------------------------------------------------------------


@bp.route("/segments/<int:segment_id>/mailing", methods=["GET", "POST"])
@requires(Capability.SEGMENTS)
def new_mailing(segment_id: int) -> Any:
    """Write a mailing: "preview" shows it for one real client, "send" queues it."""
    segment = segmentbook.get_segment(segment_id)
    form = request.form if request.method == "POST" else MultiDict()
    config = current_app.config["AQ"]
    error, status, shown = "", 200, None
    if request.method == "POST":
        try:
            subject, body = mailings.clean_message(form.get("subject", ""), form.get("body", ""))
            if form.get("action") == "send":
                mailing = mailings.create_mailing(acting_user(), segment, subject, body, config)
                flash(_("Рассылка поставлена в очередь: письма уходят в фоне"), "success")
                return redirect(url_for("segments.mailing", mailing_id=mailing.id))
            shown = mailings.preview(segment, subject, body, config.timezone)
        except DomainError as failure:
            error, status = failure.message, failure.status
    page = render_template(
        "segments/mailing_new.html",
        segment=segment,
        form=form,
        error=error,
        preview=shown,
        previewed=request.method == "POST" and not error,
        count=segmentbook.members(segment, config.timezone).count(),
        configured=bool(config.smtp_host and config.smtp_sender),
    )
    return page, status


@bp.get("/mailings")
@requires(Capability.SEGMENTS)
def mailing_list() -> Any:
    offset, limit = _offset(), _page_size()
    rows, total = mailings.mailing_page(limit, offset)
    return render_template(
        "segments/mailings.html",
        mailings=list(zip(rows, mailings.mailing_dicts(rows), strict=True)),
        total=total,
        offset=offset,
        limit=limit,
        state_labels=state_labels(),
    )


@bp.get("/mailings/<int:mailing_id>")
@requires(Capability.SEGMENTS)
def mailing(mailing_id: int) -> Any:
    row = mailings.get_mailing(mailing_id)
    offset, limit = _offset(), _page_size()
    recipients, total = mailings.recipient_page(row, limit, offset)
    return render_template(
        "segments/mailing.html",
        mailing=mailings.mailing_to_dict(row),
        recipients=recipients,
        reason_text=mailings.reason_text,
        total=total,
        offset=offset,
        limit=limit,
        status_labels=status_labels(),
        state_labels=state_labels(),
    )

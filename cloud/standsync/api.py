"""The stands' API under ``/sync/v1`` (DESIGN.md, sync protocol). Not a staff API: a stand
authenticates with its own token (cloud/standsync/standauth.py), and CSRF does not apply.

- ``POST /sync/v1/enrol`` ``{"code"}`` → ``{"stand_id", "site_id", "token"}`` (no token needed).
- ``GET /sync/v1/status`` → ``{"stand_id", "site_id", "acked_seq", "server_time"}``.
- ``GET /sync/v1/directory?cursor=N&limit=M`` → a directory page (``sync.directorypage.DirectoryPage``,
  cloud/standsync/feed.py): ``limit`` 1–5000 changes, default 1000; gzip-encoded when the
  request accepts it and the page is over 1 KiB.
- ``POST /sync/v1/events`` ``{"events": [...]}`` → ``{"acked_seq", "server_time"}`` and, when
  an event was refused, ``"refused": {"seq", "code", "message"}`` with status 422 (the event) or
  409 (the sequence: ``gap``, ``seq_conflict``, ``event_id_conflict``). A ``gap`` also says
  ``expected_seq``, the seq this service waits for: after a restore from a backup it may be
  below what the stand had acknowledged, and the stand sends again from there.
- ``POST /sync/v1/heartbeat`` ``{"version", "uptime_s", "outbox", "oldest_unacked_at",
  "cursor", "last_sync_at", "reader", "camera", "alarm"}`` → ``{"server_time"}``
  (cloud/standsync/heartbeat.py).
- Protocol 2 (sync/directorywindow.py, cloud/standsync/windows.py): ``GET
  /sync/v1/directory/window/<start>`` → a window page shared by every stand (``ETag``;
  ``Cache-Control`` immutable once closed, revalidated while it is the tail; ``If-None-Match``
  → 304), and ``GET /sync/v1/directory/head?cursor=N&since=S`` → the stand's own part (commands, staff,
  its site's clients' details, ``acked_seq``). ``/directory`` above stays protocol 1.

- ``GET /sync/v1/openapi.json``: the OpenAPI document of all of it (cloud/standsync/apidoc.py),
  generated from the models each request is checked with (cloud/standsync/wire.py). A parameter
  or an envelope field it does not allow is refused (400; an event: 422 with ``refused``).

Every request but enrolment carries ``Authorization: Bearer <stand token>`` and
``X-Stand-Clock: <ISO 8601 UTC>``; ``X-Stand-Boot`` (boot uuid) and ``X-Stand-Mono-Ms`` (its
monotonic clock) let times stamped before the clock was set be corrected. Errors answer
``{"error": {"code", "message"}}``."""

from __future__ import annotations

import gzip
import re
from typing import Any, TypeVar

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from cloud.clock import app_now
from cloud.errors import DomainError, ValidationFailed
from cloud.loyalty.settings import effective_rules
from cloud.models import Stand
from cloud.standsync.feed import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT, directory_page
from cloud.standsync.head import directory_head
from cloud.standsync.heartbeat import parse_heartbeat, record_heartbeat
from cloud.standsync.ingest import MAX_BATCH, Limits, StandClock, apply_batch, last_seq
from cloud.standsync.ingest.outcomes import Refusal
from cloud.standsync.standauth import Unauthorized, enrol, record_contact, stand_for_token
from cloud.standsync.windows import IMMUTABLE, REVALIDATE, directory_window
from cloud.standsync.wire import EnrolBody, EventBatch
from sync.directorywindow import PROTOCOLS, WINDOW
from sync.document import format_utc, parse_utc
from sync.errors import RuleError
from sync.events import UUID

bp = Blueprint("syncapi", __name__, url_prefix="/sync/v1")
M = TypeVar("M", bound=BaseModel)
GZIP_FROM_BYTES = 1024
MONO_MS_PATTERN = "[0-9]{1,15}"
_MONO_MS = re.compile(MONO_MS_PATTERN)
_DIGITS = re.compile("[0-9]{1,19}")  # ASCII digits: str.isdigit() takes "²", int() does not


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError) -> Any:
    return jsonify(error={"code": error.code, "message": error.message}), error.status


@bp.errorhandler(RuleError)
def _rule_error(error: RuleError) -> Any:
    return jsonify(error={"code": error.code, "message": error.message}), 400


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    status = error.code or 500
    messages = {413: _("Слишком большой запрос"), 405: _("Метод не поддерживается")}
    message = messages.get(status, _("Некорректный запрос"))
    code = (error.name or "error").lower().replace(" ", "_")
    # What the exception says besides its body (a 405's Allow: the methods there are).
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return jsonify(error={"code": code, "message": message}), status, headers


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed(_("Тело запроса должно быть JSON-объектом"), "bad_json")
    return data


def _authenticated(record: bool = True) -> tuple[Stand, StandClock]:
    """The stand behind the request's token and its clocks; the contact and skew are stored
    (unless ``record`` is false: ``apply_batch`` stores them in its own transaction)."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Нужен заголовок Authorization: Bearer <токен поста>"))
    stand = stand_for_token(token.strip())
    if stand is None:
        raise Unauthorized(_("Токен поста недействителен или отозван"))
    try:
        stand_time = parse_utc(request.headers.get("X-Stand-Clock", ""))
    except ValueError:
        raise ValidationFailed(
            _("Нужен заголовок X-Stand-Clock: время поста в ISO 8601 с часовым поясом"),
            "clock_required",
        ) from None
    boot_id = request.headers.get("X-Stand-Boot") or None
    if boot_id is not None and not UUID.fullmatch(boot_id):
        raise ValidationFailed(_("X-Stand-Boot: нужен UUID загрузки"), "bad_boot")
    mono_text = request.headers.get("X-Stand-Mono-Ms")
    mono_ms = None
    if mono_text is not None:
        if not _MONO_MS.fullmatch(mono_text):
            raise ValidationFailed(_("X-Stand-Mono-Ms: нужно целое число"), "bad_mono")
        mono_ms = int(mono_text)
    now = app_now()
    clock = StandClock(
        now=now,
        stand_time=stand_time,
        boot_id=boot_id,
        mono_ms=mono_ms,
        previous_boot_id=stand.boot_id,
        previous_skew_ms=stand.clock_skew_ms,
    )
    if record:
        try:
            record_contact(stand, stand_time, boot_id, now)
        except OverflowError:
            raise ValidationFailed(_("X-Stand-Clock: время вне допустимого"), "bad_clock") from None
    return stand, clock


def _body(model: type[M], data: object, code: str) -> M:
    """``data`` checked by ``model`` (cloud/standsync/wire.py); a 400 naming the first bad
    field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValidationFailed(
            _("Поле «%(field)s»: %(problem)s", field=where, problem=first["msg"]), code
        ) from None


@bp.route("/enrol", methods=["POST"])
def enrol_stand() -> Any:
    data = _json_object()
    if not isinstance(data.get("code"), str) or not data["code"]:
        raise ValidationFailed(_("Укажите код подключения"), "code_required")
    stand, token = enrol(_body(EnrolBody, data, "code_required").code, app_now())
    return jsonify(stand_id=stand.id, site_id=stand.site_id, token=token)


@bp.route("/status", methods=["GET"])
def status() -> Any:
    stand, _clock = _authenticated()
    return jsonify(
        stand_id=stand.id,
        site_id=stand.site_id,
        acked_seq=last_seq(stand),
        server_time=format_utc(app_now()),
    )


@bp.route("/events", methods=["POST"])
def events() -> Any:
    stand, clock = _authenticated(record=False)
    events, bad = _batch(_json_object())
    config = current_app.config["AQ"]
    rules = effective_rules(config)
    limits = Limits.from_config(config)
    result = apply_batch(stand, events, clock, rules, config.timezone, limits)
    refused = result.refused or bad
    answer: dict[str, Any] = {"acked_seq": result.acked_seq, "server_time": format_utc(app_now())}
    if refused is None:
        return jsonify(answer)
    answer["refused"] = refused.to_dict()
    return jsonify(answer), refused.status


def _batch(data: dict[str, Any]) -> tuple[list[Any], Refusal | None]:
    """The batch's events checked by ``wire.EventBatch``: all of them, or those before the first
    whose envelope it refuses, with that event's refusal (422, like one the shared contract
    refuses: the events before it are applied). A body that is no batch is a 400."""
    events = data.get("events")
    if not isinstance(events, list):
        raise ValidationFailed(_("Нужен список events"), "bad_batch")
    if len(events) > MAX_BATCH:
        raise ValidationFailed(
            _("Не больше %(n)s событий в пакете", n=MAX_BATCH), "batch_too_large"
        )
    try:
        EventBatch.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        index = int(first["loc"][1])
        where = ".".join(str(part) for part in first["loc"][2:]) or f"events[{index}]"
        item = events[index]
        seq = item.get("seq") if isinstance(item, dict) else None
        message = _("Событие: поле «%(field)s» — %(problem)s", field=where, problem=first["msg"])
        valid_seq = isinstance(seq, int) and not isinstance(seq, bool)
        return events[:index], Refusal(seq if valid_seq else None, "bad_event", message, 422)
    return events, None


@bp.route("/heartbeat", methods=["POST"])
def heartbeat() -> Any:
    stand, clock = _authenticated()
    record_heartbeat(stand, parse_heartbeat(request.get_json(silent=True)), clock.now)
    return jsonify(server_time=format_utc(app_now()))


def _only(*names: str) -> None:
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise ValidationFailed(
            _("Неизвестный параметр: %(name)s", name=unknown[0][:40]), "unknown_parameter"
        )


def _query_int(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        # e.g. "limit (1–5000): нужно целое число"
        raise ValidationFailed(
            _("%(name)s: нужно целое число", name=f"{name} ({low}–{high})"), f"bad_{name}"
        )
    return int(text)


@bp.route("/directory", methods=["GET"])
def directory() -> Any:
    stand, clock = _authenticated()
    _only("cursor", "limit")
    cursor = _query_int("cursor", 0, 0, MAX_CURSOR)
    limit = _query_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    body = directory_page(stand, cursor, limit, current_app.config["AQ"], clock.now)
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Vary"] = "Accept-Encoding"
    # A full walk is tens of megabytes of JSON for a large chain; gzip makes it a few. Level 1:
    # a poll in a busy chain is ~300 kB, compressed in a third of level 5's time; a walk comes
    # out 2 % larger.
    if len(body) > GZIP_FROM_BYTES and "gzip" in request.accept_encodings:
        response.set_data(gzip.compress(body, compresslevel=1))
        response.headers["Content-Encoding"] = "gzip"
    return response


def _not_modified(etag: str, cache_control: str) -> Any:
    response = current_app.response_class(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _matches(etag: str) -> bool:
    return etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}


_TAIL_TAG = re.compile(r'"t(\d+)-(\d+)-[0-9a-f]+"')


def _stated_cursor(start: int) -> int | None:
    """Where the stand says it is: ``X-Directory-Cursor``, else the position in the tag of
    the tail at ``start`` it revalidates (the agent sends a tag only for the tail it applied
    last), else None."""
    stated = request.headers.get("X-Directory-Cursor")
    if stated is not None:
        if not _DIGITS.fullmatch(stated) or int(stated) > MAX_CURSOR:
            raise ValidationFailed(_("Курсор справочника: нужно целое число"), "bad_cursor")
        return int(stated)
    for tag in request.headers.get("If-None-Match", "").split(","):
        found = _TAIL_TAG.fullmatch(tag.strip())
        if found and int(found[1]) == start:
            return int(found[2])
    return None


def _protocol() -> int:
    """The window form a stand asks for (``?protocol=``; without it, the oldest: stands from
    before protocol 3 send nothing)."""
    return _query_int("protocol", min(PROTOCOLS), min(PROTOCOLS), max(PROTOCOLS))


@bp.route("/directory/window/<text>", methods=["GET"])
def directory_window_page(text: str) -> Any:
    """A window page (protocol 2, or 3 with ``protocol=3``): the contact is recorded by the
    head, not here."""
    _authenticated(record=False)
    _only("protocol")
    protocol = _protocol()
    start = int(text) if _DIGITS.fullmatch(text) else -1
    if start < 0 or start % WINDOW or start > MAX_CURSOR:
        raise ValidationFailed(_("Начало окна: нужно кратное %(n)s", n=WINDOW), "bad_window")
    reuse_s = current_app.config["AQ"].directory_tail_reuse_ms / 1000
    window = directory_window(start, _stated_cursor(start), reuse_s, protocol)
    cache_control = IMMUTABLE if window.closed else REVALIDATE
    if _matches(window.etag):
        return _not_modified(window.etag, cache_control)
    response = current_app.response_class(window.body, mimetype="application/json")
    response.headers["ETag"] = window.etag
    response.headers["Cache-Control"] = cache_control
    response.headers["Vary"] = "Accept-Encoding"
    if len(window.body) > GZIP_FROM_BYTES and "gzip" in request.accept_encodings:
        response.set_data(window.gzipped or gzip.compress(window.body, compresslevel=1))
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.route("/directory/head", methods=["GET"])
def directory_head_page() -> Any:
    """The stand's own part of a protocol 2 or 3 poll."""
    stand, clock = _authenticated()
    _only("cursor", "since", "protocol")
    cursor = _query_int("cursor", 0, 0, MAX_CURSOR)
    since = _query_int("since", -1, 0, MAX_CURSOR)
    protocol = _protocol()
    config = current_app.config["AQ"]
    body = directory_head(stand, cursor, None if since < 0 else since, config, clock.now, protocol)
    response = current_app.response_class(body, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept-Encoding"
    if len(body) > GZIP_FROM_BYTES and "gzip" in request.accept_encodings:
        response.set_data(gzip.compress(body, compresslevel=1))
        response.headers["Content-Encoding"] = "gzip"
    return response

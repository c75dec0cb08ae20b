"""The attendant's touchscreen: PIN log-in, the dashboard of open sessions, client search,
the client account (start, end, top up, comment) and registering guests and members.

Every action goes through the engine, which writes its local effect and its event in one
transaction before the screen confirms it (a redirect with a flash). Bad input is answered
with a red line and status 400, and nothing is stored.

Log-in: the attendant picks their name among the site's staff and types the PIN, checked
against the directory's werkzeug hash. The Flask session holds the staff id, a tag of the
PIN hash (a changed PIN or a removed staff member ends the session at the next request) and
the time of the last touch; after ``screen_idle_lock_s`` without one the next request goes
back to the PIN keypad, and the page's script goes there by itself. Five wrong PINs lock that
staff member out for a minute.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import check_password_hash

from edge.store import AnyClient, DirStaff, LocalSession
from sync.errors import RuleError
from sync.events import PAYMENT_METHODS
from sync.money import format_kopecks, parse_roubles
from sync.phones import normalise_phone
from sync.plates import normalise_plate

if TYPE_CHECKING:
    from edge.state import StandParts

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("ru", "en")
MAX_PIN_FAILURES = 5
PIN_LOCK_S = 60
MAX_BODY_BYTES = 64 * 1024
EXTENSION = "aquastand_screen"
# Polls that keep the dashboard live; they do not count as a touch unless the page says so.
JSON_ENDPOINTS = ("screen.live", "screen.cards")

# Domain messages are Russian and name the value typed; other languages get these by code.
ERRORS = {
    "bad_plate": _l("Некорректный номер автомобиля"),
    "bad_phone": _l("Некорректный номер телефона"),
    "bad_amount": _l("Некорректная сумма"),
    "bad_method": _l("Выберите способ оплаты: наличные, карта или перевод"),
    "bad_comment": _l("Введите текст комментария (не длиннее 2000 символов)"),
    "bad_name": _l("Введите имя клиента (не длиннее 200 символов)"),
    "bad_card": _l("Некорректный номер карты"),
    "credential_taken": _l("Этот номер или карта уже принадлежит другому клиенту"),
    "unknown": _l("Клиент не найден"),
    "already_open": _l("У клиента уже идёт сеанс"),
    "not_open": _l("Сеанс не найден или уже завершён"),
    "no_tariff": _l("Нет действующего тарифа"),
    "blocked": _l("Клиент заблокирован"),
    "overdraft": _l("Недостаточно средств на балансе"),
    "stale_directory": _l("Нет связи с сервером слишком долго: обратитесь к администратору"),
    "daily_limit": _l("Дневной лимит карты исчерпан"),
}
METHOD_NAMES = {"cash": _l("Наличные"), "card": _l("Карта"), "transfer": _l("Перевод")}
KIND_NAMES = {"member": _l("Член клуба"), "guest": _l("Гость")}
DEVICE_STATES = {
    "ok": _l("в порядке"),
    "connecting": _l("подключается"),
    "failed": _l("ошибка"),
    "stopped": _l("остановлен"),
}
END_METHODS = {
    "card": _l("картой"),
    "qr": _l("QR-кодом"),
    "screen": _l("с экрана"),
    "dashboard": _l("с экрана"),
    "auto": _l("автоматически"),
}

bp = Blueprint("screen", __name__)


class PinGuard:
    """Counts wrong PINs per staff member: ``MAX_PIN_FAILURES`` in a row lock them out for
    ``PIN_LOCK_S`` seconds. Kept in memory (a restart of the stand process clears it); times
    are monotonic seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[int, tuple[int, float]] = {}  # staff id -> (failures, locked until)

    def locked_for(self, staff_id: int, now: float) -> int:
        """Seconds the staff member is still locked out (0: not locked)."""
        with self._lock:
            _failures, until = self._state.get(staff_id, (0, 0.0))
        return max(0, int(until - now + 0.999))

    def failed(self, staff_id: int, now: float) -> bool:
        """Count a wrong PIN; True if this one locks the staff member out."""
        with self._lock:
            failures, _until = self._state.get(staff_id, (0, 0.0))
            failures += 1
            if failures >= MAX_PIN_FAILURES:
                self._state[staff_id] = (0, now + PIN_LOCK_S)
                return True
            self._state[staff_id] = (failures, 0.0)
            return False

    def succeeded(self, staff_id: int) -> None:
        with self._lock:
            self._state.pop(staff_id, None)


@dataclass
class ScreenContext:
    parts: StandParts
    state: Callable[[], dict[str, Any]]
    pins: PinGuard


def init_app(app: Flask, parts: StandParts, state: Callable[[], dict[str, Any]]) -> None:
    """Add the touchscreen to ``app``: ``state()`` is what ``/api/state`` says."""
    app.extensions[EXTENSION] = ScreenContext(parts, state, PinGuard())
    app.config.update(
        BABEL_DEFAULT_LOCALE="ru",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SESSION_COOKIE_SAMESITE="Strict",
        # The lock screen may stay open for hours; the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    CSRFProtect(app)
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["money"] = format_kopecks
    app.jinja_env.filters["clock"] = clock_text
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error: CSRFError) -> ResponseReturnValue:
        message = gettext("Страница устарела: откройте её заново и повторите")
        return render_template("error.html", error=message), 400


def _select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "ru"


def _context() -> ScreenContext:
    context: ScreenContext = current_app.extensions[EXTENSION]
    return context


def _parts() -> StandParts:
    return _context().parts


def _now_s() -> float:
    """Monotonic seconds: a wall clock set after boot must neither lock nor unlock the
    screen (the session also keeps the boot id, so a reboot locks it)."""
    return _parts().engine.clock.monotonic_ns() / 1e9


def _seen_now() -> list[object]:
    return [_parts().engine.clock.boot_id, _now_s()]


def clock_text(seconds: int) -> str:
    """Elapsed time as H:MM:SS."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def error_text(error: RuleError) -> str:
    if str(get_locale()) != "ru" and error.code in ERRORS:
        return str(ERRORS[error.code])
    return error.message


# --- log-in, lock, language -----------------------------------------------------------------


def _pin_tag(pin_hash: str) -> str:
    return hashlib.sha256(pin_hash.encode()).hexdigest()[:16]


def _sign_out() -> None:
    for key in ("staff_id", "pin_tag", "seen_at"):
        session.pop(key, None)


def _current_staff() -> tuple[DirStaff | None, int | None]:
    """The signed-in staff member, or None and (if the screen locked from idleness) whose
    PIN screen to show."""
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None, None
    member = _parts().store.staff_member(staff_id)
    if member is None or session.get("pin_tag") != _pin_tag(member.pin_hash):
        _sign_out()
        return None, None
    idle_s = _parts().config.screen_idle_lock_s
    seen = session.get("seen_at")
    boot_id, seen_s = seen if isinstance(seen, list) and len(seen) == 2 else (None, None)
    fresh = boot_id == _parts().engine.clock.boot_id and isinstance(seen_s, int | float)
    if not fresh or (idle_s and _now_s() - seen_s > idle_s):
        _sign_out()
        return None, staff_id
    return member, None


def staff_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """The view needs a signed-in staff member (``g.staff``); a request counts as a touch."""

    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        member, locked = _current_staff()
        polling = request.endpoint in JSON_ENDPOINTS
        if member is None:
            target = (
                url_for("screen.pin", staff_id=locked, idle=1) if locked else url_for("screen.lock")
            )
            if polling:
                return jsonify({"locked": True, "location": target}), 401
            return redirect(target)
        if not polling or request.args.get("active") == "1":
            session["seen_at"] = _seen_now()
        g.staff = member
        return view(**kwargs)

    return wrapped


@bp.get("/lock")
def lock() -> ResponseReturnValue:
    """The locked screen: the site's staff as big buttons."""
    _sign_out()
    return render_template("lock.html", staff=_parts().store.staff())


@bp.route("/pin/<int:staff_id>", methods=["GET", "POST"])
def pin(staff_id: int) -> ResponseReturnValue:
    member = _parts().store.staff_member(staff_id)
    if member is None:
        abort(404)
    if request.method == "GET":
        _sign_out()  # the keypad is the locked screen: whoever was signed in is no longer
        return render_template("pin.html", member=member, idle=request.args.get("idle") == "1")
    pins, now = _context().pins, _now_s()
    wait_s = pins.locked_for(staff_id, now)
    if wait_s:
        error = gettext("Слишком много неверных PIN-кодов. Подождите %(s)d с.", s=wait_s)
        return render_template("pin.html", member=member, error=error), 429
    typed = request.form.get("pin", "")
    well_formed = typed.isascii() and typed.isdigit() and len(typed) <= 12
    if not (well_formed and _pin_matches(member.pin_hash, typed)):
        if pins.failed(staff_id, now):
            error = gettext("Неверный PIN-код. Вход заблокирован на %(s)d с.", s=PIN_LOCK_S)
        else:
            error = gettext("Неверный PIN-код")
        return render_template("pin.html", member=member, error=error), 400
    pins.succeeded(staff_id)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.update(staff_id=member.id, pin_tag=_pin_tag(member.pin_hash), seen_at=_seen_now())
    return redirect(url_for("screen.dashboard"))


def _pin_matches(pin_hash: str, typed: str) -> bool:
    try:
        return check_password_hash(pin_hash, typed)
    except ValueError:  # a hash werkzeug cannot read matches no PIN
        return False


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    _sign_out()
    return redirect(url_for("screen.lock"))


@bp.get("/lang/<code>")
def set_language(code: str) -> ResponseReturnValue:
    if code in LANGUAGES:
        session["lang"] = code
    referrer = urlsplit(request.referrer or "")
    back = url_for("screen.dashboard")
    # Back to the page the toggle was touched on, never to another host ("//host" included).
    path = referrer.path
    if referrer.netloc == request.host and path.startswith("/") and not path.startswith("//"):
        back = path + ("?" + referrer.query if referrer.query else "")
    return redirect(back)


# --- status bar and dashboard ---------------------------------------------------------------


def _age_text(loaded_at: datetime | None) -> str:
    if loaded_at is None:
        return gettext("не загружен")
    minutes = int((_parts().engine.clock.now() - loaded_at).total_seconds() // 60)
    if minutes < 1:
        return gettext("только что")
    if minutes < 60:
        return gettext("%(n)d мин назад", n=minutes)
    if minutes < 48 * 60:
        return gettext("%(n)d ч назад", n=minutes // 60)
    return gettext("%(n)d дн назад", n=minutes // (24 * 60))


def status() -> dict[str, Any]:
    """The status bar: connection, directory age, events waiting, devices."""
    state = _context().state()
    devices = state["devices"]

    def device(name: str) -> dict[str, str]:
        raw = str(devices.get(name, {}).get("state", "stopped"))
        return {"state": raw, "text": str(DEVICE_STATES.get(raw, raw))}

    outbox = int(state["outbox"])
    return {
        "online": bool(state["online"]),
        "online_text": gettext("на связи") if state["online"] else gettext("нет связи"),
        "directory": _age_text(_parts().store.directory_loaded_at()),
        "stale": _parts().engine.directory_is_stale(),
        "outbox": outbox,
        "outbox_text": gettext("Событий к отправке: %(n)d", n=outbox),
        "reader": device("reader"),
        "camera": device("camera"),
    }


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "status": status,
        "idle_s": _parts().config.screen_idle_lock_s,
        "kind_names": KIND_NAMES,
        "method_names": METHOD_NAMES,
        "end_methods": END_METHODS,
    }


def _display_name(client: AnyClient | None, plate: str | None) -> str:
    if client is not None and client.name:
        return str(client.name)
    return gettext("Гость") + (f" {plate}" if plate else "")


def _cards() -> list[dict[str, Any]]:
    """The open sessions as the dashboard shows them, oldest first."""
    store, engine = _parts().store, _parts().engine
    sessions = store.open_sessions()
    plates = store.first_plates({s.client_id for s in sessions}) if sessions else {}
    cards = []
    for s in sessions:
        client = store.client(s.client_id)
        cost = engine.running_cost(s)
        cards.append(
            {
                "id": s.uuid,
                "client_id": s.client_id,
                "name": _display_name(client, plates.get(s.client_id)),
                "plate": plates.get(s.client_id, ""),
                "tariff": store.tariff_name_of_version(s.tariff_version_id),
                "elapsed_s": engine.elapsed_s(s),
                "cost_kopecks": cost,
                "cost": format_kopecks(cost),
            }
        )
    return cards


@bp.get("/")
@staff_required
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", cards=_cards())


@bp.get("/live")
@staff_required
def live() -> ResponseReturnValue:
    """Open sessions' time and cost (priced by the engine) and the status bar, for the page's
    script; ``?active=1`` when the attendant touched the page since the last poll."""
    keys = ("id", "elapsed_s", "cost_kopecks", "cost")
    response = jsonify(
        {
            "sessions": [{key: card[key] for key in keys} for card in _cards()],
            "status": status(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/cards")
@staff_required
def cards() -> ResponseReturnValue:
    """The dashboard's cards alone, for the script when sessions open or end."""
    return render_template("_cards.html", cards=_cards())


@bp.route("/sessions/<session_uuid>/end", methods=["GET", "POST"])
@staff_required
def end_from_dashboard(session_uuid: str) -> ResponseReturnValue:
    found = _parts().store.session(session_uuid)
    if found is None:
        abort(404)
    card = next((c for c in _cards() if c["id"] == session_uuid), None)
    if request.method == "GET" or card is None:
        if card is None:
            return redirect(url_for("screen.client", client_id=found.client_id))
        return render_template("end.html", card=card)
    comment = request.form.get("comment", "")
    try:
        ended = _parts().engine.end_session(session_uuid, g.staff.id, comment, "dashboard")
    except RuleError as error:
        return render_template("end.html", card=card, error=error_text(error)), 400
    _flash_ended(ended)
    return redirect(url_for("screen.client", client_id=ended.client_id))


def _flash_ended(session_row: LocalSession) -> None:
    flash(
        gettext(
            "Сеанс завершён: %(time)s, %(cost)s",
            time=clock_text(session_row.duration_s or 0),
            cost=format_kopecks(session_row.cost_kopecks or 0),
        ),
        "success",
    )


# --- clients --------------------------------------------------------------------------------


def _search(query: str) -> list[AnyClient]:
    # One box for all three: whatever the text can be read as is searched for.
    plate = phone = None
    with contextlib.suppress(RuleError):
        plate = normalise_plate(query)
    with contextlib.suppress(RuleError):
        phone = normalise_phone(query)
    name = query if len(query) >= 2 and any(ch.isalpha() for ch in query) else None
    return _parts().store.find_clients(plate=plate, phone=phone, name=name)


@bp.get("/clients")
@staff_required
def search() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:100]
    found = _search(query) if query else []
    store = _parts().store
    plates = store.first_plates({int(c.id) for c in found}) if found else {}
    rows = [
        {
            "id": int(c.id),
            "name": _display_name(c, plates.get(int(c.id))),
            "kind": c.kind,
            "plate": plates.get(int(c.id), ""),
            "balance": store.balance_of(int(c.id)),
            "blocked": bool(c.blocked),
        }
        for c in found
    ]
    return render_template("search.html", query=query, rows=rows)


def _client_or_404(client_id: int) -> AnyClient:
    client = _parts().store.client(client_id)
    if client is None:
        abort(404)
    return client


def _render_client(client_id: int, error: str | None = None, status: int = 200) -> Any:
    parts = _parts()
    store, engine = parts.store, parts.engine
    client = _client_or_404(client_id)
    plates = store.credentials_of(client_id, "plate")
    open_session = store.open_session_of(client_id)
    card = None
    if open_session is not None:
        card = next((c for c in _cards() if c["id"] == open_session.uuid), None)
    tariffs = store.active_tariffs(engine.clock.now())
    history = [
        {
            "started_at": s.started_at,
            "tariff": store.tariff_name_of_version(s.tariff_version_id),
            "duration_s": s.duration_s if s.ended_at else engine.elapsed_s(s),
            "cost": s.cost_kopecks if s.ended_at else engine.running_cost(s),
            "open": s.ended_at is None,
            "end_method": s.end_method,
        }
        for s in store.sessions_of(client_id)
    ]
    body = render_template(
        "client.html",
        client=client,
        name=_display_name(client, plates[0] if plates else None),
        plates=plates,
        phones=list(client.phones),
        balance=store.balance_of(client_id),
        points=store.points_of(client_id),
        card=card,
        tariffs=tariffs,
        default_tariff=client.default_tariff_id or store.default_tariff_id(),
        history=history,
        comments=store.comments_of(client_id),
        methods=PAYMENT_METHODS,
        form=request.form if request.method == "POST" else {},
        error=error,
    )
    return body, status


@bp.get("/clients/<int(signed=True):client_id>")
@staff_required
def client(client_id: int) -> ResponseReturnValue:
    result: ResponseReturnValue = _render_client(client_id)
    return result


def _client_action(client_id: int, action: Callable[[], str]) -> ResponseReturnValue:
    """Run ``action`` (which returns the flash message) for an existing client; on a
    RuleError show the account again with the red line and status 400."""
    _client_or_404(client_id)
    try:
        message = action()
    except RuleError as error:
        result: ResponseReturnValue = _render_client(client_id, error_text(error), 400)
        return result
    flash(message, "success")
    return redirect(url_for("screen.client", client_id=client_id))


def _tariff_id(raw: str) -> int | None:
    """The tariff chosen in a form (empty: the default); RuleError if it is not a number."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise RuleError("Нет действующего тарифа", "no_tariff")
    return int(raw)


@bp.post("/clients/<int(signed=True):client_id>/start")
@staff_required
def start(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        tariff_id = _tariff_id(request.form.get("tariff_id", ""))
        plate = request.form.get("plate", "").strip() or None
        _parts().engine.start_session(client_id, tariff_id, g.staff.id, plate)
        return gettext("Сеанс начат")

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/end")
@staff_required
def end(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        open_session = _parts().store.open_session_of(client_id)
        if open_session is None:
            raise RuleError("Сеанс не найден или уже завершён", "not_open")
        comment = request.form.get("comment", "")
        ended = _parts().engine.end_session(open_session.uuid, g.staff.id, comment, "screen")
        return gettext(
            "Сеанс завершён: %(time)s, %(cost)s",
            time=clock_text(ended.duration_s or 0),
            cost=format_kopecks(ended.cost_kopecks or 0),
        )

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/topup")
@staff_required
def topup(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        amount = parse_roubles(request.form.get("amount", ""))
        method = request.form.get("method", "")
        _parts().engine.record_topup(client_id, amount, method, g.staff.id)
        return gettext("Баланс пополнен на %(amount)s", amount=format_kopecks(amount))

    return _client_action(client_id, action)


@bp.post("/clients/<int(signed=True):client_id>/comment")
@staff_required
def comment(client_id: int) -> ResponseReturnValue:
    def action() -> str:
        _parts().engine.add_comment(client_id, request.form.get("text", ""), g.staff.id)
        return gettext("Комментарий сохранён")

    return _client_action(client_id, action)


# --- registering ----------------------------------------------------------------------------


@bp.route("/guests/new", methods=["GET", "POST"])
@staff_required
def new_guest() -> ResponseReturnValue:
    """A guest by car plate; their session starts at once (the seed's rule)."""
    parts = _parts()
    tariffs = parts.store.active_tariffs(parts.engine.clock.now())
    default = parts.store.default_tariff_id()
    if request.method == "GET":
        return render_template("guest.html", tariffs=tariffs, default_tariff=default, form={})
    try:
        tariff_id = _tariff_id(request.form.get("tariff_id", ""))
        guest, _session = parts.engine.register_guest(
            request.form.get("plate", ""), tariff_id, g.staff.id
        )
    except RuleError as error:
        owner = None
        if error.code == "credential_taken":
            taken = parts.store.credential("plate", normalise_plate(request.form["plate"]))
            owner = None if taken is None else taken.client_id
        page = render_template(
            "guest.html",
            tariffs=tariffs,
            default_tariff=default,
            form=request.form,
            error=error_text(error),
            owner=owner,
        )
        return page, 400
    plate = parts.store.credentials_of(int(guest.id), "plate")[0]
    flash(gettext("Гость %(plate)s зарегистрирован, сеанс начат", plate=plate), "success")
    return redirect(url_for("screen.dashboard"))


@bp.route("/members/new", methods=["GET", "POST"])
@staff_required
def new_member() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("member.html", form={})
    form = request.form

    def listed(key: str) -> list[str]:
        value = form.get(key, "").strip()
        return [value] if value else []

    try:
        member = _parts().engine.register_member(
            form.get("name", ""), listed("phone"), listed("plate"), listed("card"), g.staff.id
        )
    except RuleError as error:
        return render_template("member.html", form=form, error=error_text(error)), 400
    flash(gettext("Клиент %(name)s зарегистрирован", name=member.name), "success")
    return redirect(url_for("screen.client", client_id=member.id))

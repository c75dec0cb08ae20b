"""Log-in, lock and language: the staff as big buttons, the PIN keypad, signing out, and
``staff_required`` for every other page (see the package's notes). Signed out, locked after
idleness or logged out, the screen is the customer's display (``screen.customer``); its
"Персонал" button leads here."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import abort, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.security import check_password_hash

from edge.screen.context import (
    JSON_ENDPOINTS,
    LANGUAGES,
    bp,
    now_s,
    screen_context,
    seen_now,
    stand_parts,
)
from edge.store import DirStaff


def _pin_tag(pin_hash: str) -> str:
    return hashlib.sha256(pin_hash.encode()).hexdigest()[:16]


def _sign_out() -> None:
    for key in ("staff_id", "pin_tag", "seen_at"):
        session.pop(key, None)


def _current_staff() -> DirStaff | None:
    """The signed-in staff member; None (and signed out) once the screen locked."""
    staff_id = session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    member = stand_parts().store.staff_member(staff_id)
    if member is None or session.get("pin_tag") != _pin_tag(member.pin_hash):
        _sign_out()
        return None
    idle_s = stand_parts().config.screen_idle_lock_s
    seen = session.get("seen_at")
    boot_id, seen_s = seen if isinstance(seen, list) and len(seen) == 2 else (None, None)
    fresh = boot_id == stand_parts().engine.clock.boot_id and isinstance(seen_s, int | float)
    if not fresh or (idle_s and now_s() - seen_s > idle_s):
        _sign_out()
        return None
    return member


def staff_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """The view needs a signed-in staff member (``g.staff``); a request counts as a touch."""

    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> ResponseReturnValue:
        member = _current_staff()
        polling = request.endpoint in JSON_ENDPOINTS
        if member is None:
            target = url_for("screen.customer")
            if polling:
                return jsonify({"locked": True, "location": target}), 401
            return redirect(target)
        if not polling or request.args.get("active") == "1":
            session["seen_at"] = seen_now()
        g.staff = member
        return view(**kwargs)

    return wrapped


@bp.get("/lock")
def lock() -> ResponseReturnValue:
    """The staff's way in from the customer's display: the site's staff as big buttons."""
    _sign_out()
    return render_template("lock.html", staff=stand_parts().store.staff())


@bp.route("/pin/<int:staff_id>", methods=["GET", "POST"])
def pin(staff_id: int) -> ResponseReturnValue:
    member = stand_parts().store.staff_member(staff_id)
    if member is None:
        abort(404)
    if request.method == "GET":
        _sign_out()  # the keypad is the locked screen: whoever was signed in is no longer
        return render_template("pin.html", member=member)
    pins = screen_context().pins
    attempt = pins.begin(staff_id, stand_parts().engine.clock.now())
    if attempt.wait_s:
        error = gettext("Слишком много неверных PIN-кодов. Подождите %(s)d с.", s=attempt.wait_s)
        return render_template("pin.html", member=member, error=error), 429
    typed = request.form.get("pin", "")
    well_formed = typed.isascii() and typed.isdigit() and len(typed) <= 12
    if not (well_formed and _pin_matches(member.pin_hash, typed)):
        if attempt.lock_s:
            error = gettext("Неверный PIN-код. Вход заблокирован на %(s)d с.", s=attempt.lock_s)
        else:
            error = gettext("Неверный PIN-код")
        return render_template("pin.html", member=member, error=error), 400
    pins.succeeded(staff_id)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session.update(staff_id=member.id, pin_tag=_pin_tag(member.pin_hash), seen_at=seen_now())
    return redirect(url_for("screen.dashboard"))


def _pin_matches(pin_hash: str, typed: str) -> bool:
    try:
        return check_password_hash(pin_hash, typed)
    except ValueError:  # a hash werkzeug cannot read matches no PIN
        return False


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    _sign_out()
    return redirect(url_for("screen.customer"))


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

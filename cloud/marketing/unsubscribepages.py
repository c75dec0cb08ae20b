"""The page behind the unsubscribe link of a mailing: no log-in, the signed token is the key."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from cloud.marketing.unsubscribe import client_for_token, unsubscribe

bp = Blueprint("unsubscribe", __name__)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def page(token: str) -> Any:
    """GET asks (a mail scanner following the link changes nothing); POST unsubscribes, from
    the page's button or a mail program's one-click request (RFC 8058)."""
    client = client_for_token(current_app.secret_key or "", token)
    if client is None:
        abort(404)
    done = client.unsubscribed
    if request.method == "POST":
        unsubscribe(client)
        done = True
    response = current_app.make_response(render_template("segments/unsubscribe.html", done=done))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return response

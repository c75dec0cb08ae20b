"""The staff's side of the cabinet: the client page shows whether the client uses the cabinet,
their consent and last log-in (``cabinet_use`` in templates), and operators and above end a
client's cabinet sessions (a lost phone)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _

from cloud.cabinet import auth, membership
from cloud.clients import scope as client_scope
from cloud.permissions import Capability, requires
from cloud.web import acting_user

bp = Blueprint("cabinet_staff", __name__, url_prefix="/clients")


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"cabinet_use": membership.cabinet_use}


@bp.post("/<int:client_id>/cabinet/end-sessions")
@requires(Capability.EDIT_CLIENTS)
def end_sessions(client_id: int) -> Any:
    client = client_scope.get_client(acting_user(), client_id)
    ended = auth.end_sessions(client)
    flash(_("Сеансов личного кабинета завершено: %(n)s", n=ended), "success")
    return redirect(url_for("clients.view", client_id=client.id) + "#cabinet")

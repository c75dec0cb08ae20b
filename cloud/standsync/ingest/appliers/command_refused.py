"""``command.refused``: the stand did not start the session a ``start_session`` command asked
for; the command is done with the outcome "refused" and the stand's reason
(cloud/standsync/commands.py), which the client page shows. A command of another stand, or
unknown here, changes nothing (flag ``unknown_command``); a refusal sent again changes nothing
more."""

from __future__ import annotations

from flask_babel import gettext as _

from cloud.standsync import commands
from cloud.standsync.ingest.context import Applier, Applying
from sync.payloads import CommandRefused


def apply(a: Applying, p: CommandRefused) -> None:
    if not commands.refuse(a.stand.id, p.command_id, p.reason, a.at):
        a.flag("unknown_command", _("Команда №%(id)s этого поста неизвестна", id=p.command_id))


APPLIER = Applier[CommandRefused](subject=lambda p: p.session_uuid, apply=apply)

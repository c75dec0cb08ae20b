"""gunicorn settings of the central service, shared by ``aquastand-cloud serve`` and the
systemd unit (``gunicorn --config python:cloud.gunicorn_conf ... cloud.wsgi:app``).

The address and the number of workers are left to the command line (the unit shows them);
these are the settings every central host has: the logfmt lines of :mod:`sync.logs` for
gunicorn's own log, the access log and the app, and an access line without its own time stamp
(journald adds one) naming the client the reverse proxy saw."""

from sync.logs import gunicorn_logging

proc_name = "aquastand-cloud"
logconfig_dict = gunicorn_logging()
# The remote address, the address the proxy forwarded for (behind nginx), the method and path
# (not the query string: searches carry phone numbers and names), the status, the body size and
# the time taken.
access_log_format = "%(h)s %({x-forwarded-for}i)s %(m)s %(U)s %(s)s %(B)s %(M)sms"
# The longest request line gunicorn reads (its maximum; the default 4094 answered a long search
# with a bare 414 before the app could say what is wrong).
limit_request_line = 8190
# Built once before the workers fork: a broken configuration fails at once, not per worker.
preload_app = True
# gunicornc is not used; a control socket per user would clash between instances.
control_socket_disable = True

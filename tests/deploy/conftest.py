"""Deployment fixtures: a whole stand started in this process, shared with the stand's tests,
and the central app on a fresh PostgreSQL schema for several instances behind nginx."""

from tests.deploy.frontfleet import central
from tests.edge.conftest import running, start_stand

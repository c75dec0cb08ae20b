"""Deployment fixtures: a whole stand started in this process, shared with the stand's tests."""

from tests.edge.conftest import running, start_stand

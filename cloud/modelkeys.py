"""The raw ids beside the foreign keys of some models (``session.client_id`` beside
``session.client``), declared for mypy: peewee makes them at runtime, and its stubs cannot say so.

Annotations only, mixed into the models in ``cloud/models.py``: peewee turns ``Field`` values of
a class into columns, never annotations, so these classes add nothing to a model or its table.
Reading the id, unlike ``session.client.id``, runs no query."""

from __future__ import annotations


class StandKeys:
    """The raw ids of ``Stand``'s foreign keys."""

    site_id: int


class CredentialKeys:
    """The raw ids of ``Credential``'s foreign keys."""

    client_id: int


class SessionKeys:
    """The raw ids of ``Session``'s foreign keys."""

    client_id: int
    stand_id: int
    site_id: int
    tariff_version_id: int
    started_by_id: int | None
    ended_by_id: int | None

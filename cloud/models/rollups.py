"""The report rollups (cloud/rolluptriggers.py keeps them, cloud/reports/rollups.py reads them):
the sessions' and the top-ups' figures summed per local day and per local month of the
service's time zone, so a report of a month or a year reads a few thousand rows, not a
million sessions.

Each rollup table holds several ``part``s, one per way the reports group (a session is counted
once in each part, for its day and for its month):

- ``SessionRollup``: ``s`` a site's totals; ``c`` per stand, tariff version and client kind
  (the stand, tariff and client-kind reports, the re-priced sessions of the stand report);
  ``b`` per site and who began the session (``starter``: ``staff:<id>`` or ``self:<method>``).
  The columns a part does not split by hold 0 or ``''``.
- ``TopupRollup`` (ledger entries of kind ``topup``): ``s`` a site's totals; ``m`` per site and
  payment method; ``f`` per site and staff member. No site or no staff member is 0, no method
  ``''``.

``grain`` is ``d`` (``bucket`` a local day) or ``m`` (``bucket`` the first day of a local
month). ``RollupZone`` is the time zone the buckets are cut in: its UTC offset in stretches
(``starts_at`` <= t < ``ends_at``), so both databases find a timestamp's local day by one
indexed look-up (SQLite knows no time zones)."""

from __future__ import annotations

import peewee as pw

from cloud.db import UtcDateTimeField
from cloud.models.core import BaseModel

GRAINS = ("d", "m")
SESSION_PARTS = ("s", "c", "b")
TOPUP_PARTS = ("s", "m", "f")


class SessionRollup(BaseModel):
    """Ended sessions of a bucket and group (module docstring), counted by ``ended_at``."""

    part = pw.CharField(max_length=1)
    grain = pw.CharField(max_length=1)
    bucket = pw.DateField()
    site_id = pw.IntegerField()
    stand_id = pw.IntegerField(default=0)
    tariff_version_id = pw.IntegerField(default=0)
    client_kind = pw.CharField(max_length=10, default="")
    starter = pw.CharField(max_length=40, default="")
    sessions = pw.BigIntegerField(default=0)
    duration_s = pw.BigIntegerField(default=0)
    revenue_kopecks = pw.BigIntegerField(default=0)
    repriced = pw.BigIntegerField(default=0)
    repriced_difference_kopecks = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "session_rollup"
        indexes = (
            (
                (
                    "part",
                    "grain",
                    "bucket",
                    "site_id",
                    "stand_id",
                    "tariff_version_id",
                    "client_kind",
                    "starter",
                ),
                True,
            ),
        )


class TopupRollup(BaseModel):
    """Top-ups of a bucket and group (module docstring), counted by ``created_at``."""

    part = pw.CharField(max_length=1)
    grain = pw.CharField(max_length=1)
    bucket = pw.DateField()
    site_id = pw.IntegerField(default=0)
    method = pw.CharField(max_length=20, default="")
    staff_id = pw.IntegerField(default=0)
    topups = pw.BigIntegerField(default=0)
    amount_kopecks = pw.BigIntegerField(default=0)

    class Meta:
        table_name = "topup_rollup"
        indexes = ((("part", "grain", "bucket", "site_id", "method", "staff_id"), True),)


class RollupZone(BaseModel):
    """The rollups' time zone (``zone``, the same on every row) as UTC-offset stretches.

    Not in ``ALL_MODELS``: it describes how the rollups are cut, not business data, and a
    database emptied of its rows (the tests do) keeps it."""

    zone = pw.CharField(max_length=64)
    starts_at = UtcDateTimeField()
    ends_at = UtcDateTimeField(unique=True)
    offset_s = pw.IntegerField()

    class Meta:
        table_name = "rollup_zone"


ROLLUP_MODELS: list[type[BaseModel]] = [SessionRollup, TopupRollup]

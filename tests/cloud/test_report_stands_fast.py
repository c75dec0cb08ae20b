"""The stand health report's fast reads stay exact: on random heartbeat logs (silences of any
length, some at or under the grace, some reaching across a period's edges or overlapping; outbox
depths with ties), each stand's offline time and outages, and its outbox peak and when it was
first reached, equal the same figures worked out here from the rows made, for random periods,
for every stand (no list sent) and for some of them; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cloud.models import Stand
from cloud.reports import stands as report
from tests.cloud.test_report_stands import latest, log, offline_within

T0 = datetime(2024, 3, 1, 3, 17, 42, 250_000, tzinfo=UTC)


def expected_offline(rows, beats, stand_ids, start, stop):
    """Each heard-from stand's (seconds, outages): the silences ended in [start, stop) and
    each stand's first one ended after it, and the silence going on since the latest beat."""
    found = {}
    for stand_id in stand_ids:
        if stand_id not in beats:
            continue
        silences = sorted((t, s) for sid, t, s, _o in rows if sid == stand_id and s is not None)
        inside = [(t, s) for t, s in silences if start <= t < stop]
        after = [(t, s) for t, s in silences if t >= stop][:1]
        found[stand_id] = offline_within(inside + after, beats[stand_id], start, stop)
    return found


def expected_peaks(rows, stand_ids, start, stop):
    found = {}
    for stand_id in stand_ids:
        depths = [(o, t) for sid, t, _s, o in rows if sid == stand_id and start <= t < stop]
        depths = [(o, t) for o, t in depths if o > 0]
        if depths:
            peak = max(o for o, _t in depths)
            found[stand_id] = (peak, min(t for o, t in depths if o == peak))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_offline_time_and_outbox_peaks_equal_the_log_worked_out_here(world, seed):
    rng = random.Random(seed)
    stands = [world.stand_a, world.stand_b]
    stands += [Stand.create(site=world.site_a, name=f"Пост {n}") for n in (2, 3)]
    rows = []  # (stand id, received at, silence seconds or None, outbox)
    for stand in stands[:3]:  # the last one is never heard from
        moment = T0 + timedelta(seconds=rng.randint(0, 3600))
        for _ in range(rng.randint(20, 60)):
            moment += timedelta(seconds=rng.choice([5, 60, 600, 7200, 86_400]), microseconds=7)
            silence = None
            if rng.random() < 0.4:
                # mostly what the gap was; now and then longer (an overlap) or at the grace
                silence = rng.choice([29, 30, 31, 90, 4000, 200_000, 900_000])
            outbox = rng.choice([0, 0, 0, 1, 3, 3, 7, 12])
            log(stand, moment, silence=silence, outbox=outbox)
            rows.append((stand.id, moment, silence, outbox))
    beats = {}
    for stand in stands[:3]:
        beats[stand.id] = max(t for sid, t, _s, _o in rows if sid == stand.id)
        latest(stand, beats[stand.id])
    every = [stand.id for stand in stands]
    last = max(beats.values())
    for _ in range(12):
        start = T0 + timedelta(seconds=rng.randint(-86_400, int((last - T0).total_seconds())))
        stop = start + timedelta(seconds=rng.choice([0, 600, 86_400, 10 * 86_400, 60 * 86_400]))
        for chosen in (None, rng.sample(every, 2)):
            ids = every if chosen is None else chosen
            assert report.offline_seconds(chosen, start, stop) == expected_offline(
                rows, beats, ids, start, stop
            )
            assert report.outbox_peaks(chosen, start, stop) == expected_peaks(
                rows, ids, start, stop
            )
    # the figures are there to compare: some stands were offline and some outboxes grew
    period_all = report.offline_seconds(None, T0, last + timedelta(days=1))
    assert any(seconds for seconds, _n in period_all.values())
    assert report.outbox_peaks(None, T0, last + timedelta(days=1))

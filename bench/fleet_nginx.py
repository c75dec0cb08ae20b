"""bench/fleet.py's fleet through nginx (the shipped site, systemd/nginx-aquastand.conf, over
HTTPS) in front of ``--instances`` central instances of ``--workers`` gunicorn workers each, on
one PostgreSQL: the same stands, rounds and figures as bench/fleet.py, so the two compare.

    .venv/bin/python bench/fleet_nginx.py --stands 1000 --instances 2 --workers 2
    .venv/bin/python bench/fleet_nginx.py --stands 1000 --instances 1 --workers 4

The simulated stands are bench/fleet.py's (``simulate``), speaking HTTPS to nginx instead of
HTTP to gunicorn (each thread keeps its connection, as the agent does). A directory poll through
nginx costs the service two requests: the page, and the token check nginx asks first
(``auth_request``, so that a cached page is served to stands only); the CPU figure counts the
instances and nginx together.

Last line: ``fleet_nginx stands=… instances=… p50_ms=… p99_ms=… errors=…``.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fleet
import urllib3
from nginxfront import Instances, NginxFront, upstream_counts
from scratch import POSTGRES_URL, postgres_schema


def simulate_through_nginx(job: tuple[str, tuple[Any, Any]]) -> tuple[list[float], int]:
    """bench/fleet.py's ``simulate`` with its connection pools made HTTPS ones trusting the
    test certificate (``job``: the certificate's file and fleet.py's job)."""
    ca_file, inner = job
    pool = functools.partial(
        urllib3.HTTPSConnectionPool, ca_certs=ca_file, cert_reqs="CERT_REQUIRED"
    )
    fleet.urllib3 = SimpleNamespace(HTTPConnectionPool=pool, exceptions=urllib3.exceptions)  # type: ignore[assignment]
    return fleet.simulate(inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stands", type=int, default=1000)
    parser.add_argument("--period", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--instances", type=int, default=2, help="central instances")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} "
        f"(1 min average before the run)"
    )
    with postgres_schema(prefix="aqfleet") as url:
        if url is None:
            raise SystemExit(f"postgresql: not available at {POSTGRES_URL}")
        with tempfile.TemporaryDirectory(prefix="aq-fleet-nginx-") as temp:
            data_dir = Path(temp) / "data"
            started = time.perf_counter()
            stands = fleet.provision(url, data_dir, args.stands)
            print(f"provisioned {len(stands)} stands in {time.perf_counter() - started:.1f} s")
            at_start = fleet.children_cpu_s()
            with (
                Instances(url, data_dir, args.instances, args.workers) as instances,
                NginxFront(instances.ports, Path(temp) / "nginx") as front,
            ):
                plan = fleet.Plan(
                    front.https_port, args.period, args.rounds, time.time() + 2, len(stands)
                )
                jobs = [
                    (
                        front.ca_file,
                        (plan, [(i, s) for i, s in enumerate(stands) if i % args.processes == p]),
                    )
                    for p in range(args.processes)
                ]
                load_before = os.getloadavg()[0]
                with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
                    results = pool.map(simulate_through_nginx, jobs)
                generator_cpu_s = fleet.children_cpu_s() - at_start  # the pool's, reaped
                load_after = os.getloadavg()[0]
                spread = upstream_counts(front.access_lines())
            server_cpu_s = fleet.children_cpu_s() - at_start - generator_cpu_s
    latencies = sorted(ms for found, _errors in results for ms in found)
    errors = sum(failed for _found, failed in results)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{len(latencies)} requests ({args.rounds} rounds of a push and a poll per stand every "
        f"{args.period:g} s) through nginx to {args.instances} instance(s) of {args.workers} "
        f"workers, PostgreSQL; max {latencies[-1]:.0f} ms; per instance {sorted(spread.values())}"
    )
    print(
        f"CPU: the central service and nginx {server_cpu_s:.1f} s "
        f"({server_cpu_s * 1000 / len(latencies):.1f} ms a request), "
        f"the simulated stands {generator_cpu_s:.1f} s; load {load_before:.1f} -> {load_after:.1f}"
    )
    print(
        f"fleet_nginx stands={len(stands)} instances={args.instances} p50_ms={p50:.1f} "
        f"p99_ms={p99:.1f} errors={errors}"
    )


if __name__ == "__main__":
    main()

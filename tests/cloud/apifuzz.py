"""Schemathesis against the real service: ``aquastand-cloud init``, ``serve`` (gunicorn) on a port
of 127.0.0.1, ``demo-data`` and an owner's ``api-token``, as an operator would set it up; then the
Schemathesis command line over ``/api/v1/openapi.json`` with every check, configured by the
repository's ``schemathesis.toml``. Used by tests/cloud/test_schemathesis.py (a short run) and
bench/schemathesis_api.py (a long one). The stands' API (``/sync/v1/openapi.json``) the same
way, as a stand provisioned with ``provision-stand`` and enrolled (``enrolled_stand``;
tests/cloud/test_sync_schemathesis.py, ``bench/schemathesis_api.py --sync``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWNER_PHONE = "+79000000004"  # cloud/demodata.py's owner
CLI = [sys.executable, "-c", "from cloud.cli import main; main()"]
SCHEMATHESIS = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"]


@dataclass(frozen=True)
class Service:
    base_url: str
    token: str
    data_dir: Path


STAND_SITE = "Аквастенд на Ленина"  # cloud/demodata.py's first site


def enrolled_stand(service: Service, name: str = "Пост фаззинга") -> str:
    """The token of a stand of the demo's first site, provisioned and enrolled."""
    env = {**os.environ, "AQUASTAND_DATA_DIR": str(service.data_dir)}
    env.pop("AQUASTAND_DATABASE_URL", None)
    provisioned = subprocess.run(
        [*CLI, "provision-stand", "--site", STAND_SITE, "--name", name],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    code = provisioned.stdout.strip().splitlines()[-1]
    request = urllib.request.Request(  # noqa: S310 (http on 127.0.0.1)
        service.base_url + "sync/v1/enrol",
        data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (127.0.0.1)
        return str(json.load(answer)["token"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_served(url: str, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 (http on 127.0.0.1)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the service did not answer {url}")


# Fiscal receipts on, so the demo chain's top-ups and charges have receipts for the API to
# list (queued: no sender runs, nothing listens at the URL).
RECEIPTS_ON = {
    "AQUASTAND_FISCAL_PROVIDER": "atol",
    "AQUASTAND_ATOL_URL": "http://127.0.0.1:9/possystem/v5",
    "AQUASTAND_ATOL_LOGIN": "fuzz",
    "AQUASTAND_ATOL_PASSWORD": "fuzz",
    "AQUASTAND_ATOL_GROUP_CODE": "fuzz",
    "AQUASTAND_FISCAL_INN": "7701234567",
    "AQUASTAND_FISCAL_PAYMENT_ADDRESS": "г. Москва, ул. Ленина, 1",
    "AQUASTAND_FISCAL_EMAIL": "kassa@aquastand.example",
}


@contextmanager
def demo_service(data_dir: Path) -> Iterator[Service]:
    """The central service on SQLite in ``data_dir`` with the demo chain, and an owner's token."""
    env = {**os.environ, "AQUASTAND_DATA_DIR": str(data_dir), **RECEIPTS_ON}
    env.pop("AQUASTAND_DATABASE_URL", None)
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)  # makes data_dir
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/"
    log = (data_dir / "server.log").open("w")  # what the service logs, errors included
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        _wait_until_served(base_url + "login", server)
        subprocess.run(
            [*CLI, "demo-data", "--url", base_url], env=env, check=True, capture_output=True
        )
        issued = subprocess.run(
            [*CLI, "api-token", "--phone", OWNER_PHONE],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        yield Service(base_url, issued.stdout.strip().splitlines()[-1], data_dir)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def run_schemathesis(
    service: Service, *options: str, timeout_s: float = 3600, stand_token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` over the service's document with every check; its exit code is 0
    only when nothing failed. Examples found are not kept between runs (no database). With
    ``stand_token``: the stands' API, as that stand (its clock: the time of the run's start)."""
    if stand_token is None:
        target = [service.base_url + "api/v1/openapi.json"]
        auth = ["--header", f"Authorization: Bearer {service.token}"]
    else:
        target = [service.base_url + "sync/v1/openapi.json", "--url", service.base_url + "sync/v1"]
        clock = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        auth = [
            "--header",
            f"Authorization: Bearer {stand_token}",
            "--header",
            f"X-Stand-Clock: {clock}",
        ]
    return subprocess.run(
        [
            *SCHEMATHESIS,
            "--config-file",
            str(ROOT / "schemathesis.toml"),
            "run",
            *target,
            "--checks",
            "all",
            *auth,
            "--suppress-health-check",
            "all",
            "--generation-database",
            "none",
            "--no-color",
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )

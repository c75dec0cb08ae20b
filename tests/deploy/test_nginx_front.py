"""The shipped nginx site (systemd/nginx-aquastand.conf) run with the test's ports: it
redirects plain HTTP, balances over the instances, and caches directory pages exactly as the
service's Cache-Control and ETag say, each request's stand token checked first."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bench.nginxfront import (
    SITE_FILE,
    Instances,
    NginxFront,
    free_port,
    render_site,
    upstream_counts,
)
from tests.deploy.frontfleet import make_fleet, stand_headers

FULL_PAGE_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": '"page-100"'}


def test_render_replaces_every_machine_specific_line_and_nothing_else(tmp_path: Path) -> None:
    shipped = SITE_FILE.read_text()
    site = render_site(
        shipped, [7001, 7002, 7003], 7080, 7443, tmp_path / "c.pem", tmp_path / "k.pem", tmp_path
    )
    servers = re.findall(r"^ *server (\S+)(.*);$", site, flags=re.M)
    shipped_params = re.findall(r"^ *server 127\.0\.0\.1:\d+(.*);$", shipped, flags=re.M)
    assert servers == [(f"127.0.0.1:{port}", shipped_params[0]) for port in (7001, 7002, 7003)]
    assert "max_fails=" in shipped_params[0] and "fail_timeout=" in shipped_params[0]
    assert "listen 127.0.0.1:7080;" in site and "listen 127.0.0.1:7443 ssl http2;" in site
    assert "[::]" not in site and "/etc/letsencrypt" not in site
    # Everything else is the shipped file's.
    assert site.count("\n") == shipped.count("\n") - 2 + 1  # two IPv6 lines out, a server in
    for line in (
        "proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;",
        "proxy_cache_revalidate on;",
        "auth_request /_aquastand_stand_auth;",
    ):
        assert line in site


@pytest.mark.postgresql
def test_plain_http_redirects_and_requests_are_spread_over_the_instances(
    central: Flask, tmp_path: Path
) -> None:
    url = central.config["DATABASE_URL_FOR_INSTANCES"]
    with (
        Instances(url, central.config["AQ"].data_dir, count=2, workers=1) as instances,
        NginxFront(instances.ports, tmp_path / "nginx") as front,
    ):
        reply = requests.get(front.http_url + "/login", allow_redirects=False, timeout=10)
        assert reply.status_code == 301 and reply.headers["Location"].startswith("https://")
        for _ in range(10):
            reply = requests.get(front.url + "/login", verify=front.ca_file, timeout=10)
            assert reply.status_code == 200
            assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"
        counts = upstream_counts(front.access_lines())
    assert sorted(counts) == sorted(f"127.0.0.1:{port}" for port in instances.ports)
    assert sum(counts.values()) == 10 and min(counts.values()) >= 3, counts


@pytest.mark.postgresql
def test_directory_pages_the_service_marks_no_store_are_never_served_from_the_cache(
    central: Flask, tmp_path: Path
) -> None:
    fleet = make_fleet(2)
    url = central.config["DATABASE_URL_FOR_INSTANCES"]
    with (
        Instances(url, central.config["AQ"].data_dir, count=2, workers=1) as instances,
        NginxFront(instances.ports, tmp_path / "nginx") as front,
    ):

        def poll(stand_index: int) -> requests.Response:
            return requests.get(
                f"{front.url}/sync/v1/directory",
                params={"cursor": fleet.cursor},
                headers=stand_headers(fleet.stands[stand_index]),
                verify=front.ca_file,
                timeout=10,
            )

        first, second = poll(0), poll(1)
        assert first.json()["stand_id"] != second.json()["stand_id"]  # each its own page
        assert [first.headers["X-Cache-Status"], second.headers["X-Cache-Status"]] == ["MISS"] * 2
        reply = requests.post(
            f"{front.url}/api/v1/clients/{fleet.stands[0].client_id}/topups",
            json={"amount_kopecks": 7000, "method": "cash"},
            headers={"Authorization": f"Bearer {fleet.owner_token}"},
            verify=front.ca_file,
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        balances = {c["id"]: c["balance_kopecks"] for c in poll(0).json()["upserts"]["clients"]}
        assert balances == {fleet.stands[0].client_id: 7000}


# --- caching, against a service that sends what full pages will send ---------------------------


class StubCentral:
    """A stand of the central service's directory for the cache's tests: the status route
    accepts one token; the page at ``cursor=100`` is a full page (immutable, strong ETag), at
    200 one cacheable for a second (then revalidated with its ETag), at 300 a stand's own
    page (``private``). It counts the requests it got for each page and the revalidations."""

    TOKEN = "Bearer stand-token"

    def __init__(self) -> None:
        self.pages: dict[str, int] = {}
        self.posts: list[str] = []
        self.revalidated = 0
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @Request.application  # type: ignore[misc]
    def _app(self, request: Request) -> Response:
        if request.headers.get("Authorization") != self.TOKEN:
            return Response("{}", 401, mimetype="application/json")
        if request.path == "/sync/v1/status":
            return Response("{}", mimetype="application/json")
        if request.method == "POST":
            self.posts.append(request.path)
            return Response(f'{{"posted":"{request.path}"}}', mimetype="application/json")
        cursor = request.args.get("cursor", "")
        self.pages[cursor] = self.pages.get(cursor, 0) + 1
        body = f'{{"cursor":{cursor},"served":{self.pages[cursor]}}}'
        if cursor == "100":
            return Response(body, mimetype="application/json", headers=FULL_PAGE_HEADERS)
        if cursor == "200":
            etag = '"page-200"'
            if request.headers.get("If-None-Match") == etag:
                self.revalidated += 1
                return Response(
                    status=304, headers={"ETag": etag, "Cache-Control": "public, max-age=1"}
                )
            return Response(
                body,
                mimetype="application/json",
                headers={"ETag": etag, "Cache-Control": "public, max-age=1"},
            )
        return Response(
            body, mimetype="application/json", headers={"Cache-Control": "private, no-store"}
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub_front(tmp_path: Path) -> Iterator[tuple[StubCentral, NginxFront]]:
    stub = StubCentral()
    try:
        with NginxFront([stub.port], tmp_path / "nginx") as front:
            yield stub, front
    finally:
        stub.close()


def _get(front: NginxFront, cursor: int, token: str = StubCentral.TOKEN, **headers: str) -> Any:
    return requests.get(
        f"{front.url}/sync/v1/directory?cursor={cursor}",
        headers={"Authorization": token, **headers},
        verify=front.ca_file,
        timeout=10,
    )


def test_a_full_page_is_built_once_and_then_served_from_the_cache(
    stub_front: tuple[StubCentral, NginxFront],
) -> None:
    stub, front = stub_front
    replies = [_get(front, 100) for _ in range(4)]
    assert [r.headers["X-Cache-Status"] for r in replies] == ["MISS", "HIT", "HIT", "HIT"]
    assert {r.text for r in replies} == {'{"cursor":100,"served":1}'}
    assert stub.pages == {"100": 1}
    # A stand that has the page asks with its ETag: nginx answers 304 from the cache.
    again = _get(front, 100, **{"If-None-Match": '"page-100"'})
    assert again.status_code == 304 and stub.pages == {"100": 1}


def test_a_cached_page_is_refused_to_a_request_without_a_valid_stand_token(
    stub_front: tuple[StubCentral, NginxFront],
) -> None:
    stub, front = stub_front
    assert _get(front, 100).status_code == 200
    assert _get(front, 100, token="Bearer forged").status_code == 401
    assert _get(front, 100, token="").status_code == 401
    assert stub.pages == {"100": 1}


def test_a_stale_page_is_revalidated_with_its_etag(
    stub_front: tuple[StubCentral, NginxFront],
) -> None:
    stub, front = stub_front
    assert _get(front, 200).headers["X-Cache-Status"] == "MISS"
    assert _get(front, 200).headers["X-Cache-Status"] == "HIT"
    time.sleep(2.5)  # nginx counts whole seconds
    stale = _get(front, 200)
    assert stale.headers["X-Cache-Status"] == "REVALIDATED"
    assert stale.text == '{"cursor":200,"served":1}'
    assert stub.revalidated == 1


def test_a_page_the_service_marks_private_is_never_stored(
    stub_front: tuple[StubCentral, NginxFront],
) -> None:
    _stub, front = stub_front
    replies = [_get(front, 300) for _ in range(3)]
    assert [r.headers["X-Cache-Status"] for r in replies] == ["MISS"] * 3
    assert [r.json()["served"] for r in replies] == [1, 2, 3]


# --- retries: an instance that dies with a request in hand --------------------------------------


class DyingInstance:
    """An instance that reads each request whole, counts it, and dies before answering (the
    connection closed with no reply), as one killed in the middle of a request does."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _address = self._listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                if data:
                    self.got.append(data.split(b" ", 2)[1].decode())

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def dying_front(tmp_path: Path) -> Iterator[tuple[DyingInstance, StubCentral, NginxFront]]:
    dying, stub = DyingInstance(), StubCentral()
    try:
        # The dying instance first: least_conn takes the first of equals.
        with NginxFront([dying.port, stub.port], tmp_path / "nginx") as front:
            yield dying, stub, front
    finally:
        dying.close()
        stub.close()


def _post(front: NginxFront, path: str) -> requests.Response:
    return requests.post(
        front.url + path,
        json={"events": []},
        headers={"Authorization": StubCentral.TOKEN},
        verify=front.ca_file,
        timeout=10,
    )


def test_a_batch_of_events_is_sent_on_when_its_instance_dies_with_it(
    dying_front: tuple[DyingInstance, StubCentral, NginxFront],
) -> None:
    dying, stub, front = dying_front
    batch = _post(front, "/sync/v1/events")
    # Idempotent by its event ids: resent to the other instance, which answered.
    assert batch.status_code == 200 and batch.json() == {"posted": "/sync/v1/events"}
    assert dying.got == stub.posts == ["/sync/v1/events"]


def test_another_post_is_not_sent_on_when_its_instance_dies_with_it(
    dying_front: tuple[DyingInstance, StubCentral, NginxFront],
) -> None:
    dying, stub, front = dying_front
    topup = _post(front, "/api/v1/clients/1/topups")
    # Not idempotent: the error is the person's to see; the other instance never got it.
    assert topup.status_code == 502
    assert dying.got == ["/api/v1/clients/1/topups"] and stub.posts == []

"""``aquastand-cloud`` commands as an operator runs them: the database is chosen by
``AQUASTAND_DATA_DIR`` and ``AQUASTAND_DATABASE_URL``, as on a real host."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from cloud import cli, migrations
from cloud.clients.qrkeys import public_key
from cloud.config import load_config
from cloud.db import db_proxy
from cloud.demodata import DEMO_SITE_NAME, DEMO_STAFF, WASHER_BALANCE
from cloud.ledger.service import ledger_balance
from cloud.migrations import latest_version
from cloud.models import Client, Credential, LedgerEntry, SchemaVersion, Session, Site, User
from sync import qrtoken
from tests.cloud.conftest import post_form
from tests.cloud.freshdb import bound, empty_database_url


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """``use_database(url)``: the environment the commands read, pointed at ``url``.

    Commands bind the models to a connection of their own; afterwards the models go back to
    what they were bound to before (the test's app, when the test asks for ``app`` first)."""
    previous = db_proxy.obj

    def point(url: str) -> None:
        monkeypatch.setenv("AQUASTAND_DATA_DIR", str(tmp_path / "cli-data"))
        monkeypatch.setenv("AQUASTAND_DATABASE_URL", url)
        monkeypatch.delenv("AQUASTAND_CONFIG", raising=False)

    yield point
    if db_proxy.obj is not None and db_proxy.obj is not previous:
        db_proxy.obj.close()
    db_proxy.initialize(previous)


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with empty_database_url(database_url, tmp_path) as url:
        yield url


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def test_init_creates_the_schema_then_says_it_is_up_to_date(
    empty_url: str, use_database: Any, tmp_path: Path
) -> None:
    use_database(empty_url)

    first = run("init")
    second = run("init")

    assert first.exit_code == 0, first.output
    assert f"created schema version {latest_version()}" in first.output
    assert second.exit_code == 0, second.output
    assert f"schema is up to date (version {latest_version()})" in second.output
    key = tmp_path / "cli-data" / "qr_signing_key.pem"
    assert key.exists() and key.stat().st_mode & 0o077 == 0


def test_init_on_the_existing_database_keeps_its_rows(
    app: Flask, database_url: str, use_database: Any
) -> None:
    Site.create(name="Аквастенд на Ленина")
    use_database(database_url)

    result = run("init")

    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert [site.name for site in Site.select()] == ["Аквастенд на Ленина"]


def test_init_refuses_a_database_newer_than_the_program(empty_url: str, use_database: Any) -> None:
    use_database(empty_url)
    assert run("init").exit_code == 0
    with bound(empty_url):
        SchemaVersion.create(version=latest_version() + 1)

    result = run("init")

    assert result.exit_code != 0
    assert "newer than this program" in result.output


def test_demo_data_twice_makes_the_chain_once_and_prints_the_logins(
    app: Flask, database_url: str, use_database: Any
) -> None:
    use_database(database_url)

    first = run("demo-data", "--url", "http://127.0.0.1:8765/")
    counts = (Client.select().count(), Session.select().count(), LedgerEntry.select().count())
    second = run("demo-data")

    assert first.exit_code == 0, first.output
    assert "demo data created" in first.output
    assert "http://127.0.0.1:8765/" in first.output
    assert second.exit_code == 0, second.output
    assert "demo data already present" in second.output
    for output in (first.output, second.output):
        for login in DEMO_STAFF:
            assert f"{login.phone}  {login.password}" in output
    assert (Client.select().count(), Session.select().count(), LedgerEntry.select().count()) == (
        counts
    )
    assert Site.select().where(Site.name == DEMO_SITE_NAME).count() == 1
    assert counts[0] == 28 and counts[1] > 100


def test_demo_data_is_consistent_and_its_staff_can_log_in(
    app: Flask, database_url: str, use_database: Any
) -> None:
    use_database(database_url)
    assert run("demo-data").exit_code == 0

    assert {user.role for user in User.select()} == {
        "attendant",
        "operator",
        "administrator",
        "owner",
    }
    # No open session: `make demo` opens its sessions through the stands.
    assert Session.select().where(Session.ended_at.is_null()).count() == 0
    checked = run("check")
    assert checked.exit_code == 0 and "FAIL" not in checked.output, checked.output
    for client in Client.select():
        assert client.balance_kopecks == ledger_balance(client), client.name
    assert Client.select().where(Client.balance_kopecks < 0).count() >= 1
    charged = LedgerEntry.select().where(LedgerEntry.kind == "charge")
    assert all(entry.amount_kopecks == -entry.session.cost_kopecks for entry in charged)
    owner = next(login for login in DEMO_STAFF if login.role == "owner")
    browser = app.test_client()
    response = post_form(browser, "/login", {"phone": owner.phone, "password": owner.password})
    assert response.status_code == 302


def test_demo_credentials_are_a_members_active_card_and_another_members_valid_qr_token(
    app: Flask, database_url: str, use_database: Any, tmp_path: Path
) -> None:
    """What `make demo` has its readers present: both must open a session at a stand."""
    use_database(database_url)
    assert run("demo-data").exit_code == 0

    result = run("demo-credentials")

    assert result.exit_code == 0, result.output
    uid, token = result.output.split()
    card = Credential.get((Credential.kind == "card") & (Credential.value == uid))
    assert not card.lost and card.unlinked_at is None
    assert card.client.kind == "member" and card.client.balance_kopecks > 0
    cli_config = load_config(data_dir=tmp_path / "cli-data")  # the commands' data directory
    claims = qrtoken.verify(public_key(cli_config), token)
    assert claims.client_id != card.client_id
    assert Client.get_by_id(claims.client_id).balance_kopecks > 0
    second = run("demo-credentials", "--post", "2")
    assert second.exit_code == 0, second.output
    uid2, token2 = second.output.split()
    card2 = Credential.get((Credential.kind == "card") & (Credential.value == uid2))
    claims2 = qrtoken.verify(public_key(cli_config), token2)
    washers = {card.client_id, claims.client_id, card2.client_id, claims2.client_id}
    assert len(washers) == 4  # at most one session per post, of different clients
    for washer in washers:
        assert Client.get_by_id(washer).balance_kopecks >= WASHER_BALANCE
    assert run("demo-credentials", "--post", "3").exit_code != 0


def test_demo_data_needs_the_schema_first(empty_url: str, use_database: Any) -> None:
    use_database(empty_url)

    result = run("demo-data")

    assert result.exit_code != 0
    assert "aquastand-cloud init" in result.output


@pytest.fixture
def gunicorn_never_starts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Instead of serving, record the gunicorn configuration the command built."""
    started: list[Any] = []
    monkeypatch.setattr(cli.CentralServer, "run", lambda server: started.append(server.cfg))
    return started


def test_serve_refuses_a_database_without_schema(
    empty_url: str, use_database: Any, gunicorn_never_starts: list[Any]
) -> None:
    use_database(empty_url)

    result = run("serve")

    assert result.exit_code != 0
    assert "no schema yet: run `aquastand-cloud init`" in result.output
    assert gunicorn_never_starts == []


def test_serve_refuses_a_schema_older_than_the_program(
    app: Flask,
    database_url: str,
    use_database: Any,
    gunicorn_never_starts: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_database(database_url)
    now = latest_version()
    later = [*migrations.MIGRATIONS, (now + 1, lambda database: None)]
    monkeypatch.setattr(migrations, "MIGRATIONS", later)

    result = run("serve")

    assert result.exit_code != 0
    assert f"schema is version {now}, this program needs {now + 1}" in result.output
    assert gunicorn_never_starts == []


def test_serve_hands_host_port_and_workers_to_gunicorn(
    app: Flask, database_url: str, use_database: Any, gunicorn_never_starts: list[Any]
) -> None:
    use_database(database_url)

    result = run("serve", "--host", "0.0.0.0", "--port", "8765", "--workers", "3")  # noqa: S104

    assert result.exit_code == 0, result.output
    [config] = gunicorn_never_starts
    assert config.bind == ["0.0.0.0:8765"]
    assert config.workers == 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_on_the_port_it_was_given(tmp_path: Path) -> None:
    """The real thing once (SQLite): init, then gunicorn in its own process serves /login."""
    env = {
        **os.environ,
        "AQUASTAND_DATA_DIR": str(tmp_path / "served"),
        "AQUASTAND_DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
    }
    command = [sys.executable, "-c", "from cloud.cli import main; main()"]
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        page = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as reply:
                    page = reply.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "csrf" in page, server.stderr.read().decode() if server.poll() is not None else ""
        # A 5,000-character search reaches the app (which answers in words), not a bare 414.
        long_search = f"http://127.0.0.1:{port}/api/v1/clients?q={'x' * 5000}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(long_search, timeout=10)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["error"]["code"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        assert server.stderr is not None
        server.stderr.close()


def test_the_wsgi_module_serves_the_configured_database(
    app: Flask, database_url: str, use_database: Any
) -> None:
    use_database(database_url)
    sys.modules.pop("cloud.wsgi", None)

    from cloud.wsgi import app as wsgi_app

    assert wsgi_app.config["AQ"].effective_database_url == database_url
    try:
        assert wsgi_app.test_client().get("/login").status_code == 200
    finally:
        wsgi_app.extensions["aquastand_db"].close()
        sys.modules.pop("cloud.wsgi", None)


def test_demo_cabinet_names_a_member_who_logs_in_and_holds_the_first_posts_qr(
    app: Flask, database_url: str, use_database: Any, tmp_path: Path
) -> None:
    """`make demo` prints how to log in to the client cabinet; that member's QR code in the
    cabinet is the one it prints for its first post."""
    from cloud.cabinet import auth

    use_database(database_url)
    assert run("demo-data").exit_code == 0
    printed = run("demo-cabinet", "--url", "http://127.0.0.1:8000/")
    assert printed.exit_code == 0, printed.output
    phone = printed.output.split("with the phone ")[1].split(".")[0]
    assert str(tmp_path / "cli-data" / "sms-outbox.jsonl") in printed.output
    token = run("demo-credentials").output.split()[1]
    claims = qrtoken.verify(public_key(load_config(data_dir=tmp_path / "cli-data")), token)
    member = auth.client_by_phone(phone)
    assert member is not None and member.kind == "member" and member.id == claims.client_id
    bearer = auth.open_session(member, "api")
    me = app.test_client().get("/api/client/v1/me", headers={"Authorization": f"Bearer {bearer}"})
    assert me.get_json()["qr"]["token_id"] == claims.token_id

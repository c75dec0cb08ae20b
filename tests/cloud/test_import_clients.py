"""``aquastand-cloud import-clients FILE.csv``: every row or none, bad rows named by line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from cloud.cli import main
from cloud.clients import service as clientbook
from cloud.clients.csvimport import ImportFailed, import_clients
from cloud.db import db_proxy
from cloud.models import Client, Credential
from tests.cloud.conftest import World

HEADER = "kind,name,phones,email,plates,cards,note\n"
GOOD = (
    HEADER
    + "member,Анна Смирнова,8 903 111-22-33;+7 905 000 11 22,anna@example.ru,"
    + "к001кк777,DE:AD:BE:EF,с 2019\n"
    + 'guest,,,,"B 002 BB 77",,\n'
    + 'member,"Сидоров, Пётр",89261234567,,,04a1b2c3d4e599,"заметка, с запятой"\n'
)


@pytest.fixture
def run_import(app: Flask, tmp_path: Path) -> Iterator[Any]:
    """Run the command against the test app's database, as an operator would in a shell."""
    config = app.config["AQ"]
    env = {
        "AQUASTAND_DATA_DIR": str(config.data_dir),
        "AQUASTAND_DATABASE_URL": config.effective_database_url,
    }

    def run(content: str | bytes, *args: str) -> Any:
        path = tmp_path / "clients.csv"
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return CliRunner().invoke(main, ["import-clients", str(path), *args], env=env)

    yield run
    if db_proxy.obj is not app.extensions["aquastand_db"]:
        db_proxy.obj.close()
        db_proxy.initialize(app.extensions["aquastand_db"])


def _names() -> set[str]:
    return {client.name for client in Client.select()}


def test_a_good_file_imports_every_row(world: World, run_import: Any) -> None:
    before = Client.select().count()
    result = run_import(GOOD)
    assert result.exit_code == 0, result.output
    assert "imported 3 clients" in result.stdout
    assert "import" in result.stderr  # the progress bar
    assert Client.select().count() == before + 3
    anna = clientbook.client_to_dict(Client.get(Client.name == "Анна Смирнова"))
    assert anna["phones"] == ["+79031112233", "+79050001122"]
    assert anna["plates"] == ["К001КК777"] and anna["cards"] == ["DEADBEEF"]
    assert anna["note"] == "с 2019" and anna["home_site_id"] is None
    guest = Credential.get(Credential.value == "В002ВВ77").client
    assert guest.kind == "guest"
    assert Client.get(Client.name == "Сидоров, Пётр").note == "заметка, с запятой"


def test_a_file_with_a_bom_and_a_home_site(world: World, run_import: Any) -> None:
    result = run_import("\ufeff" + GOOD, "--site", world.site_b.name, "--quiet")
    assert result.exit_code == 0, result.output
    assert Client.get(Client.name == "Анна Смирнова").home_site_id == world.site_b.id


def test_a_bad_row_is_reported_by_line_and_nothing_is_imported(
    world: World, run_import: Any
) -> None:
    before = _names()
    content = GOOD + "member,,,,,,\n" + "guest,,,,???,,\n"
    result = run_import(content)
    assert result.exit_code != 0
    assert "line 5: Укажите имя участника клуба" in result.stderr
    assert "line 6: Некорректный номер автомобиля" in result.stderr
    assert "nothing was imported" in result.stderr
    assert _names() == before
    assert not Credential.select().where(Credential.value == "DEADBEEF").exists()


def test_a_plate_already_in_the_database_is_a_bad_row(world: World, run_import: Any) -> None:
    result = run_import(GOOD + "guest,,,,A123BC77,,\n")
    assert result.exit_code != 0
    assert "line 5:" in result.stderr and "А123ВС77" in result.stderr
    assert Client.select().count() == 3


def test_the_same_plate_twice_in_one_file_is_a_bad_row(world: World, run_import: Any) -> None:
    content = HEADER + "guest,,,,Х100ХХ77,,\nmember,Дубль,,,x 100 xx 77,,\n"
    result = run_import(content)
    assert result.exit_code != 0
    assert "line 3: номер Х100ХХ77 уже есть в строке 2" in result.stderr
    assert not Credential.select().where(Credential.value == "Х100ХХ77").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,plates\nАнна,А1\n", "line 1: нет столбца kind"),
        ("kind,name,colour\nmember,Анна,red\n", "line 1: неизвестные столбцы: colour"),
        (HEADER + "member,Анна,,,,,,extra\n", "line 2: значений больше"),
        (HEADER + "boss,Анна,,,,,\n", "line 2: Тип клиента"),
        ("kind,name\nmember,\xd0\n".encode("latin-1"), "UTF-8"),
    ],
)
def test_a_malformed_file_is_refused(
    world: World, run_import: Any, content: str | bytes, message: str
) -> None:
    result = run_import(content)
    assert result.exit_code != 0
    assert message in result.stderr
    assert Client.select().count() == 3


def test_an_unknown_site_is_refused(world: World, run_import: Any) -> None:
    result = run_import(GOOD, "--site", "Нет такой")
    assert result.exit_code != 0 and "не найдена" in result.stderr
    assert Client.select().count() == 3


def test_the_import_function_returns_the_count_and_raises_with_every_problem(
    world: World,
) -> None:
    assert import_clients(GOOD.encode(), progress=False) == 3
    with pytest.raises(ImportFailed) as caught:
        import_clients((HEADER + "member,,,,,,\nguest,,,,,,\n").encode(), progress=False)
    assert [problem.split(":")[0] for problem in caught.value.problems] == ["line 2", "line 3"]

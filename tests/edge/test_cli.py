"""``aquastand-edge load-directory`` as an operator runs it at a stand: the file exported by
the central service goes in whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from edge.cli import main
from edge.store import Store
from tests.edge.conftest import IVAN, IVAN_CARD, SITE_ID, VERSION, directory_doc


def run(tmp_path: Path, *args: str, **env: str) -> Result:
    environment: dict[str, str | None] = {
        "AQUASTAND_DATA_DIR": str(tmp_path / "stand"),
        "AQUASTAND_EDGE_CONFIG": None,
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment)


def write(tmp_path: Path, doc: Any, name: str = "directory.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def stored(tmp_path: Path) -> Store:
    return Store(tmp_path / "stand" / "edge.sqlite3")


def test_load_directory_loads_the_exported_file_and_prints_counts(tmp_path: Path) -> None:
    result = run(tmp_path, "load-directory", write(tmp_path, directory_doc()))

    assert result.exit_code == 0, result.output
    assert f"loaded directory version {VERSION} of site {SITE_ID}" in result.output
    assert "5 clients, 8 credentials" in result.output
    store = stored(tmp_path)
    assert store.directory_version() == VERSION
    assert store.tables.DirClient.get_by_id(IVAN).name == "Иван Петров"
    assert (
        store.tables.DirCredential.get(store.tables.DirCredential.value == IVAN_CARD).client_id
        == IVAN
    )
    assert store.tables.DirStaff.select().count() == 1
    store.close()


def test_an_older_file_is_refused_unless_forced(tmp_path: Path) -> None:
    run(tmp_path, "load-directory", write(tmp_path, directory_doc()))
    older = write(tmp_path, directory_doc(version=VERSION - 1), "older.json")

    refused = run(tmp_path, "load-directory", older)
    forced = run(tmp_path, "load-directory", "--force", older)

    assert refused.exit_code == 1 and "старше загруженного" in refused.output
    assert forced.exit_code == 0, forced.output
    store = stored(tmp_path)
    assert store.directory_version() == VERSION - 1
    store.close()


def test_a_directory_of_another_site_than_configured_is_refused(tmp_path: Path) -> None:
    result = run(
        tmp_path, "load-directory", write(tmp_path, directory_doc()), AQUASTAND_EDGE_SITE_ID="2"
    )

    assert result.exit_code == 1
    assert "другой площадки" in result.output


def test_a_broken_file_is_refused_and_nothing_is_loaded(tmp_path: Path) -> None:
    bad = directory_doc()
    bad["credentials"][0]["client_id"] = 999
    not_json = tmp_path / "broken.json"
    not_json.write_text("{", encoding="utf-8")

    invalid = run(tmp_path, "load-directory", write(tmp_path, bad))
    garbled = run(tmp_path, "load-directory", str(not_json))

    assert invalid.exit_code == 1
    assert "credentials[0].client_id" in invalid.output
    assert garbled.exit_code == 1 and "not a JSON file" in garbled.output
    store = stored(tmp_path)
    assert store.directory_version() == 0 and store.tables.DirClient.select().count() == 0
    store.close()

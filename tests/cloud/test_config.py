"""Configuration: defaults, then the TOML file, then the environment; unknown keys refused;
the secret key kept owner-only in the data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloud.config import ensure_secret_key, load_config


def write_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_in_the_data_directory_overrides_defaults_and_the_environment_overrides_both(
    tmp_path: Path,
) -> None:
    write_toml(
        tmp_path / "cloud.toml",
        'timezone = "Asia/Yekaterinburg"\npage_size = 20\nlogin_free_failures = 3\n',
    )
    env = {"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_PAGE_SIZE": "30"}

    config = load_config(environ=env)

    assert config.data_dir == tmp_path
    assert config.timezone == "Asia/Yekaterinburg"
    assert config.login_free_failures == 3
    assert config.page_size == 30
    assert config.default_locale == "ru"


def test_aquastand_config_names_a_file_elsewhere(tmp_path: Path) -> None:
    toml = write_toml(tmp_path / "etc" / "central.toml", 'default_locale = "en"\n')
    write_toml(tmp_path / "data" / "cloud.toml", 'default_locale = "ru"\npage_size = 5\n')
    env = {"AQUASTAND_DATA_DIR": str(tmp_path / "data"), "AQUASTAND_CONFIG": str(toml)}

    config = load_config(environ=env)

    assert config.default_locale == "en"
    assert config.page_size == 50  # the data directory's file is not read then


def test_the_database_is_sqlite_in_the_data_directory_unless_a_url_is_given(
    tmp_path: Path,
) -> None:
    default = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})
    assert default.effective_database_url == f"sqlite:///{tmp_path / 'aquastand.sqlite3'}"

    url = "postgresql://aquastand@db.example.ru/aquastand"
    chosen = load_config(
        environ={"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_DATABASE_URL": url}
    )
    assert chosen.effective_database_url == url


def test_overrides_win_over_file_and_environment(tmp_path: Path) -> None:
    write_toml(tmp_path / "cloud.toml", "page_size = 20\n")
    env = {"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_PAGE_SIZE": "30"}

    assert load_config(environ=env, page_size=7).page_size == 7


@pytest.mark.parametrize(
    "text",
    ['colour = "blue"\n', 'timezone = "Europe/Moscow"\n[database]\nurl = "sqlite://"\n'],
    ids=["unknown-key", "unknown-table"],
)
def test_unknown_keys_in_the_file_are_refused(tmp_path: Path, text: str) -> None:
    write_toml(tmp_path / "cloud.toml", text)

    with pytest.raises(ValueError, match="unknown configuration keys"):
        load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path)})


def test_a_number_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    env = {"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_PAGE_SIZE": "many"}

    with pytest.raises(ValueError):
        load_config(environ=env)


def test_the_secret_key_is_created_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    config = load_config(environ={"AQUASTAND_DATA_DIR": str(tmp_path / "data")})

    first = ensure_secret_key(config)
    again = ensure_secret_key(config)

    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first == again == key_file.read_text().strip()
    assert len(first) >= 32


def test_a_configured_secret_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    env = {"AQUASTAND_DATA_DIR": str(tmp_path), "AQUASTAND_SECRET_KEY": "from-the-environment"}

    assert ensure_secret_key(load_config(environ=env)) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()

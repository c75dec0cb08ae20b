"""Backing up and restoring the central database (``aquastand-cloud backup`` / ``restore``).

SQLite: the online backup API copies a consistent snapshot while the service runs, and
restores one in a single write transaction. PostgreSQL: ``pg_dump`` in its custom format of the
schema the service uses (``public`` on a host; a test's private one), and ``pg_restore`` of its
tables in one transaction (``--clean``: the tables are replaced, not merged; the schema itself
is left alone). Either way a restore is all or nothing.

A restore first reads the backup's schema version and refuses a backup newer than this program
and a database newer than the backup (that would take it back to an older schema behind the
operator's back); an older backup is restored as it is and ``aquastand-cloud init`` upgrades it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee

from cloud.migrations import current_version, latest_version

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
VERSION_TABLE = "schema_version"


class BackupError(Exception):
    """A backup or restore that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class Outcome:
    """What a backup or restore did: the database (without password), the schema version of
    the data moved, the file's size."""

    database: str
    version: int
    size: int


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def describe(url: str) -> str:
    """``url`` fit to print: SQLite's file, or PostgreSQL's host and database, no password."""
    if is_sqlite(url):
        return f"SQLite {_sqlite_path(url)}"
    parts = urlsplit(url)
    return f"PostgreSQL {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


# --- backup ---------------------------------------------------------------------------------


def backup(url: str, database: peewee.Database, target: Path) -> Outcome:
    """Write a backup of the database at ``url`` to ``target`` (owner-only, replaced whole)."""
    version = current_version(database)
    database.close()
    if version is None:
        raise BackupError("the database has no schema: nothing to back up")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent} to write the backup in")
    partial = target.with_name(f".{target.name}.partial")
    try:
        if is_sqlite(url):
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            _pg_dump(url, _pg_schema(database), partial)
        partial.chmod(0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(describe(url), version, target.stat().st_size)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source}")
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)
        # A standalone file: no -wal beside it when it is read later.
        copy.execute("PRAGMA journal_mode=DELETE")


def _pg_dump(url: str, schema: str, target: Path) -> None:
    connection, env = _libpq(url)
    _run_pg(
        ["pg_dump", "--format=custom", f"--schema={schema}", f"--file={target}", connection], env
    )


# --- restore --------------------------------------------------------------------------------


def backup_version(url: str, source: Path) -> int:
    """The schema version recorded in the backup ``source`` made for a database like ``url``'s."""
    try:
        with source.open("rb") as fh:
            magic = fh.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"cannot read {source}: {error.strerror}") from error
    if magic.startswith(PG_DUMP_MAGIC):
        if is_sqlite(url):
            raise BackupError(f"{source} is a PostgreSQL backup; the database is SQLite")
        version = _pg_backup_version(source)
    elif magic == SQLITE_MAGIC:
        if not is_sqlite(url):
            raise BackupError(f"{source} is a SQLite backup; the database is PostgreSQL")
        version = _sqlite_backup_version(source)
    else:
        raise BackupError(f"{source} is not an Aquastand backup (neither SQLite nor pg_dump)")
    if version is None:
        raise BackupError(f"{source} holds no Aquastand schema version: not an Aquastand backup")
    return version


def restore(url: str, database: peewee.Database, source: Path) -> Outcome:
    """Replace the database's contents with the backup ``source``; refuses (BackupError,
    nothing changed) a backup newer than this program or older than the database."""
    version = backup_version(url, source)
    latest = latest_version()
    if version > latest:
        raise BackupError(
            f"the backup has schema version {version}, newer than this program ({latest}): "
            "install the Aquastand version that made it"
        )
    present = current_version(database)
    if present is not None and present > version:
        raise BackupError(
            f"the database has schema version {present}, newer than the backup's ({version}): "
            "restoring would take it back to an older schema; restore into an empty database"
        )
    if is_sqlite(url):
        database.close()
        _sqlite_restore(source, _sqlite_path(url))
    else:
        schema = _pg_schema(database)
        database.close()
        _pg_restore(url, schema, source)
    return Outcome(describe(url), version, source.stat().st_size)


def _sqlite_backup_version(source: Path) -> int | None:
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as copy:
            row = copy.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()  # noqa: S608
    except sqlite3.DatabaseError:
        return None
    return None if row is None or row[0] is None else int(row[0])


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as copy,
        closing(sqlite3.connect(target, timeout=30)) as live,
    ):
        copy.backup(live)  # one write transaction on the live database: all or nothing
        live.execute("PRAGMA journal_mode=WAL")


def _pg_backup_version(source: Path) -> int | None:
    """The highest version in the dump's schema_version data, read without a database."""
    output = _run_pg(
        ["pg_restore", "--data-only", f"--table={VERSION_TABLE}", "--file=-", str(source)], None
    )
    lines = iter(output.splitlines())
    for line in lines:
        match = re.match(r"COPY \S+ \((.*)\) FROM stdin;$", line)
        if match:
            column = [name.strip().strip('"') for name in match.group(1).split(",")].index(
                "version"
            )
            versions = []
            for row in lines:
                if row == "\\.":
                    break
                versions.append(int(row.split("\t")[column]))
            return max(versions, default=None)
    return None


def _pg_restore(url: str, schema: str, source: Path) -> None:
    """Restore the dump's tables into ``schema`` in one transaction, the schema itself kept."""
    listing = _run_pg(["pg_restore", "--list", str(source)], None)
    dumped_schemas = set(re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", listing, re.MULTILINE))
    if dumped_schemas and dumped_schemas != {schema}:
        raise BackupError(
            f"the backup is of schema {', '.join(sorted(dumped_schemas))}; "
            f"the database uses schema {schema}"
        )
    # Everything but the schema's own entries: --clean would drop and create the schema.
    kept = [
        line
        for line in listing.splitlines()
        if not re.match(r"^\d+; \d+ \d+ (SCHEMA|COMMENT - SCHEMA) ", line)
    ]
    connection, env = _libpq(url)
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen:
        chosen.write("\n".join(kept) + "\n")
        chosen.flush()
        _run_pg(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--use-list={chosen.name}",
                f"--dbname={connection}",
                str(source),
            ],
            env,
        )


# --- plumbing -------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    from playhouse.db_url import parse

    return Path(parse(url)["database"])


def _pg_schema(database: peewee.Database) -> str:
    """The schema the service's tables live in (the first of its search path)."""
    schema = database.execute_sql("SELECT current_schema()").fetchone()[0]
    if schema is None:
        raise BackupError("the database's search path names no existing schema")
    return str(schema)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """``url`` as a libpq connection URI for pg_dump and pg_restore, and their environment:
    the password goes in PGPASSWORD, not on a command line every local user can read."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


def _run_pg(command: list[str], env: dict[str, str] | None) -> str:
    program = shutil.which(command[0])
    if program is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)"
        )
    result = subprocess.run(  # noqa: S603 - fixed programs, arguments as a list
        [program, *command[1:]], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")
    return result.stdout

"""Every runtime dependency of the stand (the project's dependencies and its ``pi`` extra) comes
as a wheel for a Raspberry Pi's aarch64 Python, so nothing is compiled on the Pi (no compiler,
no headers, an hour of a Pi 4's time for cryptography's Rust).

pip resolves the whole tree for the Pi's platform and Python with ``--only-binary=:all:``:
a package with no such wheel fails the resolution, named in pip's message. picamera2 and lgpio
are left out: the installer takes them from Raspberry Pi OS (python3-picamera2,
python3-lgpio). Needs the package registry (``network``), as CI has it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FROM_THE_OS = {"picamera2", "lgpio"}
# Raspberry Pi OS (64-bit): Bookworm has Python 3.11 and glibc 2.36, Trixie 3.13 and 2.41.
SYSTEMS = {"bookworm": ("3.11", "cp311", 36), "trixie": ("3.13", "cp313", 41)}
TIMEOUT_S = 600
MAX_SOURCE_ONLY = 3  # pure-Python packages published only as source, built here


def platforms(glibc_minor: int) -> list[str]:
    """pip's ``--platform`` options for aarch64 with this glibc: every manylinux tag it runs
    (pip does not expand a newer tag to the older ones by itself)."""
    tags = [f"manylinux_2_{minor}_aarch64" for minor in range(glibc_minor, 16, -1)]
    return [option for tag in [*tags, "manylinux2014_aarch64"] for option in ("--platform", tag)]


def stand_requirements() -> list[str]:
    """The project's dependencies and its ``pi`` extra, less what the OS provides."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["pi"]]
    return [line for line in wanted if Requirement(line).name.lower() not in FROM_THE_OS]


def test_the_requirements_leave_out_only_what_the_os_gives() -> None:
    names = {Requirement(line).name.lower() for line in stand_requirements()}
    assert {"nfcpy", "gpiozero", "cryptography", "pillow", "pyzbar"} <= names
    assert not names & FROM_THE_OS


def download(
    system: str, requirements: Path, dest: Path, pure: Path
) -> subprocess.CompletedProcess[str]:
    python, abi, glibc_minor = SYSTEMS[system]
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-cache-dir",
            "--only-binary=:all:", *platforms(glibc_minor), "--python-version", python,
            "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
            "--find-links", str(pure), "--dest", str(dest), "-r", str(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )  # fmt: skip


def build_pure_wheel(name: str, pure: Path) -> str:
    """Build ``name``'s wheel from its source here; fail unless it is pure Python (what pip on
    the Pi would build without a compiler)."""
    before = set(pure.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps",
         "--no-binary", name, "--wheel-dir", str(pure), name],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{name} does not build here either:\n{result.stderr}"
    [built] = set(pure.iterdir()) - before
    assert built.name.endswith("-none-any.whl"), f"{name} needs compiling: {built.name}"
    return built.name


@pytest.mark.network
@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_every_runtime_dependency_has_an_aarch64_wheel(system: str, tmp_path: Path) -> None:
    """A dependency published only as source passes if its source builds a pure-Python wheel
    (pyDes, nfcpy's DES, is one): it is then offered to the resolution as a wheel."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(stand_requirements()) + "\n")
    dest, pure = tmp_path / "wheels", tmp_path / "pure"
    pure.mkdir()
    built: list[str] = []
    for _attempt in range(MAX_SOURCE_ONLY + 1):
        result = download(system, requirements, dest, pure)
        missing = re.search(r"No matching distribution found for ([A-Za-z0-9_.-]+)", result.stderr)
        if result.returncode == 0 or missing is None:
            break
        built.append(build_pure_wheel(missing.group(1), pure))

    assert result.returncode == 0, f"{system}: a dependency has no aarch64 wheel:\n{result.stderr}"
    wheels = sorted(path.name for path in dest.iterdir())
    assert all(name.endswith(".whl") for name in wheels), wheels
    native = [name for name in wheels if not name.endswith("-none-any.whl")]
    assert native and all("aarch64" in name for name in native), native
    assert len(built) < MAX_SOURCE_ONLY, built  # a few pure-Python exceptions, not a trend

"""scripts/install-stand.sh --dry-run: the plan it prints for a Raspberry Pi stand (packages,
users, the virtual environment, the configuration written only when absent, the units), and
the configuration file it writes, read by the stand's own configuration loader."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from nfc.clf.device import usb_device_map

from edge.config import EdgeConfig, load_config
from tests.conftest import need
from tests.deploy.units import SYSTEMD_DIR, UNITS, one, service

ROOT = SYSTEMD_DIR.parent
SCRIPT = ROOT / "scripts" / "install-stand.sh"
TEMPLATE = ROOT / "scripts" / "edge.toml"


def plan(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The lines the script prints with --dry-run (it must succeed)."""
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def commands(lines: list[str]) -> list[list[str]]:
    """The planned commands, as argument lists."""
    return [shlex.split(line[2:]) for line in lines if line.startswith("+ ")]


def find(lines: list[str], *start: str) -> list[list[str]]:
    return [command for command in commands(lines) if command[: len(start)] == list(start)]


def _exists_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _exists_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def test_the_plan_installs_the_raspberry_pi_packages_and_the_browser(tmp_path: Path) -> None:
    lines = plan("--config-dir", str(tmp_path / "etc"))

    [install] = find(lines, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install")
    packages = set(install[install.index("--no-install-recommends") + 1 :])
    assert {"python3-venv", "python3-picamera2", "python3-lgpio", "libzbar0"} <= packages
    # chromium-browser is a transitional package, gone from Trixie; cage needs Xwayland.
    assert {"cage", "xwayland", "chromium", "curl"} <= packages
    assert "chromium-browser" not in packages
    assert any(
        line.endswith("kiosk.env (mode 0644, root:root): CHROMIUM=/usr/bin/chromium")
        for line in lines
    )
    assert find(lines, "apt-get", "update")
    assert lines.index("+ apt-get update") < lines.index("+ " + shlex.join(install))


def test_without_the_kiosk_no_browser_and_no_kiosk_unit(tmp_path: Path) -> None:
    lines = plan("--config-dir", str(tmp_path / "etc"), "--no-kiosk")

    [install] = find(lines, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install")
    assert not {"cage", "xwayland", "chromium"} & set(install)
    assert find(lines, "systemctl", "enable") == [["systemctl", "enable", "aquastand-edge.service"]]
    assert not any("aquastand-kiosk" in line for line in lines if line.startswith("+ "))


def test_the_plan_makes_the_users_the_units_run_as() -> None:
    lines = plan()

    for name, unit in (
        ("aquastand", "aquastand-edge.service"),
        ("aquastand-kiosk", "aquastand-kiosk.service"),
    ):
        assert one(service(unit), "User") == name
        made = [command for command in find(lines, "useradd") if command[-1] == name]
        if _exists_user(name):
            assert not made and f"# user {name} exists" in lines
        else:
            [useradd] = made
            assert "--system" in useradd
            assert useradd[useradd.index("--shell") + 1] == "/usr/sbin/nologin"
    # Every supplementary group the units name exists or is made (systemd refuses to start a
    # unit naming a missing group).
    for unit in ("aquastand-edge.service", "aquastand-kiosk.service"):
        for group in one(service(unit), "SupplementaryGroups").split():
            assert _exists_group(group) or ["groupadd", "--system", group] in commands(lines)


def test_the_virtual_environment_sees_the_system_picamera2_and_gets_the_pi_extra() -> None:
    lines = plan()
    venv = one(service("aquastand-edge.service"), "ExecStart").split()[0].rsplit("/bin/", 1)[0]

    if not Path(venv).exists():
        assert ["python3", "-m", "venv", "--system-site-packages", venv] in commands(lines)
    pip = find(lines, f"{venv}/bin/python", "-m", "pip", "install")
    assert pip[0][-1] == f"{ROOT}[pi]"
    assert pip[1][-1] == str(ROOT) and "--force-reinstall" in pip[1]  # an upgrade replaces code


def test_the_configuration_is_written_when_absent(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    lines = plan("--config-dir", str(config_dir))

    [written] = [command for command in find(lines, "install") if command[-1].endswith("edge.toml")]
    assert written == [
        "install", "-m", "0640", "-o", "root", "-g", "aquastand",
        str(TEMPLATE), str(config_dir / "edge.toml"),
    ]  # fmt: skip
    assert any(line.startswith(f"+ write {config_dir}/kiosk.env") for line in lines)
    assert not config_dir.exists()  # a dry run changes nothing


def test_an_operators_configuration_is_never_overwritten(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "edge.toml").write_text('nfc_device = "tty:AMA0:pn532"\n')
    (config_dir / "kiosk.env").write_text("CHROMIUM=/usr/local/bin/chromium\n")

    lines = plan("--config-dir", str(config_dir))

    planned = " ".join(line for line in lines if line.startswith("+ "))
    assert "edge.toml" not in planned and "kiosk.env" not in planned
    assert any(line.startswith(f"# keeping {config_dir}/edge.toml") for line in lines)
    assert (config_dir / "edge.toml").read_text() == 'nfc_device = "tty:AMA0:pn532"\n'


def test_the_units_the_journald_limits_and_the_pam_service_are_installed_and_enabled() -> None:
    lines = plan()
    installed = {
        command[-1]: command[-2]
        for command in find(lines, "install", "-m", "0644")
        if command[-2].startswith(str(ROOT))
    }

    for unit in UNITS[:2]:  # the stand's; the central unit is for the central host
        assert installed[f"/etc/systemd/system/{unit}"] == str(SYSTEMD_DIR / unit)
    assert installed["/etc/systemd/journald.conf.d/aquastand.conf"] == str(
        SYSTEMD_DIR / "journald-aquastand.conf"
    )
    assert installed["/etc/pam.d/aquastand-kiosk"] == str(SYSTEMD_DIR / "aquastand-kiosk.pam")
    assert one(service("aquastand-kiosk.service"), "PAMName") == "aquastand-kiosk"
    for source in installed.values():
        assert Path(source).is_file(), source
    order = [" ".join(command[:2]) for command in commands(lines) if command[0] == "systemctl"]
    assert order[:3] == ["systemctl daemon-reload", "systemctl restart", "systemctl enable"]
    assert ["systemctl", "enable", "aquastand-edge.service", "aquastand-kiosk.service"] in (
        commands(lines)
    )


def test_the_plan_points_where_the_units_look() -> None:
    """The data and configuration paths the plan uses are the ones the stand unit reads."""
    unit = service("aquastand-edge.service")
    env = dict(value.split("=", 1) for value in unit["Environment"])
    lines = plan()

    assert ["install", "-d", "-o", "aquastand", "-g", "aquastand", "-m", "0750",
            env["AQUASTAND_DATA_DIR"]] in commands(lines)  # fmt: skip
    assert any(command[-1] == env["AQUASTAND_EDGE_CONFIG"] for command in find(lines, "install"))


@pytest.mark.parametrize("bad", [["--browser", "chromium-browser"], ["--frobnicate"]])
def test_a_bad_option_is_refused_before_anything_runs(bad: list[str]) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *bad], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "install-stand:" in result.stderr
    assert "+ " not in result.stdout


def test_the_written_configuration_is_valid_and_documents_the_defaults(tmp_path: Path) -> None:
    config = load_config(TEMPLATE, environ={"AQUASTAND_DATA_DIR": str(tmp_path)})
    defaults = EdgeConfig(data_dir=tmp_path)
    assert config == defaults  # it sets only what the defaults already say

    # Every commented setting, uncommented, is a real setting shown with its default value.
    commented = re.findall(r"^# ([a-z_]+ = .+)$", TEMPLATE.read_text(), re.MULTILINE)
    assert len(commented) >= 15
    uncommented = tmp_path / "all.toml"
    uncommented.write_text("\n".join(commented) + "\n")
    assert load_config(uncommented, environ={"AQUASTAND_DATA_DIR": str(tmp_path)}) == defaults
    documented = {line.split(" = ")[0] for line in commented}
    documented |= set(re.findall(r"^([a-z_]+) = ", TEMPLATE.read_text(), re.MULTILINE))
    assert documented == {f.name for f in dataclasses.fields(EdgeConfig)} - {"data_dir"}


def test_every_usb_reader_nfcpy_knows_is_opened_to_the_stand_and_kept_from_the_kernel() -> None:
    rules = (SYSTEMD_DIR / "70-aquastand-nfc.rules").read_text()
    for vendor, product in usb_device_map:
        rule = (
            f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vendor:04x}", '
            f'ATTRS{{idProduct}}=="{product:04x}", GROUP="plugdev", MODE="0660"'
        )
        assert rule in rules.splitlines()
    assert "plugdev" in one(service("aquastand-edge.service"), "SupplementaryGroups").split()
    blacklisted = (SYSTEMD_DIR / "aquastand-nfc-blacklist.conf").read_text().split()
    assert {"pn533_usb", "port100"} <= set(blacklisted)
    lines = plan()
    installed = {command[-1]: command[-2] for command in find(lines, "install", "-m", "0644")}
    assert installed["/etc/udev/rules.d/70-aquastand-nfc.rules"].endswith("70-aquastand-nfc.rules")
    assert installed["/etc/modprobe.d/aquastand-nfc.conf"].endswith("aquastand-nfc-blacklist.conf")


def test_the_pi_extra_pins_a_gpiozero_that_finds_a_pi_5s_chip() -> None:
    """The system's gpiozero 2.0.1 hard-codes gpiochip4 on a Pi 5; the venv gets a newer one."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "gpiozero>=2.0.1.post3" in project["optional-dependencies"]["pi"]


def test_an_older_installers_chromium_browser_is_replaced(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "kiosk.env").write_text("CHROMIUM=/usr/bin/chromium-browser\n")

    lines = plan("--config-dir", str(config_dir))

    assert any(
        line.startswith(f"+ write {config_dir}/kiosk.env")
        and line.endswith("CHROMIUM=/usr/bin/chromium")
        for line in lines
    )


def raspi_config(tmp_path: Path, serial_hw: int, serial_cons: int) -> dict[str, str]:
    """A raspi-config stand-in answering ``get_serial_hw``/``get_serial_cons`` (0: on), which
    fails if asked to change anything (a dry run must not)."""
    stub = tmp_path / "raspi-config"
    stub.write_text(
        "#!/bin/sh\n"
        f'case "$2" in get_serial_hw) echo {serial_hw};; get_serial_cons) echo {serial_cons};;\n'
        '*) echo unexpected "$*" >&2; exit 3;; esac\n'
    )
    stub.chmod(0o755)
    return {"RASPI_CONFIG": str(stub)}


def test_uart_turns_the_port_on_and_its_console_off_and_asks_for_a_reboot(tmp_path: Path) -> None:
    env = raspi_config(tmp_path, serial_hw=1, serial_cons=0)

    lines = plan("--uart", "--config-dir", str(tmp_path / "etc"), env=env)

    stub = env["RASPI_CONFIG"]
    assert [stub, "nonint", "do_serial_hw", "0"] in commands(lines)
    assert [stub, "nonint", "do_serial_cons", "1"] in commands(lines)
    assert "reboot required" in lines[-1]
    assert "the UART turned on" in lines[-1] and "the serial console turned off" in lines[-1]
    assert any('nfc_device = "tty:' in line for line in lines)


def test_uart_already_set_up_changes_nothing_there(tmp_path: Path) -> None:
    env = raspi_config(tmp_path, serial_hw=0, serial_cons=1)

    lines = plan("--uart", "--config-dir", str(tmp_path / "etc"), env=env)

    assert not find(lines, env["RASPI_CONFIG"])
    assert "UART" not in lines[-1] and "serial console" not in lines[-1]


def test_without_uart_raspi_config_is_not_touched(tmp_path: Path) -> None:
    env = raspi_config(tmp_path, serial_hw=1, serial_cons=0)
    lines = plan("--config-dir", str(tmp_path / "etc"), env=env)
    assert not find(lines, env["RASPI_CONFIG"])


def test_uart_without_raspi_config_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--uart"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "RASPI_CONFIG": str(tmp_path / "none")},
    )
    assert result.returncode == 1
    assert "--uart needs raspi-config" in result.stderr
    assert "+ " not in result.stdout


def test_new_kernel_driver_settings_ask_for_a_reboot() -> None:
    lines = plan()
    installed = Path("/etc/modprobe.d/aquastand-nfc.conf")
    same = (
        installed.exists()
        and installed.read_bytes() == (SYSTEMD_DIR / "aquastand-nfc-blacklist.conf").read_bytes()
    )
    assert ("NFC drivers" in lines[-1]) is not same
    assert ("reboot required" in lines[-1]) is not same


def test_the_installer_passes_shellcheck() -> None:
    need(shutil.which("shellcheck") is not None, "shellcheck")
    result = subprocess.run(
        ["shellcheck", str(SCRIPT), str(ROOT / "scripts" / "system-deps.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout

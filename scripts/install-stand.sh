#!/usr/bin/env bash
# Install Aquastand on a stand, or upgrade it: Raspberry Pi OS Bookworm or Trixie (Lite), run
# as root from a checkout of the project:
#
#   sudo scripts/install-stand.sh [--dry-run] [--no-kiosk] [--uart]
#
# Installs the Debian packages, creates the users `aquastand` (the stand process) and
# `aquastand-kiosk` (the touchscreen browser), a virtual environment in /opt/aquastand/venv
# that sees the system's picamera2 and lgpio, installs this checkout into it with the `pi`
# extra, writes /etc/aquastand/edge.toml if there is none (an existing one is never touched),
# installs the units, the kiosk's PAM service and the journald limits, enables the units and
# (re)starts them. Safe to run again: an upgrade is the same command from a newer checkout.
# --uart also turns the GPIO UART on and its login console off (raspi-config nonint), for a
# PN532 board on GPIO 14/15. --dry-run prints each command of the plan (prefixed with "+") and
# changes nothing. The last line says "reboot required" (and why) when the UART or the kernel's
# drivers changed: they take effect at the next boot.
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=/opt/aquastand
VENV="$PREFIX/venv"
CONFIG_DIR=/etc/aquastand
DATA_DIR=/var/lib/aquastand
UNIT_DIR=/etc/systemd/system
STAND_USER=aquastand
KIOSK_USER=aquastand-kiosk
# Raspberry Pi OS's names: GPIO, camera, serial (PN532 on the UART), USB; display, touch.
STAND_GROUPS=(gpio video dialout plugdev)
KIOSK_GROUPS=(video render input)
PACKAGES=(python3 python3-venv python3-pip python3-picamera2 python3-lgpio libzbar0
    libusb-1.0-0 curl)
# The kiosk: cage exits at once without Xwayland (which it does not depend on); Chromium is
# `chromium` (`chromium-browser` is a transitional package since 2024, gone from Trixie).
KIOSK_PACKAGES=(cage xwayland chromium)
BROWSER=/usr/bin/chromium
RASPI_CONFIG="${RASPI_CONFIG:-raspi-config}"

DRY_RUN=0
KIOSK=1
UART=0
REBOOT_BECAUSE=()

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --no-kiosk) KIOSK=0 ;;
        --uart) UART=1 ;;
        --config-dir)  # another configuration directory (tests; the units read /etc/aquastand)
            [ $# -ge 2 ] || { echo "install-stand: --config-dir needs a directory" >&2; exit 2; }
            CONFIG_DIR="$2"
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install-stand: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# Each step is printed, then run unless this is a dry run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

note() {
    printf '# %s\n' "$*"
}

# write FILE MODE OWNER:GROUP TEXT: a small file, replaced whole.
write() {
    local path="$1" mode="$2" owner="$3" text="$4"
    printf '+ write %q (mode %s, %s): %q\n' "$path" "$mode" "$owner" "$text"
    if [ "$DRY_RUN" -eq 0 ]; then
        printf '%s\n' "$text" >"$path.new"
        chown "$owner" "$path.new"
        chmod "$mode" "$path.new"
        mv -f "$path.new" "$path"
    fi
}

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "install-stand: run it as root (sudo), or with --dry-run to see the plan" >&2
    exit 1
fi
if [ -r /etc/os-release ] && ! grep -qE '^VERSION_CODENAME=(bookworm|trixie)$' /etc/os-release; then
    # shellcheck source=/dev/null
    note "warning: made for Raspberry Pi OS Bookworm or Trixie; this system is $(. /etc/os-release && echo "${PRETTY_NAME:-unknown}")"
fi
if [ "$UART" -eq 1 ] && ! command -v "$RASPI_CONFIG" >/dev/null; then
    echo "install-stand: --uart needs raspi-config (Raspberry Pi OS)" >&2
    exit 1
fi

note "Aquastand stand from $SOURCE into $VENV"

# --- Debian packages ----------------------------------------------------------------------
packages=("${PACKAGES[@]}")
if [ "$KIOSK" -eq 1 ]; then
    packages+=("${KIOSK_PACKAGES[@]}")
fi
run apt-get update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"

# --- users and groups -----------------------------------------------------------------------
ensure_group() {
    if getent group "$1" >/dev/null; then
        note "group $1 exists"
    else
        run groupadd --system "$1"
    fi
}

ensure_user() {
    local name="$1" home="$2"
    if id -u "$name" >/dev/null 2>&1; then
        note "user $name exists"
    else
        run useradd --system --user-group --home-dir "$home" --no-create-home \
            --shell /usr/sbin/nologin --comment "Aquastand ($name)" "$name"
    fi
}

for group in "${STAND_GROUPS[@]}"; do ensure_group "$group"; done
ensure_user "$STAND_USER" "$DATA_DIR"
# The unit's StateDirectory= makes it too, but `aquastand-edge enrol` writes there first.
run install -d -o "$STAND_USER" -g "$STAND_USER" -m 0750 "$DATA_DIR"
if [ "$KIOSK" -eq 1 ]; then
    for group in "${KIOSK_GROUPS[@]}"; do
        [[ " ${STAND_GROUPS[*]} " == *" $group "* ]] || ensure_group "$group"
    done
    ensure_user "$KIOSK_USER" "/var/lib/$KIOSK_USER"
fi

# --- the program ----------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ]; then
    note "virtual environment $VENV exists: upgrading in place"
else
    run install -d -m 0755 "$PREFIX"
    # The system's site packages: picamera2 and lgpio come from Raspberry Pi OS, not pip.
    run python3 -m venv --system-site-packages "$VENV"
fi
# The `pi` extra also pins gpiozero>=2.0.1.post3 into the venv over the system's 2.0.1, which
# hard-codes gpiochip4 on a Pi 5 (the lights would not start on current kernels).
run "$VENV/bin/python" -m pip install --no-cache-dir "${SOURCE}[pi]"
# Same version number, newer code: make sure the checkout's code replaces the installed one.
run "$VENV/bin/python" -m pip install --no-cache-dir --no-deps --force-reinstall "$SOURCE"

# --- configuration ------------------------------------------------------------------------
run install -d -m 0755 "$CONFIG_DIR"
if [ -e "$CONFIG_DIR/edge.toml" ]; then
    note "keeping $CONFIG_DIR/edge.toml: an operator's configuration is never overwritten" \
        "(new settings are described in $SOURCE/scripts/edge.toml)"
else
    run install -m 0640 -o root -g "$STAND_USER" "$SOURCE/scripts/edge.toml" "$CONFIG_DIR/edge.toml"
fi
if [ "$KIOSK" -eq 1 ]; then
    if [ -e "$CONFIG_DIR/kiosk.env" ] && ! grep -q 'chromium-browser' "$CONFIG_DIR/kiosk.env"; then
        note "keeping $CONFIG_DIR/kiosk.env"
    else
        # Written when absent, and over an older installer's chromium-browser (gone on Trixie).
        write "$CONFIG_DIR/kiosk.env" 0644 root:root "CHROMIUM=$BROWSER"
    fi
fi

# --- units, PAM, journald -------------------------------------------------------------------
units=(aquastand-edge.service)
run install -m 0644 "$SOURCE/systemd/aquastand-edge.service" "$UNIT_DIR/aquastand-edge.service"
if [ "$KIOSK" -eq 1 ]; then
    units+=(aquastand-kiosk.service)
    run install -m 0644 "$SOURCE/systemd/aquastand-kiosk.service" \
        "$UNIT_DIR/aquastand-kiosk.service"
    run install -m 0644 "$SOURCE/systemd/aquastand-kiosk.pam" /etc/pam.d/aquastand-kiosk
fi
# USB readers: group plugdev may open them; the kernel's NFC drivers must not claim them.
run install -m 0644 "$SOURCE/systemd/70-aquastand-nfc.rules" /etc/udev/rules.d/70-aquastand-nfc.rules
if cmp -s "$SOURCE/systemd/aquastand-nfc-blacklist.conf" /etc/modprobe.d/aquastand-nfc.conf; then
    note "/etc/modprobe.d/aquastand-nfc.conf is up to date"
else
    run install -m 0644 "$SOURCE/systemd/aquastand-nfc-blacklist.conf" /etc/modprobe.d/aquastand-nfc.conf
    REBOOT_BECAUSE+=("the kernel's NFC drivers are kept off USB readers")
fi
run udevadm control --reload
run udevadm trigger --subsystem-match=usb --action=add
run install -d -m 0755 /etc/systemd/journald.conf.d
run install -m 0644 "$SOURCE/systemd/journald-aquastand.conf" \
    /etc/systemd/journald.conf.d/aquastand.conf
# --- the GPIO UART (--uart) -----------------------------------------------------------------
# raspi-config's answers: get_serial_hw 0 = the UART is on; get_serial_cons 0 = a login
# console runs on it. Both changes take effect at the next boot.
if [ "$UART" -eq 1 ]; then
    if [ "$("$RASPI_CONFIG" nonint get_serial_hw)" = 0 ]; then
        note "the UART is on"
    else
        run "$RASPI_CONFIG" nonint do_serial_hw 0
        REBOOT_BECAUSE+=("the UART turned on")
    fi
    if [ "$("$RASPI_CONFIG" nonint get_serial_cons)" = 0 ]; then
        run "$RASPI_CONFIG" nonint do_serial_cons 1
        REBOOT_BECAUSE+=("the serial console turned off")
    else
        note "no login console on the UART"
    fi
    # Pi 3 and 4: the header's UART is the mini UART ttyS0 (Bluetooth keeps ttyAMA0), where
    # nfcpy stays at 115200; a Pi 5's is ttyAMA0 (nfcpy goes to 921600, hardware/pn532.py).
    if grep -qa 'Raspberry Pi 5' /proc/device-tree/model 2>/dev/null; then
        note "in $CONFIG_DIR/edge.toml: nfc_device = \"tty:AMA0:pn532\""
    else
        note "in $CONFIG_DIR/edge.toml: nfc_device = \"tty:S0:pn532\""
    fi
fi

run systemctl daemon-reload
run systemctl restart systemd-journald.service
run systemctl enable "${units[@]}"
# A stand not enrolled yet cannot run (it stops with status 78 and is not restarted).
if [ -e "$DATA_DIR/enrolment.json" ]; then
    run systemctl restart "${units[@]}"
else
    note "not starting yet: the stand is not enrolled. Provision it on the central host"
    note "  (aquastand-cloud provision-stand --site SITE --name STAND), then here:"
    note "  sudo -u $STAND_USER env AQUASTAND_DATA_DIR=$DATA_DIR AQUASTAND_EDGE_CONFIG=$CONFIG_DIR/edge.toml \\"
    note "    $VENV/bin/aquastand-edge enrol --central https://CENTRAL --code CODE"
    note "  sudo systemctl restart ${units[*]}"
fi
if [ "${#REBOOT_BECAUSE[@]}" -gt 0 ]; then
    reasons=$(printf '%s; ' "${REBOOT_BECAUSE[@]}")
    note "done: reboot required (${reasons%; }): sudo reboot"
else
    note "done"
fi

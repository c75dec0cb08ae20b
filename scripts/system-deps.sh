#!/usr/bin/env bash
# Make sure the Debian packages named on the command line are installed.
#
# Used by the Makefile: libzbar0 (pyzbar decodes QR codes with it) before the virtual
# environment is made; before the tests chromium (the browser tests drive Debian's Chromium),
# postgresql-client (pg_dump and pg_restore: `aquastand-cloud backup` and `restore`), curl (the
# kiosk unit's wait for the stand), systemd (systemd-analyze verifies the unit files) and gcc
# (the SD card stall test compiles an fsync shim, bench/fsyncstall.py), cage and xwayland (the
# kiosk unit run on wlroots' headless backend, tests/deploy/test_kiosk.py), shellcheck
# (the stand's installer) and nginx (the shipped site in front of two central instances,
# tests/deploy/test_nginx_front.py and test_instances.py: run as the test's user, never started
# as a service by the tests).
# Installs only what is missing, with sudo when not root; runs `apt-get update` only if the
# first install attempt fails (a fresh machine's package lists may be missing or stale).
set -euo pipefail

installed() {
    # Debian 13 renamed some libraries for 64-bit time (libzbar0 -> libzbar0t64).
    local name
    for name in "$1" "$1t64"; do
        if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed'; then
            return 0
        fi
    done
    return 1
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    echo "system-deps: not a Debian system; make sure these are installed: $*" >&2
    exit 0
fi

missing=()
for package in "$@"; do
    installed "$package" || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "system-deps: need root to install ${missing[*]}; run: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi
apt_install() {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}
# No package's service is started by its installation (nginx's would take port 80): Debian's
# invoke-rc.d asks /usr/sbin/policy-rc.d, which is put there for the install if none is.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "system-deps: installing ${missing[*]}"
if ! apt_install; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    apt_install
fi

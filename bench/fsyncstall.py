"""An SD card stall on demand: an LD_PRELOAD shim that makes every ``fsync`` and ``fdatasync``
of a file under one directory sleep first, as a worn or busy SD card does under SQLite's
durable commits (WAL, synchronous=FULL).

The shim is C, compiled here with the system's ``cc`` (Debian package ``gcc``), and acts on a
process started with :func:`stalled_env`: it reads the fd's path from ``/proc/self/fd/N``, so
only files under ``FSYNC_STALL_DIR`` stall, by ``FSYNC_STALL_MS`` milliseconds each. Used by
``bench/tap_latency.py --fsync-stall`` and the stall test in ``tests/edge``.

    shim = build_shim(workdir)
    subprocess.run(command, env=stalled_env(shim, data_dir, seconds=1.5))
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

STALL_DIR_ENV = "FSYNC_STALL_DIR"  # the shim stalls the files under this directory
SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void stall(int fd) {
    const char *dir = getenv("FSYNC_STALL_DIR");
    const char *ms = getenv("FSYNC_STALL_MS");
    char link[64], path[PATH_MAX];
    if (dir == NULL || *dir == '\0' || ms == NULL) return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return;
    path[n] = '\0';
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || (path[len] != '/' && path[len] != '\0')) return;
    long millis = atol(ms);
    struct timespec pause = {millis / 1000, (millis % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0) {
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    stall(fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    stall(fd);
    return real(fd);
}
"""


def build_shim(directory: Path) -> Path:
    """Compile the shim into ``directory``; returns the shared library's path. Raises
    RuntimeError if there is no C compiler (install the Debian package ``gcc``)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("no C compiler (cc) to build the fsync stall shim: install gcc")
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "fsyncstall.c"
    library = directory / "libfsyncstall.so"
    source.write_text(SHIM_C)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        check=True,
    )
    return library


def stalled_env(
    shim: Path, under: Path, seconds: float, env: dict[str, str] | None = None
) -> dict[str, str]:
    """``env`` (default: this process's) for a child whose fsyncs of files under ``under``
    each sleep ``seconds`` first."""
    found = dict(os.environ if env is None else env)
    preload = found.get("LD_PRELOAD", "")
    found["LD_PRELOAD"] = f"{shim} {preload}".strip()
    found[STALL_DIR_ENV] = str(under.resolve())
    found["FSYNC_STALL_MS"] = str(round(seconds * 1000))
    return found

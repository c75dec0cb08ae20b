"""The stand on a Raspberry Pi 4's budget: one core, slowed to a Pi 4 core's speed.

Each measurement runs in a child process pinned to one CPU (``sched_setaffinity``, as
``taskset``) inside a cgroup whose CPU quota makes this machine about as fast as one core of
a Raspberry Pi 4 (Cortex-A72, 1.5 GHz): cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``
where that is what is mounted (``systemd-run --scope -p CPUQuota=`` needs systemd as the
init, which a container often lacks). Needs root (it makes the cgroup).

Calibration: the Benchmarks Game's n-body in pure Python (:func:`nbody`, the program of the
published figure). Published: 5,000,000 steps in 158.3 s on a Raspberry Pi 4 Model B at
1.5 GHz (performance governor), i.e. 31.7 µs per step
(https://chaitanyamehta.github.io/projects/performance-analysis-of-programming-languages;
its Python version is not stated, Raspberry Pi OS of the time had 3.7, slower than the 3.11
here and on Bookworm: the budget is, if anything, a slower Pi 4 than a current one). The
quota is the share of a core that brings n-body here closest to 31.7 µs per step, found by
bisection (six rounds; the measurement at the chosen share is printed). The wall clock
counts, so other work on this machine counts too: on a busy machine the share is larger. The period is 10 ms, so the throttling comes in slices
short beside a tap. Native code (zbar, SQLite) is checked, not calibrated: ``sysbench cpu
--threads=1`` (integer division finding primes up to 10,000; sysbench 1.0.20) runs under the
same quota, against the published Pi 4 figure of 1,477.83 events per second
(https://leoncode.co.uk/articles/raspberry-pi-benchmarks); the ratio is printed (above 1:
native code here is faster than on a Pi 4). No published Pi 4 zbar figure was at hand.

Then, under the budget:

- ``bench/tap_latency.py --taps 200 --sessions 100``: tap to "seen" blip (the first light)
  and to the verdict, p99;
- ``bench/qr_decode.py`` (whichever this branch has): ms per frame;
- the idle CPU of ``aquastand-edge run --simulate`` over 20 s (no card, no frame: the image
  directory camera sends none; a Pi camera at 10 frames/s adds 10 x the empty-frame decode).

    sudo .venv/bin/python bench/pi_budget.py [--steps 20000]

Last line: ``pi_budget quota=… tap_blip_p99_ms=… tap_verdict_p99_ms=… qr_ms_per_frame=…
idle_cpu_percent=… native_ratio=…`` (targets: tap p99 ≤ 20 ms, QR ≤ 40 ms/frame, idle ≤ 15 %).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PI4_US_PER_STEP = 158.3e6 / 5_000_000
PI4_SYSBENCH_EVENTS_S = 1477.83
PERIOD_US = 10_000
ROUNDS = 6
CGROUP_NAME = f"aquastand-pi-budget-{os.getpid()}"


def nbody(steps: int) -> float:
    """The Benchmarks Game's n-body (Python #1 program's loop), ``steps`` advances of 0.01."""
    pi, days = 3.14159265358979323, 365.24
    mass = 4 * pi * pi
    bodies = [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], mass],
        [[4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
         [1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days,
          -6.90460016972063023e-05 * days], 9.54791938424326609e-04 * mass],
        [[8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
         [-2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days,
          2.30417297573763929e-05 * days], 2.85885980666130812e-04 * mass],
        [[1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
         [2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days,
          -2.96589568540237556e-05 * days], 4.36624404335156298e-05 * mass],
        [[1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
         [2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days,
          -9.51592254519715870e-05 * days], 5.15138902046611451e-05 * mass],
    ]  # fmt: skip
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    dt = 0.01
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** (-1.5))
            b1m, b2m = m1 * mag, m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for r, [vx, vy, vz], _m in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    return bodies[0][0][0]


class CpuBudget:
    """A cgroup with a CPU quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), one CPU."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if v2.exists():
            if "cpu" not in v2.read_text().split():
                raise SystemExit("cgroup v2 without the cpu controller")
            Path("/sys/fs/cgroup/cgroup.subtree_control").write_text("+cpu")
            self.path, self.version = Path("/sys/fs/cgroup") / CGROUP_NAME, 2
        elif Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists():
            self.path, self.version = Path("/sys/fs/cgroup/cpu") / CGROUP_NAME, 1
        else:
            raise SystemExit("no cgroup cpu controller here")
        self.path.mkdir()
        self.share = 1.0

    def set_share(self, share: float) -> None:
        self.share = share
        quota = max(1000, int(PERIOD_US * share))
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))

    def enter(self) -> None:
        """Run in a child before exec: into the cgroup, onto the CPU."""
        procs = "cgroup.procs" if self.version == 2 else "tasks"
        (self.path / procs).write_text(str(os.getpid()))
        os.sched_setaffinity(0, {self.cpu})

    def close(self) -> None:
        self.path.rmdir()


def run(budget: CpuBudget, command: list[str], timeout: float) -> str:
    result = subprocess.run(
        command,
        preexec_fn=budget.enter,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=BENCH.parent,
    )
    if result.returncode != 0:
        raise SystemExit(f"{command[1]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def us_per_step(budget: CpuBudget, steps: int) -> float:
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from pi_budget import nbody; "
        "t = time.perf_counter(); nbody(int(sys.argv[2])); print(time.perf_counter() - t)"
    )
    out = run(budget, [sys.executable, "-c", code, str(BENCH), str(steps)], 600)
    return float(out.strip()) * 1e6 / steps


def calibrate(budget: CpuBudget, steps: int) -> tuple[float, float]:
    """Bisect the share of a core at which n-body takes a Pi 4's time per step. Bisection,
    not proportion: while other work already holds this process below a quota, the quota
    changes nothing, so the time is not inversely proportional to it."""
    budget.set_share(1.0)
    here = us_per_step(budget, steps)
    if here >= PI4_US_PER_STEP:
        return here, here  # already as slow as a Pi 4 core, or slower: no quota
    low, high = 0.05, 1.0
    best = (abs(here - PI4_US_PER_STEP), 1.0, here)
    for _ in range(ROUNDS):
        share = (low + high) / 2
        budget.set_share(share)
        measured = us_per_step(budget, steps)
        best = min(best, (abs(measured - PI4_US_PER_STEP), share, measured))
        if measured > PI4_US_PER_STEP:
            low = share  # too slow: more of the core
        else:
            high = share
    _gap, share, measured = best
    budget.set_share(share)
    return here, measured


def native_ratio(budget: CpuBudget) -> float | None:
    """sysbench's single-thread CPU events per second under the budget / a Pi 4's."""
    sysbench = shutil.which("sysbench")
    if sysbench is None:
        return None
    out = run(budget, [sysbench, "cpu", "--threads=1", "--time=5", "run"], 60)
    events = float(re.search(r"events per second:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return events / PI4_SYSBENCH_EVENTS_S


def figures(output: str, prefix: str) -> dict[str, str]:
    """The ``key=value`` pairs of the line starting with ``prefix``."""
    [line] = [line for line in output.splitlines() if line.startswith(prefix + " ")]
    return dict(re.findall(r"(\w+)=([^\s]+)", line))


def idle_cpu(budget: CpuBudget, seconds: float) -> float:
    """Percent of the budget (a Pi 4 core) ``aquastand-edge run --simulate`` uses while
    nothing happens: its CPU seconds here, divided by the share of this CPU the quota gives."""
    sys.path.insert(0, str(BENCH))
    from tap_latency import CARDS, SITE_ID, STAND_ID, config_for, directory

    from edge.store import Store
    from sync.directory import validate_directory

    with tempfile.TemporaryDirectory(prefix="aquastand-idle-") as tmp:
        config = config_for(Path(tmp) / "stand")
        store = Store(config.database_path)
        from datetime import UTC, datetime

        store.load_directory(validate_directory(directory(CARDS)), datetime.now(UTC))
        store.close()
        env = {key: value for key, value in os.environ.items() if not key.startswith("AQUASTAND")}
        env.update(
            AQUASTAND_DATA_DIR=str(config.data_dir),
            AQUASTAND_EDGE_STAND_ID=str(STAND_ID),
            AQUASTAND_EDGE_SITE_ID=str(SITE_ID),
            AQUASTAND_EDGE_PORT=str(config.port),
            AQUASTAND_NFC_DEVICE=config.nfc_device,
            PYTHONUNBUFFERED="1",
        )
        command = [str(Path(sys.executable).parent / "aquastand-edge"), "run", "--simulate"]
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, text=True, preexec_fn=budget.enter
        ) as stand:
            try:
                assert stand.stdout is not None
                for line in stand.stdout:
                    if line.startswith("ready"):
                        break
                time.sleep(2.0)  # settle after start
                before, started = cpu_seconds(stand.pid), time.monotonic()
                time.sleep(seconds)
                used = cpu_seconds(stand.pid) - before
                return 100 * used / ((time.monotonic() - started) * budget.share)
            finally:
                stand.send_signal(signal.SIGTERM)
                stand.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="n-body steps to calibrate")
    parser.add_argument("--idle-s", type=float, default=20.0, help="idle CPU measured this long")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it makes a cgroup")
    budget = CpuBudget(args.cpu)
    try:
        here, pi = calibrate(budget, args.steps)
        print(f"n-body: {here:.1f} µs/step on one CPU here, {pi:.1f} under a quota of "
              f"{budget.share:.2f} of it (Pi 4 published: {PI4_US_PER_STEP:.1f})")  # fmt: skip
        native = native_ratio(budget)
        print("sysbench cpu under the quota / a Pi 4's: " +
              ("not installed" if native is None else f"{native:.2f}"))  # fmt: skip
        python = sys.executable
        tap_command = [python, "bench/tap_latency.py", "--taps", "200", "--sessions", "100"]
        tap = figures(run(budget, tap_command, 900), "tap_latency")
        qr = figures(run(budget, [python, "bench/qr_decode.py"], 1800), "qr_decode")
        idle = idle_cpu(budget, args.idle_s)
    finally:
        budget.close()
    targets: dict[str, tuple[float, float]] = {
        "tap → first light (blip) p99 ms": (float(tap["blip_p99_ms"]), 20.0),
        "tap → verdict p99 ms": (float(tap["p99_ms"]), 20.0),
        "QR ms per frame": (float(qr["ms_per_frame"]), 40.0),
        "idle CPU % of a Pi 4 core": (idle, 15.0),
    }
    for name, (value, target) in targets.items():
        verdict = "meets" if value <= target else "MISSES"
        print(f"  {name:<34} {value:8.2f}  target ≤ {target:g}: {verdict}")
    print(f"  qr_decode's figures: {' '.join(f'{k}={v}' for k, v in qr.items())}")
    print(
        f"pi_budget quota={budget.share:.3f} tap_blip_p99_ms={tap['blip_p99_ms']} "
        f"tap_verdict_p99_ms={tap['p99_ms']} qr_ms_per_frame={qr['ms_per_frame']} "
        f"idle_cpu_percent={idle:.1f} native_ratio="
        f"{'none' if native is None else f'{native:.2f}'}"
    )


if __name__ == "__main__":
    main()

"""Several ``aquastand-cloud serve`` instances behind nginx, as the central host runs them, on
loopback ports, for the tests (tests/deploy/test_nginx_front.py) and bench/fleet_nginx.py.

nginx runs the shipped site file, ``systemd/nginx-aquastand.conf``, with only what must differ
on a test machine replaced (``render_site``): the instances' ports (one ``server`` line per
instance, with the shipped line's parameters), the listening ports on 127.0.0.1, a self-signed
certificate and the cache directory. It runs as the caller, in the foreground, with its files
in a temporary directory; nothing needs root.

    with Instances(url, data_dir, count=2) as instances, NginxFront(instances.ports, tmp) as front:
        requests.get(front.url + "/login", verify=front.ca_file)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SITE_FILE = Path(__file__).resolve().parent.parent / "systemd" / "nginx-aquastand.conf"
HOST_NAME = "aquastand.example.ru"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_S = 60.0

# The access log names the instance each request went to and what it answered, so a test can
# see the balancing and the retries.
_MAIN_CONF = """\
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format upstreams '$request_method $uri $status up=$upstream_addr st=$upstream_status '
                         'cache=$upstream_cache_status';
    access_log {prefix}/access.log upstreams;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_site(
    text: str,
    instances: list[int],
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    cache_dir: Path,
) -> str:
    """The shipped site file for loopback: the upstream's ``server`` lines replaced by one per
    instance port (the first line's parameters kept), listening on 127.0.0.1 only, the test's
    certificate and cache directory. Fails if the file no longer has what it replaces."""
    servers = re.findall(r"^( *server 127\.0\.0\.1:)\d+( [^;]*)?;\n", text, flags=re.M)
    if not servers:
        raise ValueError("the site file has no upstream server lines")
    indent, params = servers[0]
    lines = "".join(f"{indent}{port}{params};\n" for port in instances)
    text, _count = re.subn(r"(^ *server 127\.0\.0\.1:\d+[^;]*;\n)+", lines, text, flags=re.M)
    replacements = [
        (r"^ *listen \[::\]:\d+[^;]*;\n", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
        (r"ssl_certificate +/\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key +/\S+;", f"ssl_certificate_key {key};"),
        (r"proxy_cache_path +/\S+ ", f"proxy_cache_path {cache_dir} "),
    ]
    for pattern, new in replacements:
        text, found = re.subn(pattern, new, text, flags=re.M)
        if not found:
            raise ValueError(f"the site file has nothing matching {pattern!r}")
    return text


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``HOST_NAME`` and 127.0.0.1 and its key (P-256), written there."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAME)])
    now = dt.datetime.now(dt.UTC)
    names = [
        x509.DNSName(HOST_NAME),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class NginxFront:
    """nginx with the shipped site in front of the instances on ``ports``: ``url`` is its
    HTTPS address (``ca_file`` verifies it), ``http_url`` the plain one that redirects."""

    def __init__(self, ports: list[int], directory: Path) -> None:
        self.prefix = directory
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.http_port, self.https_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.http_url = f"http://127.0.0.1:{self.http_port}"
        cert, key = self_signed(self.prefix)
        self.ca_file = str(cert)
        site = render_site(
            SITE_FILE.read_text(),
            ports,
            self.http_port,
            self.https_port,
            cert,
            key,
            self.prefix / "cache",
        )
        (self.prefix / "site.conf").write_text(site)
        # As root, nginx's workers would become "nobody", who cannot write the cache here.
        user = "user root;" if os.geteuid() == 0 else ""
        main = _MAIN_CONF.format(user=user, prefix=self.prefix, site=self.prefix / "site.conf")
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(main)
        self._process: subprocess.Popen[bytes] | None = None

    def _nginx(self, *args: str) -> list[str]:
        return [
            NGINX,
            "-e",
            str(self.prefix / "error.log"),
            "-p",
            str(self.prefix),
            "-c",
            str(self.conf),
            *args,
        ]

    def check(self) -> None:
        """``nginx -t`` on the configuration: raises with nginx's message if it refuses it."""
        done = subprocess.run(self._nginx("-t"), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)

    def start(self) -> None:
        self.check()
        self._process = subprocess.Popen(self._nginx("-g", "daemon off;"))
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen: {self.error_log()}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGQUIT)  # graceful: workers finish their requests
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None

    def access_lines(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""

    def __enter__(self) -> NginxFront:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Instance:
    """One ``aquastand-cloud serve`` (gunicorn, its master and workers in a process group of
    their own, so that ``kill`` takes the whole instance down as a crash of its host would)."""

    def __init__(
        self, url: str, data_dir: Path, workers: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        command = shutil.which("aquastand-cloud", path=str(Path(sys.executable).parent))
        if command is None:
            raise RuntimeError("aquastand-cloud is not installed in this environment")
        self.log = (data_dir.parent / f"instance-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [
                command,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env={
                **os.environ,
                **(env or {}),
                "AQUASTAND_DATABASE_URL": url,
                "AQUASTAND_DATA_DIR": str(data_dir),
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"instance on {self.port} exited: {self.process.returncode}")
            try:
                requests.get(f"http://127.0.0.1:{self.port}/login", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"instance on {self.port} did not answer within {START_S:g} s")

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):  # a worker left behind, if any
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Instances:
    """``count`` instances on one database (its schema made already) and one data directory
    (the same secret and QR keys, as several instances must have)."""

    def __init__(self, url: str, data_dir: Path, count: int = 2, workers: int = 2) -> None:
        self.members = [Instance(url, data_dir, workers) for _ in range(count)]
        self.ports = [member.port for member in self.members]

    def __enter__(self) -> Instances:
        try:
            for member in self.members:
                member.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for member in self.members:
            member.stop()


def upstream_counts(lines: list[str]) -> dict[str, int]:
    """How many access-log lines went to each instance address (a retried request names
    each instance it tried, ``a, b``: counted under both)."""
    counts: dict[str, int] = {}
    for line in lines:
        found = re.search(r" up=(\S+(?:, \S+)*) st=", line)
        if not found:
            continue
        for address in found[1].split(", "):
            if address == "-":  # answered by nginx itself (a redirect, a cached page)
                continue
            counts[address] = counts.get(address, 0) + 1
    return counts

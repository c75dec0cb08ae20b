"""The central service's configuration: one dataclass, loaded from a TOML file and the environment.

Precedence: defaults < TOML file (``AQUASTAND_CONFIG`` or ``<data dir>/cloud.toml``) < environment.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from sync.privatefiles import make_private_dir, make_private_file

ENV_PREFIX = "AQUASTAND_"
DEFAULT_API_TOKEN_DAYS = 90


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aquastand"


@dataclass
class CloudConfig:
    """Settings of the central service. Every field can be set as ``AQUASTAND_<NAME>``."""

    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""  # empty: sqlite:///<data_dir>/aquastand.sqlite3
    secret_key: str = ""  # empty: generated once and kept in <data_dir>/secret_key
    timezone: str = "Europe/Moscow"
    default_locale: str = "ru"
    # Log-in throttling (cloud/staff/auth.py): failures allowed before delays start, for an
    # account from one address or one known browser, an account from anywhere, an address;
    # the first delay (doubled at each further failure, at most the maximum); how long a quiet
    # key takes to be forgotten.
    login_free_failures: int = 5
    login_free_failures_per_account: int = 20
    login_free_failures_per_address: int = 20
    login_delay_seconds: int = 30
    login_max_delay_seconds: int = 900
    login_forget_hours: int = 24
    api_token_days: int = DEFAULT_API_TOKEN_DAYS  # an API token works this long after issue
    max_request_bytes: int = 2 * 1024 * 1024
    trusted_proxy_count: int = 0  # >0 only behind a reverse proxy that sets X-Forwarded-For
    # Cookies only over HTTPS; on by itself behind a proxy (trusted_proxy_count > 0).
    secure_cookies: bool = False
    # A log-in session ends after this long without a request, and this long after log-in.
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    page_size: int = 50
    # A central top-up above this asks the person taking it to confirm the amount (0: never).
    topup_confirm_kopecks: int = 1_000_000  # 10 000 ₽
    # An open session longer than this is highlighted on the dashboard (a forgotten one).
    long_session_minutes: int = 120
    # A stand silent (no heartbeat, no sync) this long counts as dead: its open sessions may be
    # force-closed centrally (cloud/sessions/forceclose.py); a live stand ends its own.
    force_close_silent_minutes: int = 30
    # A start_session command the stand has not carried out within this long is dropped (the
    # client has gone): it is never sent again and shows as expired.
    start_command_minutes: int = 5
    # Sync protocol 2's open window (cloud/standsync/windows.py): a process answers a stand
    # that says where it is with the tail it built less than this long ago, instead of one
    # per poll. 0: every poll sees every change before it. A large chain sets it (250 from
    # about 2,000 stands, docs/deploy-central.md): a change then reaches a stand no later
    # than the poll that starts this long after it.
    directory_tail_reuse_ms: int = 0
    # Where clients reach the service, e.g. "https://wash.example.ru": links in messages to
    # clients (the unsubscribe link every mailing carries) start with it.
    public_url: str = ""
    # Mailings (cloud/marketing/mailings.py) go through this SMTP server; no host: mailings are off.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""  # empty: no log-in
    smtp_password: str = ""
    smtp_sender: str = ""  # the From address, e.g. "Аквастенд <news@example.ru>"
    smtp_security: str = "starttls"  # starttls, ssl (implicit TLS, port 465) or none
    smtp_timeout: int = 30  # seconds per SMTP operation
    # SMS (cloud/notify/sms.py): "file" appends each message to sms_file (default
    # sms-outbox.jsonl in the data directory) for the demo and tests; "smsru" sends through
    # SMS.ru with the account's api_id as sms_api_key (sms_api_url empty: SMS.ru's own) and an
    # approved sender name, if any.
    sms_backend: str = "file"
    sms_file: str = ""
    sms_api_key: str = ""
    sms_api_url: str = ""
    sms_sender_name: str = ""
    # The client cabinet (cloud/cabinet/): log-in codes sent per phone and per address within
    # an hour; how long a cabinet session lasts unused (days); the version of the
    # personal-data consent text (152-FZ) a client agrees to when joining.
    cabinet_codes_per_phone: int = 5
    cabinet_codes_per_address: int = 20
    cabinet_session_days: int = 180
    cabinet_consent_version: str = "2026-01"
    # Bonus points (cloud/loyalty/bonus.py): what a point is worth, the welcome bonus of a new member,
    # the accrual (a percentage of top-ups or of session charges, "topup" or "charge") and
    # how many days unspent points live (0: they never expire).
    points_value_kopecks: int = 100
    points_welcome: int = 0
    points_accrual_percent: int = 0
    points_accrual_on: str = "topup"
    points_expiry_days: int = 365
    # What a stand's token may credit (cloud/standsync/ingest/): a top-up above either ceiling is
    # stored but held for review (the "Held top-ups" page) instead of credited; 0: no ceiling.
    # Per top-up, and per stand per local day (``timezone``) of the top-ups' times.
    topup_ceiling_kopecks: int = 5_000_000  # 50 000 ₽
    topup_stand_day_ceiling_kopecks: int = 30_000_000  # 300 000 ₽
    # A stand event's time (after clock correction) older than this many days, or more than
    # five minutes ahead of its receipt, is replaced by the time of receipt and flagged.
    event_max_age_days: int = 35
    # Fiscal receipts, 54-FZ (cloud/fiscal/): "none" (no cloud register: no receipt is queued)
    # or "atol" (ATOL Online, API v5, at atol_url with its login, password and group code).
    fiscal_provider: str = "none"
    atol_url: str = "https://online.atol.ru/possystem/v5"
    atol_login: str = ""
    atol_password: str = ""
    atol_group_code: str = ""
    # The seller on every receipt: INN, tax system (osn, usn_income, usn_income_outcome, esn,
    # patent), VAT rate (none, vat0, vat5, vat7, vat10, vat20), where payments are taken, e-mail.
    fiscal_inn: str = ""
    fiscal_sno: str = "usn_income"
    fiscal_vat: str = "none"
    fiscal_payment_address: str = ""
    fiscal_email: str = ""
    # "advance": a top-up is an advance, a session charge gets a settlement receipt ("зачёт
    # аванса") and a charge given back its reversal; "prepayment": a top-up is a full
    # prepayment, charges get none.
    fiscal_scheme: str = "advance"
    # A receipt the register refuses is sent again (under a new external id) this many times
    # in all before it is marked failed for a person to look at.
    fiscal_max_refusals: int = 3
    # Online top-ups (cloud/payments/): the provider ("" off, "yookassa"), its shop and secret
    # key and API address; where the client comes back to (this service's public address, e.g.
    # https://wash.example.ru); the limits per payment and per client per local day, and the
    # amounts offered in the cabinet (kopecks, comma-separated).
    payments_provider: str = ""
    yookassa_shop_id: str = ""
    yookassa_secret_key: str = ""
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    payments_return_url_base: str = ""
    online_topup_min_kopecks: int = 10_000  # 100 ₽
    online_topup_max_kopecks: int = 1_500_000  # 15 000 ₽
    online_topup_day_max_kopecks: int = 3_000_000  # 30 000 ₽
    online_topup_presets: str = "50000,100000,200000,500000"
    # Alerts by e-mail to chosen staff (cloud/alerts/, ``aquastand-cloud check-alerts``, through
    # the smtp_* server): a stand silent longer than this many minutes is offline; a session
    # open longer than this many hours is an incident.
    alert_stand_offline_minutes: int = 15
    alert_session_hours: int = 12
    # Whether operators, administrators and the owner may log in at every site's stands (their
    # PIN hashes go to all of them) or, false, only at their own sites' stands, as attendants.
    manager_pins_at_every_site: bool = True

    @property
    def cookies_need_tls(self) -> bool:
        """Whether cookies get ``Secure``: asked for, or served behind a (TLS) proxy."""
        return self.secure_cookies or self.trusted_proxy_count > 0

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, if the database is one."""
        url = self.effective_database_url
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    @property
    def sqlite_default_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'aquastand.sqlite3'}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_default_url

    @property
    def qr_key_path(self) -> Path:
        return self.data_dir / "qr_signing_key.pem"


def _coerce(name: str, raw: object, current: object) -> object:
    if isinstance(current, bool):
        return str(raw).lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(str(raw))
    if isinstance(current, Path) or name == "data_dir":
        return Path(str(raw)).expanduser()
    return str(raw)


def load_config(
    path: Path | None = None, environ: dict[str, str] | None = None, **overrides: object
) -> CloudConfig:
    """Build the configuration; ``overrides`` (used by tests) win over everything."""
    env = os.environ if environ is None else environ
    config = CloudConfig()
    if "AQUASTAND_DATA_DIR" in env:
        config.data_dir = Path(env["AQUASTAND_DATA_DIR"]).expanduser()
    if "data_dir" in overrides:
        config.data_dir = Path(str(overrides["data_dir"]))
    toml_path = path or (Path(env["AQUASTAND_CONFIG"]) if "AQUASTAND_CONFIG" in env else None)
    toml_path = toml_path or config.data_dir / "cloud.toml"
    values: dict[str, object] = {}
    if toml_path.exists():
        with toml_path.open("rb") as fh:
            values.update(tomllib.load(fh))
    for f in fields(config):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update(overrides)
    known = {f.name for f in fields(config)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    for name, raw in values.items():
        setattr(config, name, _coerce(name, raw, getattr(config, name)))
    return config


def prepare_data_dir(config: CloudConfig) -> None:
    """The data directory (0700) and the SQLite database file (0600), when they are created,
    whatever the umask: they hold keys and password hashes."""
    make_private_dir(config.data_dir)
    if config.sqlite_path is not None:
        make_private_file(config.sqlite_path)


def keep_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The contents of ``path``, written owner-only (0600) from ``make()`` on first use; when
    two processes start at once, the one that loses the race reads the winner's file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(make())
    return path.read_bytes()


def ensure_secret_key(config: CloudConfig) -> str:
    """Return the Flask secret key, creating and keeping one (owner-only) on first use."""
    if config.secret_key:
        return config.secret_key
    made = keep_once(config.data_dir / "secret_key", lambda: secrets.token_hex(32).encode())
    return made.decode().strip()

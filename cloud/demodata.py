"""Demo data: a small chain of car washes that makes every page show something.

Two sites with three stands, two tariffs (one changed two weeks ago), staff of every role
with known passwords and PINs, twenty members (one corporate, one blocked, one in debt) and
eight guests, a month of ended sessions priced with the shared pricing rule and charged to
the ledger, top-ups and comments. A seeded generator makes the same chain on every run, dated
relative to "now".

No session is left open here: an open session written centrally is one no stand knows (it
cannot be ended at the stand nor remotely). ``make demo`` opens its sessions through the
demo site's stands instead, tapping the cards of :data:`DEMO_WASHERS`, who are topped up
enough for a long wash.

Loading is all-or-nothing and happens once: if the demo site exists, nothing is written."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from cloud.clients.service import create_client, set_blocked
from cloud.db import db_proxy
from cloud.demoalerts import add_alert_recipients
from cloud.democlients import add_foreign_plate
from cloud.demopricing import add_demo_pricing
from cloud.ledger.service import post_entry
from cloud.models import (
    Client,
    Comment,
    LedgerEntry,
    Session,
    Site,
    Stand,
    Tariff,
    TariffVersion,
    User,
)
from cloud.staff.service import create_staff
from sync.pricing import Rates, price

DEMO_SITE_NAME = "Аквастенд на Ленина"
SECOND_SITE_NAME = "Аквастенд на Гагарина"
STANDS = {DEMO_SITE_NAME: ("Пост 1", "Пост 2"), SECOND_SITE_NAME: ("Пост 1",)}
SEED = 20240601
HISTORY_DAYS = 30


@dataclass(frozen=True)
class DemoLogin:
    """A demo staff member; the password and PIN are printed for people trying the demo."""

    role: str
    name: str
    phone: str
    password: str
    pin: str
    sites: tuple[str, ...]


LENINA, GAGARINA = (DEMO_SITE_NAME,), (SECOND_SITE_NAME,)
BOTH_SITES = (DEMO_SITE_NAME, SECOND_SITE_NAME)
# fmt: off
DEMO_STAFF = (
    DemoLogin("owner", "Орлов Михаил Андреевич",
              "+79000000004", "demo-owner-1", "444444", BOTH_SITES),
    DemoLogin("administrator", "Волкова Елена Игоревна",
              "+79000000003", "demo-admin-1", "333333", BOTH_SITES),
    DemoLogin("operator", "Кузнецов Дмитрий Олегович",
              "+79000000002", "demo-operator-1", "222222", BOTH_SITES),
    DemoLogin("attendant", "Смирнова Анна Сергеевна",
              "+79000000001", "demo-attendant-1", "111111", LENINA),
    DemoLogin("attendant", "Попов Артём Викторович",
              "+79000000005", "demo-attendant-2", "555555", GAGARINA),
)
# fmt: on

STANDARD_BEFORE = Rates(member_per_minute=900, guest_per_minute=1400, min_charge=5000, grace_s=10)
STANDARD = Rates(member_per_minute=1000, guest_per_minute=1500, min_charge=5000, grace_s=10)
EXPRESS = Rates(member_per_minute=1500, guest_per_minute=2000, step_s=30, cap=150_000)
# tariff name -> its versions as (days ago it took effect, rates), oldest first
TARIFFS = {"Стандарт": ((90, STANDARD_BEFORE), (14, STANDARD)), "Экспресс": ((90, EXPRESS),)}

MEMBERS = (
    ("Иванов Сергей Петрович", "s.ivanov@example.ru"),
    ("Петрова Мария Александровна", ""),
    ("Соколов Андрей Викторович", "sokolov.a@example.ru"),
    ("Морозова Ольга Николаевна", ""),
    ("Новиков Алексей Игоревич", "novikov@example.ru"),
    ("Фёдорова Татьяна Юрьевна", ""),
    ("Михайлов Павел Сергеевич", "pavel.m@example.ru"),
    ("Лебедева Наталья Владимировна", ""),
    ("Козлов Игорь Анатольевич", "kozlov.igor@example.ru"),
    ("Егорова Светлана Михайловна", ""),
    ("Павлов Роман Дмитриевич", ""),
    ("Семёнова Екатерина Андреевна", "e.semenova@example.ru"),
    ("Голубев Виктор Олегович", ""),
    ("Виноградова Юлия Сергеевна", "yulia.v@example.ru"),
    ("Богданов Николай Иванович", ""),
    ("Воробьёва Ирина Павловна", ""),
    ("Захаров Максим Евгеньевич", "zakharov.m@example.ru"),
    ("Никитина Анастасия Романовна", ""),
    ("Тарасов Денис Валерьевич", ""),
)
CORPORATE = "ООО «Вектор»"
CORPORATE_NOTE = "Корпоративный клиент: служебные машины, пополнение переводом раз в месяц"
BLOCKED_MEMBER = "Голубев Виктор Олегович"
BLOCK_REASON = "Картой пользуется другой водитель: разблокировать после звонка владельцу"
DEBTOR_MEMBER = "Тарасов Денис Валерьевич"  # never tops up again: shows a negative balance
GUEST_COUNT = 8
# Per demo post (STANDS[DEMO_SITE_NAME], in order): the member whose card `make demo` taps there
# to open a session, and the member whose QR code it prints for the reader to show there next.
DEMO_WASHERS = (
    ("Петрова Мария Александровна", "Новиков Алексей Игоревич"),
    ("Соколов Андрей Викторович", "Фёдорова Татьяна Юрьевна"),
)
WASHER_BALANCE = 200_000  # topped up to at least 2 000 ₽: a wash of hours is covered

PLATE_LETTERS = "АВЕКМНОРСТУХ"
PLATE_REGIONS = ("77", "97", "99", "177", "197", "199", "50", "750")
LOW_BALANCE = 50_000  # a member tops up before washing when below 500 ₽
OVERDRAFT = -30_000  # below this a stand would refuse to start a session
TOPUPS = (50_000, 100_000, 150_000)
SESSION_COMMENTS = (
    "Просил дополнительную пену",
    "Сильно грязные диски, посоветовали тариф «Экспресс»",
    "Оплатил наличными без сдачи",
    "Забыл карту в машине, запустили по номеру",
)


@dataclass
class DemoSummary:
    """What ``load_demo_data`` made, for the command to print."""

    sites: int = 0
    stands: int = 0
    tariffs: int = 0
    staff: int = 0
    members: int = 0
    guests: int = 0
    sessions: int = 0
    topups: int = 0


@dataclass
class _Chain:
    """The rows the generator works with, and the balances it keeps in step with the ledger."""

    rng: random.Random
    tz: ZoneInfo
    now: datetime
    staff: dict[str, User] = field(default_factory=dict)  # role -> the first of that role
    attendant_of: dict[int, User] = field(default_factory=dict)  # site id -> attendant
    sites: dict[int, Site] = field(default_factory=dict)
    stands: list[Stand] = field(default_factory=list)
    tariffs: dict[int, Tariff] = field(default_factory=dict)
    versions: dict[int, list[TariffVersion]] = field(default_factory=dict)  # oldest first
    clients: list[Client] = field(default_factory=list)
    balances: dict[int, int] = field(default_factory=dict)
    busy: dict[int, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    summary: DemoSummary = field(default_factory=DemoSummary)


def demo_present() -> bool:
    return bool(Site.select().where(Site.name == DEMO_SITE_NAME).exists())


def load_demo_data(tz: ZoneInfo, now: datetime) -> DemoSummary | None:
    """Create the demo chain in one transaction; None (and nothing written) if it is there.

    ``tz`` is the chain's local time zone: sessions happen in local opening hours; the
    history ends at ``now``."""
    if demo_present():
        return None
    chain = _Chain(rng=random.Random(SEED), tz=tz, now=now)
    with db_proxy.atomic():
        _make_sites(chain)
        _make_tariffs(chain)
        _make_staff(chain)
        _make_clients(chain)
        _make_history(chain)
        _top_up_washers(chain)
        _block_and_comment(chain)
        add_alert_recipients(chain.staff)
        add_demo_pricing(now)  # cloud/demopricing.py: a night rate, a stand's own tariff
        add_foreign_plate()  # cloud/democlients.py
    return chain.summary


def _local_midnight(chain: _Chain, days_ago: int) -> datetime:
    day = chain.now.astimezone(chain.tz).date() - timedelta(days=days_ago)
    return datetime.combine(day, time(0, 0), tzinfo=chain.tz)


def _make_sites(chain: _Chain) -> None:
    for site_name, stand_names in STANDS.items():
        site = Site.create(name=site_name, created_at=chain.now - timedelta(days=120))
        chain.sites[site.id] = site
        for stand_name in stand_names:
            chain.stands.append(Stand.create(site=site, name=stand_name))
    chain.summary.sites, chain.summary.stands = len(chain.sites), len(chain.stands)


def _make_tariffs(chain: _Chain) -> None:
    # Written directly: the tariff service refuses versions that start in the past.
    for name, versions in TARIFFS.items():
        tariff = Tariff.create(name=name)
        chain.tariffs[tariff.id] = tariff
        chain.versions[tariff.id] = []
        for days_ago, rates in versions:
            rates.validate()
            version = TariffVersion.create(
                tariff=tariff, effective_from=_local_midnight(chain, days_ago), **asdict(rates)
            )
            chain.versions[tariff.id].append(version)
    chain.summary.tariffs = len(chain.tariffs)


def _tariff_named(chain: _Chain, name: str) -> Tariff:
    return next(tariff for tariff in chain.tariffs.values() if tariff.name == name)


def _make_staff(chain: _Chain) -> None:
    site_ids = {site.name: site_id for site_id, site in chain.sites.items()}
    for login in DEMO_STAFF:
        user = create_staff(
            name=login.name,
            phone=login.phone,
            role=login.role,
            password=login.password,
            pin=login.pin,
            site_names=list(login.sites),
        )
        chain.staff.setdefault(login.role, user)
        if login.role == "attendant":
            chain.attendant_of[site_ids[login.sites[0]]] = user
    chain.summary.staff = len(DEMO_STAFF)


def _plate(rng: random.Random) -> str:
    first, second, third = (rng.choice(PLATE_LETTERS) for _ in range(3))
    return f"{first}{rng.randint(1, 999):03d}{second}{third}{rng.choice(PLATE_REGIONS)}"


def _card_uid(rng: random.Random) -> str:
    # A 7-byte UID (NTAG, MIFARE Ultralight) starts with NXP's manufacturer byte 04.
    return f"04{rng.getrandbits(48):012X}"


def _phone(rng: random.Random) -> str:
    return f"+79{rng.randint(0, 999_999_999):09d}"


def _make_clients(chain: _Chain) -> None:
    rng = chain.rng
    owner = chain.staff["owner"]
    lenina, gagarina = list(chain.sites)
    standard, express = _tariff_named(chain, "Стандарт"), _tariff_named(chain, "Экспресс")
    for number, (name, email) in enumerate(MEMBERS):
        member = create_client(
            owner,
            kind="member",
            name=name,
            phones=[_phone(rng)],
            email=email,
            plates=[_plate(rng)] + ([_plate(rng)] if number % 7 == 3 else []),
            cards=[_card_uid(rng)],
            default_tariff_id=(express if number % 4 == 2 else standard).id,
            site_id=gagarina if number % 3 == 0 else lenina,
        )
        chain.clients.append(member)
    corporate = create_client(
        owner,
        kind="member",
        name=CORPORATE,
        phones=[_phone(rng), _phone(rng)],
        email="fleet@vector.example.ru",
        plates=[_plate(rng) for _ in range(3)],
        cards=[_card_uid(rng), _card_uid(rng)],
        default_tariff_id=express.id,
        note=CORPORATE_NOTE,
        site_id=lenina,
    )
    chain.clients.append(corporate)
    for number in range(GUEST_COUNT):
        guest = create_client(
            owner, kind="guest", plates=[_plate(rng)], site_id=(lenina, gagarina)[number % 2]
        )
        chain.clients.append(guest)
    joined = chain.now - timedelta(days=HISTORY_DAYS + 5)
    for client in chain.clients:
        chain.balances[client.id] = 0
        chain.busy[client.id] = []
        client.created_at = client.updated_at = joined
        if client.kind == "member":
            client.member_since = joined
        client.save()
    chain.summary.members = len(MEMBERS) + 1
    chain.summary.guests = GUEST_COUNT


def _post(
    chain: _Chain,
    client: Client,
    amount: int,
    when: datetime,
    *,
    site: Site,
    method: str | None = None,
    session: Session | None = None,
) -> None:
    """A top-up (with ``method``) or a session charge, dated ``when`` instead of now."""
    kind = "topup" if method else "charge"
    entry = post_entry(
        client,
        kind,
        amount,
        method=method,
        session=session,
        site=site,
        created_by=chain.attendant_of[site.id],
    )
    LedgerEntry.update(created_at=when).where(LedgerEntry.id == entry.id).execute()
    chain.balances[client.id] += amount
    chain.summary.topups += kind == "topup"


def _topup(chain: _Chain, client: Client, amount: int, when: datetime, site: Site) -> None:
    corporate = client.name == CORPORATE
    method = "transfer" if corporate else chain.rng.choice(("cash", "card", "card"))
    _post(chain, client, amount, when, site=site, method=method)


def _version_at(chain: _Chain, client: Client, moment: datetime) -> TariffVersion:
    """The version of the client's tariff (their default, else Стандарт) in force at ``moment``."""
    tariff_id = client.default_tariff_id or _tariff_named(chain, "Стандарт").id
    return [v for v in chain.versions[tariff_id] if v.effective_from <= moment][-1]


def _duration(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.04:
        return rng.randint(3, 9)  # a mistaken tap: free within the grace time
    if roll < 0.15:
        return rng.randint(1500, 2700)
    return rng.randint(240, 1300)


def _pick_client(chain: _Chain, stand: Stand, start: datetime, end: datetime) -> Client | None:
    """A client mostly from the stand's site, members more often, not washing elsewhere then
    and not too deep in debt."""
    home = [c for c in chain.clients if c.home_site_id == stand.site_id]
    pool = home if chain.rng.random() < 0.85 else chain.clients
    free = [
        c
        for c in pool
        if chain.balances[c.id] > OVERDRAFT
        and all(e <= start or end <= s for s, e in chain.busy[c.id])
    ]
    if not free:
        return None
    weights = [3 if c.kind == "member" else 1 for c in free]
    return chain.rng.choices(free, weights=weights)[0]


def _start_method(chain: _Chain, client: Client) -> str:
    if client.kind == "guest":
        return chain.rng.choice(("plate", "plate", "screen"))
    return chain.rng.choice(("card", "card", "card", "qr", "screen"))


def _make_history(chain: _Chain) -> None:
    """First top-ups, then a month of ended sessions on every stand, day by day."""
    first_day = _local_midnight(chain, HISTORY_DAYS + 1) + timedelta(hours=10)
    for client in chain.clients:
        if client.kind == "member":
            amount = chain.rng.choice(TOPUPS)
            if client.name == DEBTOR_MEMBER:
                amount = 30_000
            elif client.name == CORPORATE:
                amount = 2_000_000
            _topup(chain, client, amount, first_day, chain.sites[client.home_site_id])
    for days_ago in range(HISTORY_DAYS, 0, -1):
        day = _local_midnight(chain, days_ago)
        weekend = day.weekday() >= 5
        for stand in chain.stands:
            moment = day + timedelta(hours=8, minutes=chain.rng.randint(0, 90))
            for _ in range(chain.rng.randint(2, 5) if weekend else chain.rng.randint(1, 3)):
                if moment.hour >= 21:
                    break
                moment = _ended_session(chain, stand, moment)
                moment += timedelta(minutes=chain.rng.randint(10, 150))


def _ended_session(chain: _Chain, stand: Stand, start: datetime) -> datetime:
    """One session from ``start``, priced and charged; returns when the stand is free again."""
    rng = chain.rng
    site = chain.sites[stand.site_id]
    end = start + timedelta(seconds=_duration(rng))
    client = _pick_client(chain, stand, start, end)
    if client is None:
        return end
    chain.busy[client.id].append((start, end))
    member = client.kind == "member"
    if member and client.name != DEBTOR_MEMBER and chain.balances[client.id] < LOW_BALANCE:
        _topup(chain, client, rng.choice(TOPUPS), start - timedelta(minutes=2), site)
    version = _version_at(chain, client, start)
    duration = int((end - start).total_seconds())
    cost = price(version.rates(), client.kind, duration)
    method = _start_method(chain, client)
    attendant = chain.attendant_of[site.id]
    session = Session.create(
        client=client,
        stand=stand,
        site=site,
        tariff_version=version,
        client_kind=client.kind,
        started_at=start,
        ended_at=end,
        duration_s=duration,
        cost_kopecks=cost,
        start_method=method,
        end_method=method if method in ("card", "qr") else "screen",
        started_by=attendant,
        ended_by=attendant,
        comment=rng.choice(SESSION_COMMENTS) if rng.random() < 0.05 else "",
    )
    chain.summary.sessions += 1
    if session.comment:
        Comment.create(
            client=client,
            session=session,
            author=attendant,
            stand=stand,
            text=session.comment,
            created_at=end,
        )
    if cost:
        _post(chain, client, -cost, end, site=site, session=session)
        if not member:  # a guest pays on the spot after the wash
            _topup(chain, client, cost, end + timedelta(minutes=1), site)
    return end


def _top_up_washers(chain: _Chain) -> None:
    """The demo washers top up this morning, each to at least :data:`WASHER_BALANCE`."""
    by_name = {client.name: client for client in chain.clients}
    morning = _local_midnight(chain, 0) + timedelta(hours=8)
    when = min(morning, chain.now - timedelta(minutes=30))
    for name in sorted({name for pair in DEMO_WASHERS for name in pair}):
        washer = by_name[name]
        while chain.balances[washer.id] < WASHER_BALANCE:
            _topup(chain, washer, TOPUPS[-1], when, chain.sites[washer.home_site_id])


def _block_and_comment(chain: _Chain) -> None:
    by_name = {client.name: client for client in chain.clients}
    operator = chain.staff["operator"]
    blocked = by_name[BLOCKED_MEMBER]
    set_blocked(operator, blocked, True, BLOCK_REASON)
    two_days_ago, yesterday = chain.now - timedelta(days=2), chain.now - timedelta(days=1)
    Comment.create(client=blocked, author=operator, text=BLOCK_REASON, created_at=two_days_ago)
    reminder = "Напомнить о пополнении баланса при следующем визите"
    Comment.create(
        client=by_name[DEBTOR_MEMBER], author=operator, text=reminder, created_at=yesterday
    )

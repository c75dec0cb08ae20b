"""Sync protocols 2 and 3: shared windows and the stand's head (sync/directorywindow.py): their JSON
read back, their merge into the one page a stand applies, and what the stand refuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sync.balances import BalanceEntry
from sync.directory import ClientEntry, CredentialEntry, StaffEntry, without_details
from sync.directorypage import CredentialKey, DirectoryPage, StandCommand, Tombstones
from sync.directorywindow import (
    WINDOW,
    ClientDetails,
    WindowPage,
    details_dict,
    merge_windows,
    validate_head,
    validate_window_page,
    window_start,
)
from sync.errors import RuleError

HEAD = DirectoryPage(
    cursor=0,
    more=False,
    reset=False,
    site_id=1,
    stand_id=7,
    server_time=datetime(2026, 1, 1, tzinfo=UTC),
    qr_public_key_pem=(
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEA7WtUNj26hujx5NzZG6jBQmcibCpqyIMdE64uNh5ldCQ=\n"
        "-----END PUBLIC KEY-----\n"
    ),
    default_tariff_id=None,
    acked_seq=4,
)


def client(client_id: int, balance: int) -> ClientEntry:
    entry = ClientEntry(client_id, "member", "", (), False, None, balance, client_id, None)
    return without_details(entry)


def test_window_start_is_the_multiple_of_the_window_at_or_below_the_cursor() -> None:
    assert [window_start(c) for c in (0, 1, WINDOW - 1, WINDOW, WINDOW + 5)] == [
        0,
        0,
        0,
        WINDOW,
        WINDOW,
    ]


def test_a_window_reads_back_equal() -> None:
    window = WindowPage(
        start=WINDOW,
        end=2 * WINDOW,
        closed=True,
        clients=(client(3, 500),),
        credentials=(CredentialEntry(3, "card", "0A0B0C0D", False),),
        revoked_qr_token_ids=("0123456789abcdef0123456789abcdef",),
        tombstones=Tombstones(clients=(9,), credentials=(CredentialKey("plate", "А123ВС77"),)),
    )

    assert validate_window_page(window.to_dict()) == window


def test_a_window_off_the_grid_or_with_a_duplicate_client_is_refused() -> None:
    good = WindowPage(start=0, end=10, closed=False, clients=(client(3, 1),)).to_dict()
    with pytest.raises(RuleError):
        validate_window_page({**good, "start": 5})
    doubled = WindowPage(start=0, end=10, closed=False).to_dict()
    doubled["upserts"] = {**good["upserts"], "clients": [good["upserts"]["clients"][0]] * 2}  # type: ignore[index]
    with pytest.raises(RuleError):
        validate_window_page(doubled)


def test_a_head_reads_back_with_its_details() -> None:
    data = replace(
        HEAD,
        commands=(
            StandCommand(1, "end_session", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "", None),
        ),
    ).to_dict()
    data["details"] = [details_dict(ClientDetails(3, "Иван", ("+79161234567",)))]

    head, details = validate_head(data)

    assert head.commands[0].id == 1 and head.acked_seq == 4
    assert details == (ClientDetails(3, "Иван", ("+79161234567",)),)
    with pytest.raises(RuleError):
        validate_head({**data, "details": data["details"] * 2})


def test_windows_merge_to_the_last_word_with_the_heads_details_and_staff() -> None:
    card = CredentialEntry(1, "card", "0A0B0C0D", False)
    windows = [
        WindowPage(0, WINDOW, True, clients=(client(1, 100), client(2, 200)), credentials=(card,)),
        WindowPage(
            WINDOW,
            WINDOW + 17,
            False,
            clients=(client(1, 150),),
            tombstones=Tombstones(clients=(2,)),
        ),
    ]
    staff = StaffEntry(5, "Анна", "attendant", "pbkdf2:sha256:1$a$b")
    head = replace(HEAD, staff=(staff,), tombstones=Tombstones(staff=(6,)))

    merged = merge_windows(windows, head, [ClientDetails(1, "Иван", ("+79161234567",))], True)

    assert (merged.cursor, merged.more, merged.reset, merged.stand_id) == (
        WINDOW + 17,
        False,
        True,
        7,
    )
    (only,) = merged.clients
    assert (only.id, only.balance_kopecks, only.name, only.details) == (1, 150, "Иван", True)
    assert merged.tombstones.clients == (2,)
    assert merged.credentials == (card,)
    assert merged.staff == (staff,) and merged.tombstones.staff == (6,)
    assert merged.acked_seq == 4


def test_a_client_of_another_site_keeps_no_name() -> None:
    windows = [WindowPage(0, 3, False, clients=(client(8, 0),))]

    merged = merge_windows(windows, HEAD, [], False)

    assert merged.clients[0].name == "" and not merged.clients[0].details


def test_a_walk_needs_its_tail() -> None:
    with pytest.raises(ValueError):
        merge_windows([], HEAD, [], False)


def test_a_window_beyond_the_newest_position_says_so() -> None:
    assert WindowPage(start=2 * WINDOW, end=10, closed=False).beyond_newest
    assert not WindowPage(start=0, end=0, closed=False).beyond_newest


def test_protocol_3s_compact_balances_read_back_and_bad_ones_are_refused() -> None:
    compact = WindowPage(
        0, 9, False, clients=(client(3, 1),), balances=(BalanceEntry(4, -50, 12, 7, 2),)
    )
    data = compact.to_dict()
    assert data["balances"] == [[4, -50, 12, 7, 2]]
    assert validate_window_page(data) == compact
    older = replace(compact, balances=(), protocol=2)
    assert "balances" not in older.to_dict() and validate_window_page(older.to_dict()) == older

    for bad in (
        [[4, -50, 12, 7]],  # short
        [[4, "-50", 12, 7, None]],  # not a number
        [[4, -50, 12, 7, None], [4, 0, 13, 7, None]],  # twice
        [[3, 0, 13, 7, None]],  # the client is whole in the window already
        [[4, 0, -1, 7, None]],  # a ledger position below 0
    ):
        with pytest.raises(RuleError):
            validate_window_page({**data, "balances": bad})
    with pytest.raises(RuleError):
        validate_window_page({**data, "protocol": 4})


def test_a_compact_balance_is_the_last_word_unless_a_later_window_has_the_client_whole() -> None:
    windows = [
        WindowPage(0, WINDOW, True, clients=(client(1, 100),), balances=(balance(2, 20),)),
        WindowPage(
            WINDOW,
            2 * WINDOW,
            True,
            clients=(client(2, 250),),
            balances=(balance(1, 150), balance(3, 30), balance(4, 40)),
        ),
        WindowPage(
            2 * WINDOW,
            2 * WINDOW + 5,
            False,
            balances=(balance(3, 35),),
            tombstones=Tombstones(clients=(4,)),
        ),
    ]

    merged = merge_windows(windows, HEAD, [], False)

    by_id = {c.id: c for c in merged.clients}
    assert by_id[1].balance_kopecks == 150 and by_id[1].ledger_position == 1150  # patched
    assert by_id[2].balance_kopecks == 250  # whole after the compact one: the newer
    assert merged.balances == (balance(3, 35),)  # a client the stand holds: the last one
    assert merged.tombstones.clients == (4,)


def balance(client_id: int, kopecks: int) -> BalanceEntry:
    return BalanceEntry(client_id, kopecks, 1000 + kopecks, 0, None)

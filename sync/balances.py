"""Protocol 3's compact form of a balance-only change (sync/directorywindow.py).

In a chain every session changes a client's balance, and every balance change goes to every
stand: most of what a poll carries. A whole client entry (sync/directory.py) is a few hundred
bytes; what a balance change changes is five numbers, sent as one JSON array in this order:
``[id, balance_kopecks, ledger_position, points_balance, open_session_stand_id]``.

A stand applies it to the client it holds (the balance and the ledger position it includes,
the points and where a session of theirs is open) and skips a client it does not hold: the
client's whole entry carries its balance as well, and comes in the same walk or came before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sync.directory import ClientEntry
from sync.document import Fields

FIELDS = ("id", "balance_kopecks", "ledger_position", "points_balance", "open_session_stand_id")


@dataclass(frozen=True)
class BalanceEntry:
    """A client's balance, the ledger position it includes, points and open session's stand."""

    id: int
    balance_kopecks: int
    ledger_position: int
    points_balance: int
    open_session_stand_id: int | None

    def applied_to(self, client: ClientEntry) -> ClientEntry:
        """``client`` with these values."""
        return replace(
            client,
            balance_kopecks=self.balance_kopecks,
            ledger_position=self.ledger_position,
            points_balance=self.points_balance,
            open_session_stand_id=self.open_session_stand_id,
        )


def balance_of(client: ClientEntry) -> BalanceEntry:
    """The compact form of what ``client`` holds."""
    return BalanceEntry(
        client.id,
        client.balance_kopecks,
        client.ledger_position,
        client.points_balance,
        client.open_session_stand_id,
    )


def balance_row(entry: BalanceEntry) -> list[int | None]:
    return [
        entry.id,
        entry.balance_kopecks,
        entry.ledger_position,
        entry.points_balance,
        entry.open_session_stand_id,
    ]


def parse_balances(doc: Fields, key: str, max_items: int) -> tuple[BalanceEntry, ...]:
    """The list ``key`` of ``doc``: arrays of ``FIELDS``, each id once; RuleError otherwise."""
    entries: list[BalanceEntry] = []
    seen: set[int] = set()
    for index, row in enumerate(doc.items(key, max_items)):
        where = f"{key}[{index}]"
        if not isinstance(row, list) or len(row) != len(FIELDS):
            raise doc.fail(where, f"нужен список из {len(FIELDS)} чисел: {', '.join(FIELDS)}")
        path = f"{doc.path}.{where}" if doc.path else where
        item = Fields(dict(zip(FIELDS, row, strict=True)), doc.document, path, doc.code)
        entry = BalanceEntry(
            id=item.integer("id", 1),
            balance_kopecks=item.integer("balance_kopecks"),
            ledger_position=item.integer("ledger_position", 0),
            points_balance=item.integer("points_balance"),
            open_session_stand_id=item.optional_integer("open_session_stand_id", 1),
        )
        if entry.id in seen:
            raise item.fail("id", f"{entry.id} повторяется")
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries)

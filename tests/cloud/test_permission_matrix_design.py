"""``cloud.permissions.MATRIX`` against the design's role table (docs/roles.md).

The route × role walk (test_role_matrix.py) reads its expected answers from ``MATRIX``, so a
wrong entry there would pass it; this test holds ``MATRIX`` to the table written apart from
the code. Each row of the table is mapped to its capabilities by hand below."""

from __future__ import annotations

from collections.abc import Mapping, Set
from pathlib import Path

from cloud.permissions import ALL_ROLES, MATRIX, SCOPED_ROLES, Capability

REPO = Path(__file__).resolve().parents[2]
ROLES_DOC = REPO / "docs" / "roles.md"
DESIGN_DOC = REPO.parent / "shared" / "DESIGN.md"
HEADING = "Roles (default permission matrix)"

# What a cell of the table says: the role has the capability everywhere, only at the sites it
# is assigned to (cloud.permissions scopes a role's data with SCOPED_ROLES / site_scope), or not.
EVERYWHERE, OWN_SITE, NOT = "✓", "own site", "–"

ROW_CAPABILITIES: dict[str, set[Capability]] = {
    "stand screen: start/end sessions, comment, top up, register guest or member": {
        Capability.SERVE_CLIENTS,
        Capability.VIEW_CATALOG,  # reading tariffs, sites and stands, needed to serve clients
    },
    "view clients and client pages, search": {Capability.VIEW_CLIENTS},
    "edit a client, link/unlink cards and plates, block": {Capability.EDIT_CLIENTS},
    "delete a client": {Capability.DELETE_CLIENTS},
    "segments and mailings": {Capability.SEGMENTS},
    "reports": {Capability.REPORTS},
    "tariffs, sites, stands (provisioning, revoking)": {Capability.MANAGE_CATALOG},
    "staff: create, edit, deactivate": {Capability.MANAGE_STAFF},
    "staff: delete; balance adjustments and refunds": {
        Capability.DELETE_STAFF,
        Capability.ADJUST_BALANCE,
    },
}

# Capabilities the table has no row for, pinned here with the cells a row would have.
OUTSIDE_THE_TABLE: dict[Capability, tuple[str, ...]] = {
    # Manual bonus points: a marketing tool, not money, so administrators grant them too (issue 7).
    Capability.ADJUST_POINTS: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # Stands' top-ups held over a ceiling: released or rejected by an administrator (issue 19).
    Capability.REVIEW_TOPUPS: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # A client's own overdraft (credit) at the stands: administrators and the owner (issue 15).
    Capability.SET_OVERDRAFT: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # Deleted clients: the owner lists and restores them (issue 20).
    Capability.RESTORE_CLIENTS: (NOT, NOT, NOT, EVERYWHERE),
    # Fiscal receipts (54-FZ): administrators and the owner (issue 17).
    Capability.RECEIPTS: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # The staff audit log: it watches administrators too, so only the owner reads it (issue 19).
    Capability.VIEW_AUDIT: (NOT, NOT, NOT, EVERYWHERE),
    # Alerts by e-mail and who gets them: administrators and the owner (issue 20).
    Capability.ALERTS: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # A session no stand can end, ended and charged centrally: administrators and the owner.
    Capability.FORCE_CLOSE: (NOT, NOT, EVERYWHERE, EVERYWHERE),
    # The bonus programme's settings (welcome, accrual, expiry, point value): the owner (issue 20).
    Capability.LOYALTY_SETTINGS: (NOT, NOT, NOT, EVERYWHERE),
}


def role_table(markdown: str) -> list[list[str]]:
    """The cells of the first table after the heading ending in ``HEADING``, header row first
    (the |---| line left out)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and HEADING in line)
    table: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif table:
            break
    header, separator, *rows = table
    assert set("".join(separator)) <= {"-", ":"}, f"no table under {HEADING!r}"
    return [header, *rows]


def the_codes_cell(
    matrix: Mapping[Capability, Set[str]], scoped: Set[str], capability: Capability, role: str
) -> str:
    """What the table would say for ``role`` and ``capability`` if it were written from the code."""
    if role not in matrix[capability]:
        return NOT
    return OWN_SITE if role in scoped else EVERYWHERE


def disagreements(matrix: Mapping[Capability, Set[str]], scoped: Set[str]) -> list[str]:
    """Every cell where ``matrix`` and ``scoped`` differ from the table and the pins above."""
    expected = [
        (capability, dict(zip(ALL_ROLES, cells, strict=True)))
        for row, *cells in role_table(ROLES_DOC.read_text(encoding="utf-8"))[1:]
        for capability in ROW_CAPABILITIES[row]
    ]
    expected += [
        (capability, dict(zip(ALL_ROLES, cells, strict=True)))
        for capability, cells in OUTSIDE_THE_TABLE.items()
    ]
    return [
        f"{capability} for {role}: table {cell!r}, code {code!r}"
        for capability, cells in expected
        for role, cell in cells.items()
        if cell != (code := the_codes_cell(matrix, scoped, capability, role))
    ]


def test_the_table_has_a_column_for_each_role_of_the_code() -> None:
    header = role_table(ROLES_DOC.read_text(encoding="utf-8"))[0]
    assert header == ["capability", *ALL_ROLES]


def test_every_row_is_mapped_and_every_capability_is_in_one_row_or_pinned_apart() -> None:
    rows = [row for row, *_cells in role_table(ROLES_DOC.read_text(encoding="utf-8"))[1:]]
    assert sorted(rows) == sorted(ROW_CAPABILITIES)
    placed = [c for capabilities in ROW_CAPABILITIES.values() for c in capabilities]
    placed += list(OUTSIDE_THE_TABLE)
    assert sorted(placed) == sorted(Capability)
    assert sorted(MATRIX) == sorted(Capability)


def test_the_matrix_gives_each_role_what_the_design_table_gives_it() -> None:
    assert disagreements(MATRIX, SCOPED_ROLES) == []


def test_the_roles_doc_is_the_design_documents_table() -> None:
    # DESIGN.md lives beside the repository on the development machine, not in CI. A skip
    # fails CI, so where the file is missing this test checks nothing rather than skipping.
    if DESIGN_DOC.exists():
        design = role_table(DESIGN_DOC.read_text(encoding="utf-8"))
        assert design == role_table(ROLES_DOC.read_text(encoding="utf-8"))

"""Small-cell suppression of one month's table, and of prevalence, against two attackers.

The strong attacker is ``tests/stats_audit.py``: linear programming over every published view
of the month (national and each region), the month's totals, and what a listing tells (a
listed row counts at least one). It must not pin any suppressed figure: count to fewer than
``k``, patients to fewer than ``k`` values, amount to less than its own unpublished amount.
The weak one (``recoverable``, exact linear algebra) is kept for the end-to-end tests.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.resolvers.suppression import Cell, suppress_partition, suppress_table
from tests.stats_audit import Audit, Finding, Table

K = 5
REGIONS = ("astana", "almaty", "shymkent")
NATIONAL = "NATIONAL"
OTHER = "OTHER"
MISSING = "MISSING"
MONTH = "2026-07"


# --- publishing a month and attacking it ------------------------------------------------------


def publish(cells: dict, hidden: frozenset, latent: frozenset = frozenset()) -> list[Table]:
    """What managers see of one month: every view of the grouping (ATC), and the totals."""
    tables = []
    for view in (None, *REGIONS):
        row = view or NATIONAL
        rows = tuple(
            {
                "key": key,
                "count": cell.count,
                "patients": cell.patients,
                "amountKzt": str(cell.amount) if cell.amount is not None else None,
                "suppressed": (row, key) in hidden,
            }
            for (name, key), cell in sorted(cells.items())
            if name == row and (name, key) not in latent and cell.count > 0
        )
        tables.append(Table((MONTH,), "ATC", view, rows))
        total = _total(cells, row)
        if total.count:
            totals = {
                "key": MONTH,
                "count": total.count,
                "patients": total.patients,
                "amountKzt": str(total.amount) if total.amount is not None else None,
                "suppressed": False,
            }
            tables.append(Table((MONTH,), "MONTH", view, (totals,)))
    return tables


def _total(cells: dict, row: str) -> Cell:
    """A row's total as the MONTH grouping publishes it (its own cells and latent ones)."""
    rows = [cell for (name, _), cell in cells.items() if name == row]
    amounts = [cell.amount for cell in rows]
    amount = None if any(a is None for a in amounts) else sum(amounts, Decimal(0))
    return Cell(sum(c.count for c in rows), sum(c.patients or 0 for c in rows), amount)


def attack(cells: dict, hidden: frozenset, latent: frozenset = frozenset()) -> list[Finding]:
    """Every suppressed figure of the month the linear-programming attacker pins."""
    complete = not any(key == MISSING for _, key in cells)
    other = any(row == OTHER for row, _ in cells)
    audit = Audit(REGIONS, ("ATC",), complete=complete, k=K, other_region=other)
    for table in publish(cells, hidden, latent):
        audit.add(table)

    def unpublished_amount(table: Table, key: str) -> Decimal:
        row = table.view or NATIONAL
        if row != NATIONAL:
            return cells[(row, key)].amount or Decimal(0)
        parts = [(r, key) for r in REGIONS if (r, key) in hidden]
        return sum((cells[part].amount or Decimal(0) for part in parts), Decimal(0))

    with_money = all(cell.amount is not None for cell in cells.values())
    return audit.findings(unpublished_amount if with_money else None)


# --- tables -----------------------------------------------------------------------------------


@st.composite
def month_tables(draw, with_other: bool = False, with_missing: bool = False):
    """A month of one grouping: region rows whose totals clear the dark-month test (each
    region's total covers k patients and exceeds its listed keys by k), and the national row.
    With ``with_missing`` it is a month of ambulance calls: no money, and some calls in no row
    of the grouping (the latent MISSING column)."""
    keys = [f"G{i}" for i in range(draw(st.integers(2, 6)))]
    rows = [*REGIONS, OTHER] if with_other else list(REGIONS)
    cells: dict = {}
    for row in rows:
        for key in keys:
            count = draw(st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 60)))
            if count:
                price = None if with_missing else Decimal(count * draw(st.integers(100, 20_000)))
                cells[(row, key)] = Cell(count, draw(st.integers(1, count)), price)
        if with_missing and row != OTHER and draw(st.booleans()):
            cells[(row, MISSING)] = Cell(draw(st.integers(1, 8)), None)
        mine = [c for (r, _), c in cells.items() if r == row]
        listed = sum(1 for (r, key) in cells if r == row and key != MISSING)
        short = K + listed + 1 - sum(c.count for c in mine)
        if short > 0 or sum(c.patients or 0 for c in mine) < K:
            # A row that fails the dark-month test gets a large group: its total now covers k
            # patients and exceeds its listed keys by k, as in any month that is not dark.
            count = max(short, K + 2)
            price = None if with_missing else Decimal(count * 500)
            cells[(row, f"F-{row}")] = Cell(count, count, price)
    for key in sorted({key for _, key in cells}):
        parts = [cells[(row, key)] for row in rows if (row, key) in cells]
        amounts = [p.amount for p in parts]
        cells[(NATIONAL, key)] = Cell(
            sum(p.count for p in parts),
            sum(p.patients or 0 for p in parts),
            None if any(a is None for a in amounts) else sum(amounts, Decimal(0)),
        )
    latent = {c for c in cells if c[0] == OTHER or c[1] == MISSING}
    for coord in latent:  # the gateway never learns these rows' patients
        cells[coord] = Cell(cells[coord].count, None, cells[coord].amount)
    return cells, frozenset(latent)


@settings(max_examples=40, deadline=None)
@given(month_tables())
def test_no_suppressed_figure_is_pinned(table) -> None:
    cells, latent = table
    hidden = suppress_table(cells, K, NATIONAL, latent)
    assert hidden is not None  # a month that is not dark always has a protecting pattern
    assert {c for c, cell in cells.items() if (cell.patients or 0) < K} <= hidden  # primary
    assert attack(cells, hidden) == []


@settings(max_examples=25, deadline=None)
@given(month_tables(with_other=True, with_missing=True))
def test_latent_cells_protect_and_are_never_published(table) -> None:
    cells, latent = table
    hidden = suppress_table(cells, K, NATIONAL, latent)
    assert hidden is not None
    assert not hidden & latent
    published = {c: cell for c, cell in cells.items() if c not in latent}
    assert {c for c, cell in published.items() if (cell.patients or 0) < K} <= hidden
    assert attack(cells, hidden, latent) == []


@settings(max_examples=100, deadline=None)
@given(month_tables())
def test_nothing_suppressed_when_no_cell_is_small(table) -> None:
    cells, latent = table
    big = {c: Cell(cell.count + 10, (cell.patients or 0) + 10) for c, cell in cells.items()}
    assert suppress_table(big, K, NATIONAL, latent) == frozenset()


def _with_national(cells: dict) -> dict:
    out = dict(cells)
    for key in sorted({key for _, key in cells}):
        parts = [cells[(r, key)] for r in REGIONS if (r, key) in cells]
        out[(NATIONAL, key)] = Cell(
            sum(p.count for p in parts),
            sum(p.patients or 0 for p in parts),
            sum((p.amount or Decimal(0) for p in parts), Decimal(0)),
        )
    return out


def test_two_ones_hidden_side_by_side_are_pinned_by_the_listing() -> None:
    """The first hole: a row total and two suppressed rows of one each. The old rule (no cell
    a bridge) hid just the two ones and their national cells; each is at least one, so both are
    exactly one. Now a large row goes with them, so each may be anything from 1 to 1 + k."""
    cells = _with_national(
        {
            ("almaty", "A"): Cell(1, 1, Decimal(900)),
            ("almaty", "B"): Cell(1, 1, Decimal(700)),
            ("almaty", "C"): Cell(60, 40, Decimal(60_000)),
            ("astana", "A"): Cell(1, 1, Decimal(900)),
            ("astana", "B"): Cell(1, 1, Decimal(800)),
            ("astana", "C"): Cell(50, 30, Decimal(50_000)),
        }
    )
    old = frozenset(c for c in cells if c[1] in ("A", "B"))
    pinned = {(f.row, f.key, f.measure) for f in attack(cells, old)}
    assert ("almaty", "A", "count") in pinned and ("almaty", "B", "count") in pinned
    hidden = suppress_table(cells, K, NATIONAL)
    assert hidden is not None and hidden > old
    assert attack(cells, hidden) == []


def test_region_cell_is_not_recoverable_from_national_minus_other_regions() -> None:
    cells = _with_national(
        {
            ("astana", "X"): Cell(2, 2, Decimal(4000)),
            ("almaty", "X"): Cell(30, 20, Decimal(60_000)),
            ("shymkent", "X"): Cell(25, 15, Decimal(50_000)),
            ("astana", "Y"): Cell(50, 40, Decimal(5000)),
            ("almaty", "Y"): Cell(60, 40, Decimal(6000)),
            ("shymkent", "Y"): Cell(70, 40, Decimal(7000)),
        }
    )
    hidden = suppress_table(cells, K, NATIONAL)
    assert hidden is not None and ("astana", "X") in hidden
    assert len({c for c in hidden if c[1] == "X"}) >= 2
    assert len({c for c in hidden if c[0] == "astana"}) >= 2
    assert attack(cells, hidden) == []
    assert not recoverable(cells, set(hidden)) & {("astana", "X")}


def test_an_expensive_small_cell_takes_enough_money_with_it() -> None:
    # The cheapest cell that protects the count (Y, 6 dispensations) holds too little money
    # to hide 1.5 million tenge: the amount's interval must be as wide as the amount.
    cells = _with_national(
        {
            ("astana", "X"): Cell(1, 1, Decimal(1_500_000)),
            ("astana", "Y"): Cell(12, 10, Decimal(1200)),
            ("astana", "Z"): Cell(40, 30, Decimal(4_000_000)),
            ("almaty", "X"): Cell(20, 12, Decimal(30_000_000)),
            ("almaty", "Y"): Cell(30, 20, Decimal(3000)),
            ("almaty", "Z"): Cell(40, 30, Decimal(4_000_000)),
        }
    )
    hidden = suppress_table(cells, K, NATIONAL)
    assert hidden is not None
    assert attack(cells, hidden) == []


def test_unknown_patients_count_as_small() -> None:
    cells = _with_national(
        {
            ("astana", "A"): Cell(50, None, Decimal(1)),
            ("astana", "B"): Cell(50, 40, Decimal(1)),
            ("astana", "C"): Cell(60, 40, Decimal(1)),
        }
    )
    assert ("astana", "A") in (suppress_table(cells, K, NATIONAL) or ())


def test_zero_count_cells_are_absent_groups_not_published_figures() -> None:
    cells = {
        ("astana", "A"): Cell(0, 0),
        ("astana", "B"): Cell(50, 40),
        (NATIONAL, "B"): Cell(50, 40),
    }
    assert suppress_table(cells, K, NATIONAL) == frozenset()


def test_a_row_whose_ones_use_up_its_total_cannot_be_protected() -> None:
    # Six listed rows of one in a total of six: whatever is hidden, each is exactly one. Such a
    # month is dark (periods.short_of_slack); the table alone reports that it cannot be helped.
    cells = _with_national(
        {("astana", f"A{i}"): Cell(1, 1, Decimal(100)) for i in range(6)}
        | {("almaty", "B"): Cell(40, 30, Decimal(100))}
    )
    assert suppress_table(cells, K, NATIONAL) is None


# --- the weak attacker: exact linear algebra (kept for the end-to-end tests) -------------------


def _rank(rows: list[list[Fraction]]) -> int:
    rows = [row[:] for row in rows]
    rank = 0
    width = len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


def recoverable(cells: dict, unknown: set) -> set:
    """Unknown cells whose value follows from the known cells and every line total (each row
    sums to its total; the region rows plus OTHER of each column sum to the national cell)."""
    variables = sorted(unknown)
    index = {coord: i for i, coord in enumerate(variables)}
    equations: list[list[Fraction]] = []
    for row in {row for row, _ in cells}:
        eq = [Fraction(0)] * len(variables)
        for coord in cells:
            if coord[0] == row and coord in index:
                eq[index[coord]] = Fraction(1)
        equations.append(eq)
    for col in {col for _, col in cells}:
        eq = [Fraction(0)] * len(variables)
        for coord in cells:
            if coord[1] == col and coord in index:
                eq[index[coord]] = Fraction(-1 if coord[0] == NATIONAL else 1)
        equations.append(eq)
    equations = [eq for eq in equations if any(eq)]
    base = _rank(equations) if equations else 0
    found = set()
    for coord, i in index.items():
        unit = [Fraction(0)] * len(variables)
        unit[i] = Fraction(1)
        if _rank([*equations, unit]) == base:
            found.add(coord)
    return found


# --- partitions (prevalence) ------------------------------------------------------------------


def _interval(counts: dict, suppressed: frozenset, key: str) -> tuple[int, int]:
    """The attacker's interval for a suppressed key: every key is listed (so may be 0), the
    visible ones are known, and the suppressed ones share what the national sum leaves."""
    if len(suppressed) == len(counts):
        return 0, 10**9  # nothing published: the national sum is never shown either
    left = sum(counts[other] for other in suppressed)
    return (left, left) if len(suppressed) == 1 else (0, left)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from((*REGIONS, "karaganda", "aktobe")), st.integers(0, 12)))
def test_partition_never_pins_a_suppressed_region_below_k(counts) -> None:
    suppressed = suppress_partition(counts, K)
    assert {key for key, count in counts.items() if count < K} <= suppressed
    for key in suppressed:
        low, high = _interval(counts, suppressed, key)
        assert high - low >= K, (counts, suppressed, key)


def test_partition_examples() -> None:
    assert suppress_partition({"astana": 3, "almaty": 40, "shymkent": 20}, K) == {
        "astana",
        "shymkent",
    }
    assert suppress_partition({"astana": 30, "almaty": 40}, K) == frozenset()
    # A one and a zero hidden together would each lie in [0, 1]: a third region must go too.
    assert suppress_partition({"astana": 1, "almaty": 0, "shymkent": 90, "aktobe": 40}, K) == {
        "astana",
        "almaty",
        "aktobe",
    }
    assert suppress_partition({"astana": 2, "almaty": 1, "shymkent": 3}, K) == {
        "astana",
        "almaty",
        "shymkent",
    }

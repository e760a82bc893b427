"""Small-cell suppression: primary, complementary, whole-table, and differencing attacks.

The attacker's view is computed here independently of the code under test: every published
cell plus every line total (each row's total, and each column's national figure equal to the
sum of its region rows), solved by exact Gaussian elimination over the rationals. A suppressed
figure is recovered when the unit vector of its cell lies in the row space of the equations.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.resolvers.suppression import (
    Cell,
    determined_cells,
    is_small,
    suppress_partition,
    suppress_table,
)

K = 5
REGIONS = ("astana", "almaty", "shymkent")
NATIONAL = "NATIONAL"
OTHER = "OTHER"


# --- the attacker -----------------------------------------------------------------------------


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
    """Unknown cells whose value follows from the known cells and every line total.

    Equations (coefficients on unknowns only; known values go to the right-hand side, which
    does not matter for whether a unit vector is in the row space): each row sums to its
    total; for each column, the region rows plus OTHER minus NATIONAL sum to zero.
    """
    variables = sorted(unknown)
    index = {coord: i for i, coord in enumerate(variables)}
    equations: list[list[Fraction]] = []
    rows = {row for row, _ in cells}
    cols = {col for _, col in cells}
    for row in rows:
        eq = [Fraction(0)] * len(variables)
        for coord in cells:
            if coord[0] == row and coord in index:
                eq[index[coord]] = Fraction(1)
        equations.append(eq)
    for col in cols:
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


# --- tables -----------------------------------------------------------------------------------


@st.composite
def tables(draw, with_other: bool = False) -> tuple[dict, set]:
    """A region x group table with its NATIONAL row (and maybe a latent OTHER row)."""
    groups = [f"G{i}" for i in range(draw(st.integers(1, 6)))]
    row_names = [*REGIONS, OTHER] if with_other else list(REGIONS)
    cells: dict = {}
    for row in row_names:
        for group in groups:
            count = draw(st.one_of(st.integers(0, 6), st.integers(4, 40)))
            if count:
                patients = draw(st.integers(1, count))
                cells[(row, group)] = Cell(count, patients)
    for group in groups:
        parts = [cells[(row, group)] for row in row_names if (row, group) in cells]
        if parts:
            count = sum(p.count for p in parts)
            low = max(p.patients for p in parts)
            patients = draw(st.integers(low, sum(p.patients for p in parts)))
            cells[(NATIONAL, group)] = Cell(count, patients)
    latent = {coord for coord in cells if coord[0] == OTHER}
    for coord in latent:  # the gateway never learns OTHER's patients
        cells[coord] = Cell(cells[coord].count, None)
    return cells, latent


def _whole_table_case(cells: dict, latent: set) -> bool:
    by_row: dict = {}
    for coord, cell in cells.items():
        small = cell.count < K if coord in latent else is_small(cell, K)
        by_row.setdefault(coord[0], []).append(small)
    return any(all(flags) for flags in by_row.values())


@settings(max_examples=300, deadline=None)
@given(tables())
def test_no_suppressed_figure_is_recoverable_by_differencing(table) -> None:
    cells, latent = table
    suppressed = suppress_table(cells, K, latent)
    small = {c for c, cell in cells.items() if is_small(cell, K)}
    assert small <= suppressed  # primary
    if _whole_table_case(cells, latent):
        assert suppressed == set(cells)
        return
    # National minus visible rows, region sums against national: nothing small comes out.
    assert not (recoverable(cells, set(suppressed)) & small)


@settings(max_examples=200, deadline=None)
@given(tables(with_other=True))
def test_latent_other_row_is_protected_and_never_published(table) -> None:
    cells, latent = table
    suppressed = suppress_table(cells, K, latent)
    assert not (suppressed & latent)  # latent cells are not published, so not "suppressed"
    if _whole_table_case(cells, latent):
        assert suppressed == set(cells) - latent
        return
    unknown = set(suppressed) | latent
    small = {c for c in cells if (cells[c].count < K if c in latent else is_small(cells[c], K))}
    assert not (recoverable(cells, unknown) & small)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_nothing_suppressed_when_no_cell_is_small(table) -> None:
    cells, latent = table
    big = {coord: Cell(cell.count + 10, (cell.patients or 0) + 10) for coord, cell in cells.items()}
    assert suppress_table(big, K, latent) == frozenset()


def test_single_small_cell_in_a_row_takes_the_next_smallest_with_it() -> None:
    # One region, one column per group: national = region (national row mirrors it).
    cells = {
        ("astana", "A"): Cell(3, 2),
        ("astana", "B"): Cell(20, 9),
        ("astana", "C"): Cell(40, 30),
        (NATIONAL, "A"): Cell(3, 2),
        (NATIONAL, "B"): Cell(20, 9),
        (NATIONAL, "C"): Cell(40, 30),
    }
    suppressed = suppress_table(cells, K)
    # A is small in both rows; B (the next smallest) goes with it so neither row total helps.
    assert suppressed == {
        ("astana", "A"),
        ("astana", "B"),
        (NATIONAL, "A"),
        (NATIONAL, "B"),
    }
    assert not recoverable(cells, set(suppressed))


def test_region_cell_is_not_recoverable_from_national_minus_other_regions() -> None:
    # Column X: astana is small (2 patients); national and the other regions are not.
    cells = {
        ("astana", "X"): Cell(2, 2),
        ("almaty", "X"): Cell(30, 20),
        ("shymkent", "X"): Cell(25, 15),
        (NATIONAL, "X"): Cell(57, 36),
        ("astana", "Y"): Cell(50, 40),
        ("almaty", "Y"): Cell(60, 40),
        ("shymkent", "Y"): Cell(70, 40),
        (NATIONAL, "Y"): Cell(180, 110),
    }
    suppressed = suppress_table(cells, K)
    assert ("astana", "X") in suppressed
    # Something else in column X and in astana's row must go too.
    assert len({c for c in suppressed if c[1] == "X"}) >= 2
    assert len({c for c in suppressed if c[0] == "astana"}) >= 2
    assert not recoverable(cells, set(suppressed)) & {("astana", "X")}
    # Naive per-row suppression (hide only the small cell and the row's next smallest) leaks.
    naive = {("astana", "X"), ("astana", "Y")}
    assert ("astana", "X") in recoverable(cells, naive)


def test_row_with_only_small_cells_suppresses_the_whole_table() -> None:
    cells = {
        ("astana", "A"): Cell(2, 2),
        ("astana", "B"): Cell(3, 3),
        ("almaty", "A"): Cell(40, 30),
        ("almaty", "B"): Cell(50, 30),
        (NATIONAL, "A"): Cell(42, 32),
        (NATIONAL, "B"): Cell(53, 33),
    }
    assert suppress_table(cells, K) == set(cells)


def test_unknown_patients_count_as_small() -> None:
    cells = {
        ("astana", "A"): Cell(50, None),
        ("astana", "B"): Cell(50, 40),
        ("astana", "C"): Cell(60, 40),
        (NATIONAL, "A"): Cell(50, 45),
        (NATIONAL, "B"): Cell(50, 40),
        (NATIONAL, "C"): Cell(60, 40),
    }
    assert ("astana", "A") in suppress_table(cells, K)


def test_zero_count_cells_are_absent_groups_not_published_figures() -> None:
    cells = {
        ("astana", "A"): Cell(0, 0),
        ("astana", "B"): Cell(50, 40),
        (NATIONAL, "B"): Cell(50, 40),
    }
    assert suppress_table(cells, K) == frozenset()


def test_determined_cells_are_the_bridges() -> None:
    # A 2x2 cycle protects all four; a pendant cell is fixed by its row total.
    cycle = {("a", "X"), ("a", "Y"), ("b", "X"), ("b", "Y")}
    assert determined_cells(cycle) == frozenset()
    assert determined_cells(cycle | {("c", "Z")}) == {("c", "Z")}
    assert determined_cells({("a", "X"), ("a", "Y")}) == {("a", "X"), ("a", "Y")}


# --- partitions (prevalence) ------------------------------------------------------------------


def _alternative_exists(counts: dict, suppressed: frozenset, key: str) -> bool:
    """Another non-negative integer assignment of the suppressed keys with the same sum where
    ``key`` differs (the total and the visible keys stay as published)."""
    others = [other for other in suppressed if other != key]
    if not others:
        return False
    if counts[key] > 0:
        return True  # move one to another suppressed key
    return any(counts[other] > 0 for other in others)  # take one from a positive key


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from((*REGIONS, "karaganda", "aktobe")), st.integers(0, 12)))
def test_partition_total_minus_visible_never_recovers_a_suppressed_region(counts) -> None:
    suppressed = suppress_partition(counts, K)
    assert {key for key, count in counts.items() if count < K} <= suppressed
    if sum(counts.values()) == 0 or len(counts) == 1:
        # A zero national total says every region is zero; a single region is the total.
        assert suppressed == {key for key, count in counts.items() if count < K}
        return
    for key in suppressed:
        assert _alternative_exists(counts, suppressed, key), (counts, suppressed, key)


def test_partition_examples() -> None:
    assert suppress_partition({"astana": 3, "almaty": 40, "shymkent": 20}, K) == {
        "astana",
        "shymkent",
    }
    assert suppress_partition({"astana": 30, "almaty": 40}, K) == frozenset()
    # Two zeros and a large region: zeros alone would be recovered (total - visible = 0).
    assert suppress_partition({"astana": 0, "almaty": 0, "shymkent": 90}, K) == {
        "astana",
        "almaty",
        "shymkent",
    }
    assert suppress_partition({"astana": 2, "almaty": 1, "shymkent": 90}, K) == {
        "astana",
        "almaty",
    }

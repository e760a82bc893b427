"""The attacker of managers' aggregates: linear programming over every table a manager saw.

Written independently of ``gateway/resolvers`` (it reads only what the gateway published). The
unknowns are the figures of each calendar month, region and group (every period a manager may
ask is a run of whole months, so nothing finer ever matters): for each table grouping, the count
and the amount of month x region x key, and each month x region total. What the attacker knows:

- every visible figure of every table asked for (any period, grouping, national or regional
  view): the sum of its months and regions equals the published count and amount;
- a listed but suppressed row has a count of at least 1; a key not listed in a table is 0 there;
- every grouping of a month and region adds up to the same total (dispensations: exactly;
  ambulance calls: at most, since a call without a diagnosis is in no diagnosis row); the
  MONTH rows are those totals, and a REGION row is the sum of its region's totals;
- the national view is the sum of the configured regions (with ``other_region``, plus an
  unpublished row for regions without an EHR; without it the attacker is told there is none,
  which only makes it stronger);
- patients: a row's patients are at most its count and at least 1 when listed (also when a
  shown row withholds them, as a national row over several months may); a group's
  patients over a period are at least those of any month or shorter period in it, at most
  the sum of its months and at most the sum of any two periods that cover it; the national
  patients of a group (or of a month) are at least each region's and at most their sum; a
  region's (or the nation's) patients in a month, and a region's over a period (REGION), are
  at least those of any group in it, and for dispensations at most their sum over the groups
  of any one grouping.

For each suppressed figure the attacker minimises and maximises it (HiGHS, through
``highspy``). ``findings`` lists every figure pinned to a narrower interval than wanted:
count: max - min >= k; patients: max - min >= k - 1 (a suppressed group is at most as large as
a published one holding it, which may have exactly k patients: [1, k] still holds k values);
amount: max - min >= what no published figure accounts for, given by the caller from the
truth (a suppressed single-month regional row: its amount; a national one: the amount of its
suppressed regional rows; a period: the sum over its months), so no price is pinned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations

import highspy
import numpy as np

NATIONAL = None  # the national view
OTHER = "*other"  # the unpublished row of regions without an EHR
TOTALS = "MONTH"  # the grouping whose rows are a month's totals
REGION = "REGION"


@dataclass(frozen=True)
class Table:
    """One answer: the months of its period, its grouping, its view, its rows as published."""

    months: tuple[str, ...]
    grouping: str
    view: str | None
    rows: tuple[dict, ...]


@dataclass(frozen=True)
class Finding:
    """A suppressed figure the attacker pins: which, what measure, its interval, what was due."""

    months: tuple[str, ...]
    grouping: str
    row: str | None
    key: str
    measure: str
    low: float
    high: float
    due: float


@dataclass
class _Model:
    """Variables (all at least zero) and constraints of one linear program, kept sparse.

    Before the first solve, what the published figures fix outright is substituted: a sum of
    zero makes each of its variables zero, a one-variable equation fixes that variable. The
    solver then holds only what is really unknown (a few hundred variables, not thousands).
    """

    names: dict[tuple, int] = field(default_factory=dict)
    eq: list[tuple[dict[int, float], float]] = field(default_factory=list)
    ub: list[tuple[dict[int, float], float]] = field(default_factory=list)
    fixed: dict[int, float] = field(default_factory=dict)
    _columns: dict[int, int] | None = None  # variable -> solver column, once reduced
    _highs: highspy.Highs | None = None

    def var(self, name: tuple) -> int:
        return self.names.setdefault(name, len(self.names))

    def equal(self, terms: dict[int, float], value: float) -> None:
        self.eq.append((terms, value))

    def at_most(self, terms: dict[int, float], value: float) -> None:
        self.ub.append((terms, value))

    def at_least(self, terms: dict[int, float], value: float) -> None:
        self.ub.append(({i: -c for i, c in terms.items()}, -value))

    def bounds(self, objective: dict[int, float]) -> tuple[float, float]:
        """Min and max of ``objective`` (inf when unbounded)."""
        solver, columns = self._solver()
        if any(i >= len(self.names) for i in objective):
            raise ValueError("the objective names a figure the model does not hold")
        constant = sum(c * self.fixed[i] for i, c in objective.items() if i in self.fixed)
        free = {columns[i]: c for i, c in objective.items() if i not in self.fixed}
        if not free:
            return constant, constant
        n = len(columns)
        solver.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
        solver.changeColsCost(
            len(free), np.array(list(free), dtype=np.int32), np.array(list(free.values()))
        )
        found = []
        for sense in (highspy.ObjSense.kMaximize, highspy.ObjSense.kMinimize):
            solver.changeObjectiveSense(sense)
            solver.run()
            status = solver.getModelStatus()
            if status == highspy.HighsModelStatus.kUnknown:  # the warm start lost its way
                solver.clearSolver()
                solver.run()
                status = solver.getModelStatus()
            if status in (
                highspy.HighsModelStatus.kUnbounded,
                highspy.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                return -np.inf, np.inf
            if status != highspy.HighsModelStatus.kOptimal:
                reason = solver.modelStatusToString(status)
                raise AssertionError(f"the published figures are inconsistent: {reason}")
            found.append(constant + solver.getInfo().objective_function_value)
        high, low = found
        return low, high

    def _reduce(self) -> None:
        """Substitute every variable the equations fix; check nothing contradicts."""
        changed = True
        while changed:
            changed = False
            for terms, value in self.eq:
                rest = {i: c for i, c in terms.items() if i not in self.fixed}
                left = value - sum(c * self.fixed[i] for i, c in terms.items() if i in self.fixed)
                if not rest:
                    if abs(left) > 1e-6:
                        raise AssertionError("the published figures are inconsistent")
                elif len(rest) == 1:
                    ((i, c),) = rest.items()
                    self.fixed[i] = left / c
                    changed = True
                elif abs(left) < 1e-9 and all(c > 0 for c in rest.values()):
                    self.fixed.update(dict.fromkeys(rest, 0.0))
                    changed = True

    def _solver(self) -> tuple[highspy.Highs, dict[int, int]]:
        if self._highs is not None and self._columns is not None:
            return self._highs, self._columns
        self._reduce()
        columns: dict[int, int] = {}
        for i in range(len(self.names)):
            if i not in self.fixed:
                columns[i] = len(columns)
        n = len(columns)
        floor, ceiling = np.zeros(n), np.full(n, highspy.kHighsInf)
        kept_ub = []
        for terms, value in self.ub:  # a bound on one variable is a column bound, not a row
            rest = {columns[i]: c for i, c in terms.items() if i not in self.fixed}
            left = value - sum(c * self.fixed[i] for i, c in terms.items() if i in self.fixed)
            if len(rest) != 1:
                kept_ub.append((terms, value))
                continue
            ((column, c),) = rest.items()
            if c > 0:
                ceiling[column] = min(ceiling[column], left / c)
            else:
                floor[column] = max(floor[column], left / c)
        solver = highspy.Highs()
        solver.setOptionValue("output_flag", False)
        solver.addCols(n, np.zeros(n), floor, ceiling, 0, [], [], [])
        for rows, is_equal in ((self.eq, True), (kept_ub, False)):
            starts: list[int] = []
            indices: list[int] = []
            values: list[float] = []
            rhs: list[float] = []
            for terms, value in rows:
                rest = {columns[i]: c for i, c in terms.items() if i not in self.fixed}
                left = value - sum(c * self.fixed[i] for i, c in terms.items() if i in self.fixed)
                if not rest:
                    if left < -1e-6 or (is_equal and left > 1e-6):
                        raise AssertionError("the published figures are inconsistent")
                    continue
                starts.append(len(indices))
                indices.extend(rest)
                values.extend(rest.values())
                rhs.append(left)
            if not rhs:
                continue
            upper = np.array(rhs, dtype=float)
            lower = upper if is_equal else np.full(len(rhs), -highspy.kHighsInf)
            solver.addRows(
                len(rhs),
                lower,
                upper,
                len(indices),
                np.array(starts, dtype=np.int32),
                np.array(indices, dtype=np.int32),
                np.array(values, dtype=float),
            )
        self._highs, self._columns = solver, columns
        return solver, columns


class Audit:
    """Every table one manager (or colluding managers) saw, and what they can infer from it."""

    def __init__(
        self,
        regions: Iterable[str],
        groupings: Iterable[str],
        complete: bool,
        k: int,
        other_region: bool = False,
    ) -> None:
        self.regions = tuple(regions)
        self.groupings = tuple(groupings)  # the table groupings (not MONTH or REGION)
        self.complete = complete
        self.k = k
        self.rows = (*self.regions, OTHER) if other_region else self.regions
        self.tables: list[Table] = []

    def add(self, table: Table) -> None:
        """One more published answer."""
        self.tables.append(table)

    # --- the model ----------------------------------------------------------------------------

    def _months(self) -> list[str]:
        return sorted({m for t in self.tables for m in t.months})

    def _universe(self) -> dict[str, set[str]]:
        keys: dict[str, set[str]] = defaultdict(set)
        for table in self.tables:
            if table.grouping in self.groupings:
                keys[table.grouping].update(row["key"] for row in table.rows)
        return keys

    def _rows_of(self, view: str | None) -> tuple[str, ...]:
        return self.rows if view is NATIONAL else (view,)

    def _figure(self, table: Table, key: str, measure: str) -> dict[tuple, float]:
        """The atoms a published row adds up (as variable names with coefficient 1)."""
        rows = self._rows_of(table.view)
        if table.grouping == TOTALS:
            return {(measure, "t", key, r): 1.0 for r in rows}
        if table.grouping == REGION:
            return {(measure, "t", m, key): 1.0 for m in table.months}
        return {(measure, "x", m, r, table.grouping, key): 1.0 for m in table.months for r in rows}

    def _keys(self, table: Table, universe: dict[str, set[str]]) -> set[str]:
        if table.grouping == TOTALS:
            return set(table.months)
        if table.grouping == REGION:  # regions without an EHR are not modelled one by one
            return set(self.regions) if table.view is NATIONAL else {table.view}
        return universe[table.grouping]

    def _additive_model(self, measure: str) -> _Model:
        """Counts (``measure`` = "n") or amounts ("a"): every published figure and the links."""
        model = _Model()
        universe = self._universe()
        months = self._months()
        asked = [g for g in self.groupings if any(t.grouping == g for t in self.tables)]
        for m in months:
            for r in self.rows:
                total = model.var((measure, "t", m, r))
                for grouping in asked:  # a grouping never asked tells nothing
                    terms = {
                        model.var((measure, "x", m, r, grouping, key)): 1.0
                        for key in universe[grouping]
                    }
                    terms[total] = -1.0
                    if self.complete:
                        model.equal(terms, 0.0)
                    else:
                        model.at_most(terms, 0.0)
        for table in self.tables:
            listed = {row["key"]: row for row in table.rows}
            for key in self._keys(table, universe):
                figure = self._figure(table, key, measure)
                terms = {model.var(name): c for name, c in figure.items()}
                row = listed.get(key)
                if row is None:
                    model.equal(terms, 0.0)
                elif not row["suppressed"]:
                    model.equal(terms, _value(row, measure))
                elif measure == "n":
                    model.at_least(terms, 1.0)
        return model

    def _patients_model(self) -> _Model:
        """Counts and patients together (patients are bounded by counts, not additive)."""
        model = self._additive_model("n")
        universe = self._universe()
        cells: dict[tuple, int] = {}  # (months, grouping, row, key) -> patients variable
        for table in self.tables:
            listed = {row["key"]: row for row in table.rows}
            for key in self._keys(table, universe):
                name = self._patients_name(table, key)
                p = model.var(name)
                cells[name[1:]] = p
                row = listed.get(key)
                count = {model.var(v): c for v, c in self._figure(table, key, "n").items()}
                if row is None:
                    model.equal({p: 1.0}, 0.0)
                elif not row["suppressed"] and row["patients"] is not None:
                    model.equal({p: 1.0}, float(row["patients"]))
                else:  # suppressed, or shown with its patients withheld
                    model.at_least({p: 1.0}, 1.0)
                    model.at_most({p: 1.0, **{i: -c for i, c in count.items()}}, 0.0)
        self._patients_links(model, cells)
        return model

    def _patients_name(self, table: Table, key: str) -> tuple:
        """Patients of a published row: MONTH rows are a region's (or the nation's) patients of
        one month, REGION rows a region's over the period; others a group's."""
        if table.grouping == TOTALS:
            return ("p", (key,), "*", table.view or "*nat", "*")
        if table.grouping == REGION:
            return ("p", table.months, "*", key, "*")
        return ("p", table.months, table.grouping, table.view or "*nat", key)

    def _patients_links(self, model: _Model, cells: dict[tuple, int]) -> None:
        by_group: dict[tuple, dict[tuple[str, ...], int]] = defaultdict(dict)
        for (months, grouping, row, key), p in cells.items():
            by_group[(grouping, row, key)][months] = p
        for periods in by_group.values():
            for months, p in periods.items():
                if len(months) < 2:
                    continue
                within = [q for q in periods if q != months and set(q) <= set(months)]
                for q in within:
                    model.at_least({p: 1.0, periods[q]: -1.0}, 0.0)  # at least any part's
                parts = [periods.get((m,)) for m in months]
                if all(part is not None for part in parts):
                    terms = {p: 1.0}
                    for part in parts:
                        terms[part] = terms.get(part, 0.0) - 1.0
                    model.at_most(terms, 0.0)  # at most the sum of its months
                for a, b in combinations(within, 2):
                    if set(a) | set(b) == set(months):  # at most the sum of two that cover it
                        model.at_most({p: 1.0, periods[a]: -1.0, periods[b]: -1.0}, 0.0)
        # National patients of a group (or of a month): at least each region's, at most their
        # sum.
        for (months, grouping, row, key), p in cells.items():
            if row != "*nat":
                continue
            if grouping == "*":  # a MONTH row: the regions' are their MONTH rows
                parts = [cells.get((months, "*", r, "*")) for r in self.regions]
            else:
                parts = [cells.get((months, grouping, r, key)) for r in self.regions]
            for part in parts:
                if part is not None:
                    model.at_least({p: 1.0, part: -1.0}, 0.0)
            if OTHER not in self.rows and all(part is not None for part in parts):
                model.at_most({p: 1.0, **{part: -1.0 for part in parts}}, 0.0)
        # A row's patients in a period: at least any group's; for complete groupings, at most
        # the sum of its groups in any one grouping.
        rows: dict[tuple, int] = {}
        for (months, grouping, row, _key), p in cells.items():
            if grouping == "*":
                rows[(months, row)] = p
        for (months, grouping, row, _key), p in cells.items():
            total = rows.get((months, row))
            if grouping != "*" and total is not None:
                model.at_least({total: 1.0, p: -1.0}, 0.0)
        if self.complete:
            groups: dict[tuple, list[int]] = defaultdict(list)
            for (months, grouping, row, _key), p in cells.items():
                if grouping != "*":
                    groups[(months, grouping, row)].append(p)
            for (months, _grouping, row), members in groups.items():
                total = rows.get((months, row))
                if total is not None:
                    terms = {total: 1.0}
                    for member in members:
                        terms[member] = terms.get(member, 0.0) - 1.0
                    model.at_most(terms, 0.0)

    # --- the attack ---------------------------------------------------------------------------

    def findings(
        self,
        hidden_amount: Callable[[Table, str], Decimal] | None = None,
        patients: bool = True,
    ) -> list[Finding]:
        """Every suppressed figure the attacker pins too narrowly (see the module docstring).

        ``hidden_amount(table, key)`` is the true amount of a suppressed row's suppressed parts
        (from the ground truth); without it amounts are not audited.
        """
        found: list[Finding] = []
        suppressed: dict[tuple, tuple[Table, str]] = {}
        for table in self.tables:
            for row in table.rows:
                if row["suppressed"]:
                    suppressed.setdefault(self._identity(table, row["key"]), (table, row["key"]))
        counts = self._additive_model("n")
        for (months, grouping, row, key), (table, _) in suppressed.items():
            terms = {counts.var(n): c for n, c in self._figure(table, key, "n").items()}
            low, high = counts.bounds(terms)
            if high - low < self.k:
                found.append(Finding(months, grouping, row, key, "count", low, high, self.k))
        if hidden_amount is not None:
            amounts = self._additive_model("a")
            for (months, grouping, row, key), (table, _) in suppressed.items():
                due = float(hidden_amount(table, key))
                if due <= 0:
                    continue
                terms = {amounts.var(n): c for n, c in self._figure(table, key, "a").items()}
                low, high = amounts.bounds(terms)
                if high - low < due - 1e-6:
                    found.append(Finding(months, grouping, row, key, "amount", low, high, due))
        if patients:
            model = self._patients_model()
            for (months, grouping, row, key), (table, _) in suppressed.items():
                p = model.var(self._patients_name(table, key))
                low, high = model.bounds({p: 1.0})
                if high - low < self.k - 1:
                    found.append(
                        Finding(months, grouping, row, key, "patients", low, high, self.k - 1)
                    )
        return found

    def _identity(self, table: Table, key: str) -> tuple:
        """The same figure, whichever table shows it."""
        if table.grouping == REGION:
            return (table.months, REGION, key, key)
        if table.grouping == TOTALS:
            return ((key,), TOTALS, table.view, key)
        return (table.months, table.grouping, table.view, key)


def _value(row: dict, measure: str) -> float:
    if measure == "n":
        return float(row["count"])
    return float(Decimal(str(row["amountKzt"] or 0)))

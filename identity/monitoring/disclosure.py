"""Small counts are never published, nor left recomputable from the counts that are.

One rule for every published statistic (the rollout statistics, the
dashboard, the coordination aggregates): a count under ``min_count``
(default 10; zero included, so that which small groups exist is not told
either) is hidden, published as ``null``. That is the *primary* suppression.

Published counts are also sums of one another: a province's total is the sum
of its communes', a place's total the sum of its statuses, a month-end total
the last one plus the month's activations. A hidden cell could be recomputed
by subtraction: province total minus every other commune. So the published
figures are described as :class:`Line` s (``total = sum of parts``) and
:func:`protect` adds *complementary* suppression until, on every line,

- the hidden parts are none, or all zero, or at least two whose sum is at
  least ``min_count`` (a subtraction gives only a sum over several hidden
  cells, never one, and never a small one), or a single never-published
  part that is not small (the counters with no place); and
- a hidden total has at least one hidden part (else it is the sum of them).

The complement chosen is the smallest visible part (ties by key), else the
total; the lines are worked in one canonical order (their text), so the
same counts give the same hidden cells in every process. This is the
classic line rule of statistical offices (each row and column of a table
holds zero or at least two hidden cells, with a protection level); it is
applied over the whole hierarchy at once (country, provinces, communes), so
every view hides the same cells and no view gives back what another hides.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The default threshold (``STATS_MIN_COUNT``, ``COORDINATION_MIN_COUNT``).
MIN_COUNT = 10


def is_small(count: int, min_count: int) -> bool:
    """Whether a count must not be published: the one rule of every published statistic."""
    return count < min_count


def cell(count: int, min_count: int) -> dict[str, Any]:
    """``{"count": n or None, "suppressed": bool}``: one cell of a published table."""
    hidden = is_small(count, min_count)
    return {"count": None if hidden else count, "suppressed": hidden}


@dataclass(frozen=True)
class Line:
    """A published relation: ``values[total] == sum(values[part] for part in parts)``.

    ``zeros`` counts further parts that are zero (hidden, as every small
    count, and never chosen as a complement): a reader cannot tell them from
    small ones, and listing every empty commune of a province would cost
    time for nothing.
    """

    total: Hashable
    parts: tuple[Hashable, ...]
    zeros: int = 0


def make_line(total: Hashable, parts: Iterable[Hashable], values: Mapping[Any, int]) -> Line:
    """A :class:`Line` keeping only the parts with a count; the empty ones are ``zeros``."""
    parts = tuple(parts)
    counted = tuple(part for part in parts if values.get(part, 0))
    return Line(total, counted, len(parts) - len(counted))


class _Solver:
    """The line rule, kept incrementally: each line knows its hidden parts' count and sum.

    A long line (a province's hundred communes) is never scanned again when
    one more of its parts is hidden; its visible parts wait in a heap, the
    smallest first, for the next complement.
    """

    def __init__(self, values: Mapping[Any, int], lines: Iterable[Line], min_count: int,
                 unpublished: frozenset[Hashable]) -> None:
        self.values, self.min_count, self.never = values, min_count, unpublished
        lines = list(lines)
        # Hidden from the start: every small count (zero included) and the unpublished keys;
        # a key of a line that has no count is a zero.
        self.hidden: set[Hashable] = {key for key, value in values.items()
                                      if is_small(value, min_count) or key in unpublished}
        zero_hidden = is_small(0, min_count)
        for line in lines:
            for key in (line.total, *line.parts):
                if key not in values and (zero_hidden or key in unpublished):
                    self.hidden.add(key)
        # What is hidden of each line from the start: number of parts, their sum, the first.
        start = [self._hidden_parts(line) for line in lines]
        kept = sorted((index for index, line in enumerate(lines)
                       if not self._settled(line, *start[index])),
                      key=lambda index: _line_order(lines[index]))
        self.lines = [lines[index] for index in kept]
        self.count = [start[index][0] for index in kept]
        self.mass = [start[index][1] for index in kept]
        self.first: list[Hashable | None] = [start[index][2] for index in kept]
        self.heaps: list[list[tuple[int, int, Hashable]] | None] = [None] * len(self.lines)
        self.as_part: dict[Hashable, list[int]] = defaultdict(list)
        self.as_total: dict[Hashable, list[int]] = defaultdict(list)
        for index, line in enumerate(self.lines):
            self.as_total[line.total].append(index)
            for part in line.parts:
                self.as_part[part].append(index)
        self.pending = list(range(len(self.lines)))
        self.queued = set(self.pending)

    def _hidden_parts(self, line: Line) -> tuple[int, int, Hashable | None, bool]:
        """``(count, sum, first, no part negative)`` of the parts of ``line`` hidden now."""
        count = mass = 0
        first = None
        plain = True
        for part in line.parts:
            value = self.values.get(part, 0)
            plain = plain and value >= 0
            if part in self.hidden:
                count += 1
                mass += value
                if first is None:
                    first = part
        return count, mass, first, plain

    def _settled(self, line: Line, count: int, mass: int, first: Hashable | None,
                 plain: bool) -> bool:
        """Whether the line can never call for a complement, whatever is hidden later.

        Hiding more only adds to a line's hidden parts (and, no part being
        negative, to their sum). So a line is settled when its total is
        hidden and one of its parts is (or it has none), or when its hidden
        parts are already two or more (zeros included) holding ``min_count``
        or more. Most lines of a sparse table are: every line of a place
        whose cells are all small, a province's communes when the small
        ones add up. They are left out of the work.
        """
        if line.total in self.hidden:
            return count > 0 or not line.parts
        return plain and count + line.zeros >= 2 and mass >= self.min_count > 0

    def hide(self, key: Hashable) -> None:
        """Hide ``key`` and queue every line it is on."""
        self.hidden.add(key)
        value = self.values.get(key, 0)
        for index in self.as_part.get(key, ()):
            self.count[index] += 1
            self.mass[index] += value
            if self.first[index] is None:
                self.first[index] = key
            self._queue(index)
        for index in self.as_total.get(key, ()):
            self._queue(index)

    def _queue(self, index: int) -> None:
        if index not in self.queued:
            self.queued.add(index)
            self.pending.append(index)

    def needs_complement(self, index: int) -> bool:
        """Whether a subtraction along this line gives back one hidden cell or a small sum."""
        line, count, mass = self.lines[index], self.count[index], self.mass[index]
        if line.total in self.hidden:
            return count == 0 and not line.zeros and bool(line.parts)
        if mass == 0 or (count + line.zeros >= 2 and mass >= self.min_count):
            return False
        # One hidden part is given back by subtraction: fine only for a never-published part
        # (say, the counters with no place) that is not small itself.
        return not (count == 1 and self.first[index] in self.never and mass >= self.min_count)

    def complement(self, index: int) -> Hashable | None:
        """The smallest visible part of the line (ties: the first), else its total."""
        heap = self.heaps[index]
        if heap is None:
            heap = [(self.values.get(part, 0), position, part)
                    for position, part in enumerate(self.lines[index].parts)
                    if part not in self.hidden]
            heapq.heapify(heap)
            self.heaps[index] = heap
        while heap and heap[0][2] in self.hidden:
            heapq.heappop(heap)
        if heap:
            return heap[0][2]
        total = self.lines[index].total
        return None if total in self.hidden else total

    def run(self) -> frozenset[Hashable]:
        """Add complements until no line calls for one (each adds a key: it ends)."""
        while self.pending:
            index = self.pending.pop()
            self.queued.discard(index)
            if self.needs_complement(index):
                extra = self.complement(index)
                if extra is not None:
                    self.hide(extra)
        return frozenset(self.hidden)


def _line_order(line: Line) -> str:
    """A line's place in the canonical order: its text, the same in every process."""
    return repr((line.total, line.parts, line.zeros))


def protect(values: Mapping[Any, int], lines: Iterable[Line], min_count: int, *,
            unpublished: Iterable[Hashable] = ()) -> frozenset[Hashable]:
    """The keys to hide: every small count, and the complements the lines call for.

    ``unpublished`` keys are parts no view shows (counted as hidden from the
    start, whatever their size). Which complements are chosen depends on
    the order the lines are worked in, so they are worked in one canonical
    order (not the callers', which follows set iteration, randomised per
    process, and the database's row order): every process and every node
    hides the same cells for the same counts.
    """
    return _Solver(values, lines, min_count, frozenset(unpublished)).run()


class Published:
    """Counts with the keys to hide: ``get(key)`` is the count, or None when hidden."""

    def __init__(self, values: Mapping[Any, int], lines: Iterable[Line], min_count: int,
                 *, unpublished: Iterable[Hashable] = ()) -> None:
        self.values = values
        self.min_count = min_count
        self.hidden = protect(values, lines, min_count, unpublished=unpublished)

    def get(self, key: Hashable) -> int | None:
        """The published value of ``key`` (a key never counted is 0), or None if hidden."""
        count = int(self.values.get(key, 0))
        return None if key in self.hidden or is_small(count, self.min_count) else count

    def shown(self, *keys: Hashable) -> bool:
        """Whether every one of ``keys`` is published."""
        return all(self.get(key) is not None for key in keys)

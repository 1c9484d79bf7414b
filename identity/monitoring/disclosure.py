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
total. This is the classic line rule of statistical offices (each row and
column of a table holds zero or at least two hidden cells, with a protection
level); it is applied over the whole hierarchy at once (country, provinces,
communes), so every view hides the same cells and no view gives back what
another hides.
"""
from __future__ import annotations

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


def _needs_complement(line: Line, values: Mapping[Hashable, int], hidden: set[Hashable],
                      min_count: int, unpublished: frozenset[Hashable]) -> bool:
    hidden_parts = [part for part in line.parts if part in hidden]
    if line.total in hidden:
        return not hidden_parts and not line.zeros and bool(line.parts)
    mass = sum(values.get(part, 0) for part in hidden_parts)
    if mass == 0 or (len(hidden_parts) + line.zeros >= 2 and mass >= min_count):
        return False
    # One hidden part is given back by subtraction: fine only for a never-published part
    # (say, the counters with no place) that is not small itself.
    return not (len(hidden_parts) == 1 and hidden_parts[0] in unpublished
                and mass >= min_count)


def _complement(line: Line, values: Mapping[Hashable, int],
                hidden: set[Hashable]) -> Hashable | None:
    visible = [part for part in line.parts if part not in hidden]
    if visible:
        return min(visible, key=lambda part: (values.get(part, 0), repr(part)))
    return None if line.total in hidden else line.total


def protect(values: Mapping[Any, int], lines: Iterable[Line], min_count: int, *,
            unpublished: Iterable[Hashable] = ()) -> frozenset[Hashable]:
    """The keys to hide: every small count, and the complements the lines call for.

    ``unpublished`` keys are parts no view shows (counted as hidden from the
    start, whatever their size).
    """
    lines = list(lines)
    keys = set(values).union(*((line.total, *line.parts) for line in lines))
    hidden = {key for key in keys if is_small(values.get(key, 0), min_count)}
    never = frozenset(unpublished)
    hidden.update(never)
    by_key: dict[Hashable, list[int]] = defaultdict(list)
    for index, line in enumerate(lines):
        for key in (line.total, *line.parts):
            by_key[key].append(index)
    pending = list(range(len(lines)))
    queued = set(pending)
    while pending:  # each round hides one more key: it ends
        index = pending.pop()
        queued.discard(index)
        line = lines[index]
        if not _needs_complement(line, values, hidden, min_count, never):
            continue
        extra = _complement(line, values, hidden)
        if extra is None:
            continue
        hidden.add(extra)
        for other in by_key[extra]:
            if other not in queued:
                queued.add(other)
                pending.append(other)
    return frozenset(hidden)


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

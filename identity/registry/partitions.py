"""The registry in partitions by province of birth (PostgreSQL), and the citizen ids that make
them work.

A look-up by personal id prunes to one partition only if the partition key comes from the
personal id, and a partitioned table's unique keys must hold its partition key. ``citizens.id``
is what five tables reference by foreign key and what the audit log (the citizen's access log)
names as subject, so it stays the one key, and it is made to carry the province:

- a citizen written from migration 0018 on has the id
  ``NEW_IDS + province * PROVINCE_SPAN + permuted(rest)``: ``province`` the first three digits
  of the personal id (the province where the birth was registered, which never changes, unlike
  the residence), ``rest`` the other nine digits through a keyed permutation
  (:func:`citizen_id`), so an id in a log or a dump tells the province of birth and nothing
  else of the personal id (the same permutation serves every province: a shared nine digits
  across provinces would show as a shared id tail, which tells nothing of either);
- ``citizens`` is partitioned by range of ``id`` in eight partitions of consecutive province
  codes (:data:`RANGES`, about eight provinces each, north to south: ``citizens_p001_013``
  holds the ids of provinces 001 to 013). Not one per province: PostgreSQL plans a statement
  that cannot prune (a join from ``accounts``, a look-up by phone or household) over every
  partition, and with 63 partitions that cost 1.1 ms a look-up by phone and 100 µs an account
  read with its citizen; with eight, some 20 µs (``docs/benchmarks.md``, "The registry by
  province of birth"). There is no default partition, so a row of any other id is refused.
  A check on the table ties each id to the first three digits of its personal id, so a unique
  index on ``personal_id`` in each partition is unique across the table;
- ``citizens_legacy`` holds the rows written before migration 0018, with the ids they had
  (below :data:`NEW_IDS`), attached as they stood; a trigger refuses a new row for a personal
  id the legacy partition holds. A database made empty has no legacy partition.

A look-up says both where the citizen is and who they are (:class:`ByPersonalId`): the personal
id, and an id in its partition's range or in the legacy range, the ranges written into the
statement, one statement per partition. PostgreSQL then prunes when it plans, so the plan it
keeps for a prepared statement reads one partition (two with a legacy partition); with the
ranges as parameters it pruned only when it ran the statement, and planned it again at every
run (a plan over all partitions costs more than one made for the values). The key is not
needed to read, only to write a new citizen. The importer upserts on ``id``, which identifies a
personal id exactly as the personal id does (the permutation is one to one).

SQLite keeps one table, with the same ids.
"""
from __future__ import annotations

import bisect
import functools
import hmac
import re
import sys
from array import array
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: Ids below this are the ones written before migration 0018 (a sequence's).
NEW_IDS = 10**12
#: Ids of one province of birth: the nine digits after the province's three.
PROVINCE_SPAN = 10**9
#: Rounds of the permutation (as many as NIST's FF1 takes), and the bits of each half: the
#: nine digits (under 2**30) in two halves of 15 bits.
ROUNDS = 10
HALF_BITS = 15

TABLE = "citizens"
#: The partitions, as ranges of province codes ``[first, end)``: eight ranges of about eight of
#: the 63 codes of 2016 each (migration 0018 makes the same).
RANGES = ((1, 14), (14, 26), (26, 37), (37, 49), (49, 64), (64, 77), (77, 89), (89, 100))
_FIRSTS = [first for first, _ in RANGES]
_NAMES = re.compile(r"citizens_(legacy|p\d{3}_\d{3})")

T = TypeVar("T")


def partition_name(first: int, end: int) -> str:
    """The partition of the provinces ``[first, end)`` (``1, 14``: ``citizens_p001_013``)."""
    return f"{TABLE}_p{first:03d}_{end - 1:03d}"


def is_partition(name: str | None) -> bool:
    """Whether ``name`` is a partition of ``citizens`` (Alembic leaves them out of its
    comparison of the models with the database: the models know only ``citizens``)."""
    return bool(name) and _NAMES.fullmatch(name or "") is not None


def province_range(province: int) -> tuple[int, int]:
    """The ids of a province of birth: ``[lower, upper)``."""
    lower = NEW_IDS + province * PROVINCE_SPAN
    return lower, lower + PROVINCE_SPAN


def partition_of(personal_id: str) -> tuple[int, int] | None:
    """The ids ``[lower, upper)`` of the partition that holds ``personal_id``'s citizen, if
    any (None: it does not begin with three digits, or with a code of no partition)."""
    prefix = personal_id[:3]
    if not (prefix.isascii() and prefix.isdigit()):
        return None
    at = bisect.bisect_right(_FIRSTS, int(prefix)) - 1
    if at < 0 or int(prefix) >= RANGES[at][1]:
        return None
    first, end = RANGES[at]
    return province_range(first)[0], province_range(end)[0]


@functools.lru_cache(maxsize=4)
def id_key(lookup_key: bytes) -> bytes:
    """The permutation's key, derived from ``LOOKUP_HASH_KEY`` (which, like the ids, never
    changes: the phones' look-up hashes are made with it too)."""
    return hmac.digest(lookup_key, b"citizen-id/v1", "sha256")


@functools.lru_cache(maxsize=4)
def round_tables(key: bytes, half_bits: int = HALF_BITS) -> tuple[array[int], ...]:
    """The Feistel network's round functions under ``key``, tabulated: round ``r`` maps a
    half ``x`` to the low ``half_bits`` bits of the first 16 of AES-256 of the block
    ``r || 0... || x``. All rounds of all halves are one ECB pass of 5 MiB (some 30 ms, once per
    process and key), after which a permutation is ten look-ups, not ten AES calls from
    Python (the import computes one per row)."""
    size = 1 << half_bits
    halves = array("H", range(size))
    if sys.byteorder == "little":
        halves.byteswap()
    big_endian = halves.tobytes()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    tables = []
    for round_ in range(ROUNDS):
        blocks = bytearray(16 * size)
        blocks[0::16] = bytes((round_,)) * size
        blocks[14::16] = big_endian[0::2]
        blocks[15::16] = big_endian[1::2]
        table = array("H", encryptor.update(bytes(blocks)))[::8]  # each block's first 2 bytes
        if sys.byteorder == "little":
            table.byteswap()
        # Masked to a half, in an array: a look-up in 64 KiB of contiguous memory is a third of
        # one in a list of int objects.
        tables.append(array("H", (value & (size - 1) for value in table)))
    return tuple(tables)


def permute_many(values: list[int], *, key: bytes, domain: int = PROVINCE_SPAN,
                 half_bits: int = HALF_BITS) -> list[int]:
    """A keyed permutation of ``[0, domain)``, applied to each of ``values``.

    A balanced Feistel network over ``2 * half_bits`` bits is a permutation of
    ``[0, 2**(2 * half_bits))`` whatever its round functions (here a PRF, AES:
    :func:`round_tables`); walking the cycle (applying it again while the result is outside
    ``domain``) makes it one of ``[0, domain)``. Under a microsecond a value.
    """
    if domain > 1 << (2 * half_bits) or not all(0 <= value < domain for value in values):
        raise ValueError("value outside the permutation's domain")
    tables = round_tables(key, half_bits)
    mask = (1 << half_bits) - 1
    out = []
    for value in values:
        while True:
            left, right = value >> half_bits, value & mask
            for table in tables:
                left, right = right, left ^ table[right]
            value = (left << half_bits) | right
            if value < domain:
                break
        out.append(value)
    return out


def permute(value: int, *, key: bytes, domain: int = PROVINCE_SPAN,
            half_bits: int = HALF_BITS) -> int:
    """:func:`permute_many` of one value."""
    return permute_many([value], key=key, domain=domain, half_bits=half_bits)[0]


def citizen_ids(personal_ids: list[str], lookup_key: bytes) -> list[int]:
    """The ids of the citizens of ``personal_ids`` (12 ASCII digits each) under
    ``LOOKUP_HASH_KEY``."""
    rests = permute_many([int(personal_id[3:]) for personal_id in personal_ids],
                         key=id_key(lookup_key))
    return [NEW_IDS + int(personal_id[:3]) * PROVINCE_SPAN + rest
            for personal_id, rest in zip(personal_ids, rests)]


def citizen_id(personal_id: str, lookup_key: bytes) -> int:
    """The id of the citizen of ``personal_id`` (:func:`citizen_ids` of one)."""
    return citizen_ids([personal_id], lookup_key)[0]


def where_personal_id(table: sa.FromClause, bounds: tuple[int, int] | None) -> \
        sa.ColumnElement[bool]:
    """The citizen of the bound ``personal_id`` in the partition of ``bounds`` (None: in
    none): the personal id, and an id in those bounds or a legacy one, written as literals so
    PostgreSQL prunes when it plans."""
    if bounds is None:
        return sa.false()
    ids, (lower, upper) = table.c.id, bounds
    return sa.and_(
        table.c.personal_id == sa.bindparam("personal_id"),
        sa.or_(sa.and_(ids >= sa.literal_column(str(lower)), ids < sa.literal_column(str(upper))),
               ids < sa.literal_column(str(NEW_IDS))))


def partition_of_id(citizen_id: int) -> tuple[int, int] | None:
    """The ids ``[lower, upper)`` of the partition that holds ``citizen_id``: the legacy
    range for an id below :data:`NEW_IDS`, None for an id of no partition."""
    if citizen_id < NEW_IDS:
        return (0, NEW_IDS) if citizen_id > 0 else None
    province = (citizen_id - NEW_IDS) // PROVINCE_SPAN
    return partition_of(f"{province:03d}") if province < 1000 else None


def where_id(table: sa.FromClause, bounds: tuple[int, int] | None) -> sa.ColumnElement[bool]:
    """The citizen of the bound ``id``, in the partition of ``bounds`` (literals: PostgreSQL
    prunes when it plans)."""
    if bounds is None:
        return sa.false()
    ids, (lower, upper) = table.c.id, bounds
    return sa.and_(ids == sa.bindparam("id"), ids >= sa.literal_column(str(lower)),
                   ids < sa.literal_column(str(upper)))


class ByPersonalId(Generic[T]):
    """A statement that finds a citizen by the bound ``personal_id``, one per partition, each
    made on first use by ``build`` from the condition (:func:`where_personal_id`)."""

    _where = staticmethod(where_personal_id)
    _bounds: Callable[[Any], tuple[int, int] | None] = staticmethod(partition_of)

    def __init__(self, table: sa.FromClause,
                 build: Callable[[sa.ColumnElement[bool]], T]) -> None:
        self._table, self._build = table, build
        self._made: dict[tuple[int, int] | None, T] = {}

    def __call__(self, key: Any) -> T:
        """The statement for the partition of ``key`` (here a personal id)."""
        bounds = self._bounds(key)
        made = self._made.get(bounds)
        if made is None:
            made = self._made[bounds] = self._build(self._where(self._table, bounds))
        return made


class ById(ByPersonalId[T]):
    """:class:`ByPersonalId` by the bound ``id`` (:func:`where_id`): a citizen read by id, as
    ``session.get`` does, but planned for one partition; ``session.get``'s statement, the id a
    parameter, was planned again at every run (75 µs more than on one table)."""

    _where = staticmethod(where_id)
    _bounds = staticmethod(partition_of_id)

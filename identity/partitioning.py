"""What the models do not describe of a PostgreSQL database's partitions, which Alembic leaves
out of its comparison of the two (``migrations/env.py``, ``tests/test_migrations.py``).

The models know ``audit_events`` and ``citizens``, not the partitions made under them
(:mod:`identity.audit.partitions`, :mod:`identity.registry.partitions`); and a partitioned
``citizens`` keeps each personal id unique by a unique index in each partition, since a key of
the partitioned table must hold its partition key (the model's unique key is SQLite's).
"""
from __future__ import annotations

from typing import Any

from identity.audit import partitions as audit
from identity.registry import partitions as registry


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: every name but a partition's."""
    return not (type_ == "table" and (audit.is_partition(name) or registry.is_partition(name)))


def include_object(object_: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Alembic's ``include_object`` hook: everything but the model's unique key on the personal
    id where the database has none (PostgreSQL: one in each partition instead), and the copies
    of a foreign key that PostgreSQL keeps for each partition of the table it references."""
    if type_ == "foreign_key_constraint" and reflected:
        return not registry.is_partition(object_.referred_table.name)
    return not (type_ == "unique_constraint" and name == "uq_citizens_personal_id"
                and not reflected and compare_to is None)


COMPARE = {"include_name": include_name, "include_object": include_object}

"""The registry by province of birth (:mod:`identity.registry.partitions`): ids that carry the
province and hide the rest of the personal id, and on PostgreSQL eight partitions of provinces
of which a look-up by personal id reads one alone."""
from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from identity.accounts.sessions import login_subject
from identity.registry import partitions
from identity.registry.admin_units import former_provinces
from identity.registry.partitions import NEW_IDS, PROVINCE_SPAN, citizen_id, permute
from identity.registry.service import citizen_by_id, get_citizen
from identity.relying_parties.matching import party_and_citizen
from tests.factories import add_citizen, personal_id_for

ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="partitions are PostgreSQL's; "
                                                           "SQLite keeps one table")
KEY = b"\x07" * 32
_DIGITS = st.text(alphabet="0123456789", min_size=9, max_size=9)


def test_the_permutation_is_one_to_one_over_a_whole_small_domain():
    # The same network and cycle walk as the ids' 10**9, over a domain small enough to see whole.
    images = [permute(value, key=KEY, domain=10_000, half_bits=7) for value in range(10_000)]
    assert sorted(images) == list(range(10_000))
    assert images != list(range(10_000))


@given(rest=_DIGITS, province=st.sampled_from(sorted(former_provinces())))
def test_an_id_carries_the_province_and_comes_back_the_same(rest, province):
    personal_id = province + rest
    found = citizen_id(personal_id, KEY)
    lower, upper = partitions.province_range(int(province))
    assert lower <= found < upper and lower == NEW_IDS + int(province) * PROVINCE_SPAN
    assert citizen_id(personal_id, KEY) == found
    partition = partitions.partition_of(personal_id)
    assert partition is not None and partition[0] <= found < partition[1]


def test_the_partitions_cover_every_province_once_in_order():
    codes = sorted(int(code) for code in former_provinces())
    covering = [[code for code in codes if first <= code < end]
                for first, end in partitions.RANGES]
    assert sum(covering, []) == codes and all(6 <= len(part) <= 9 for part in covering)
    assert [end for _, end in partitions.RANGES[:-1]] == \
        [first for first, _ in partitions.RANGES[1:]]
    assert partitions.partition_of("000123456789") is None
    assert partitions.partition_of("0a1123456789") is None


def test_ids_tell_nothing_of_the_rest_of_the_personal_id_without_the_key():
    neighbours = [f"079{n:09d}" for n in range(123_456_000, 123_456_200)]
    tails = [citizen_id(pid, KEY) % PROVINCE_SPAN for pid in neighbours]
    # Consecutive personal ids are scattered over the province's billion, not kept in order...
    assert len(set(tails)) == len(tails) and sorted(tails) != tails
    assert max(tails) - min(tails) > PROVINCE_SPAN // 2
    # ...and another key gives other ids.
    assert [citizen_id(pid, b"\x08" * 32) for pid in neighbours[:20]] != \
        [citizen_id(pid, KEY) for pid in neighbours[:20]]


def test_an_id_that_does_not_begin_with_three_digits_finds_no_citizen(db_session, protector):
    add_citizen(db_session, protector)
    assert get_citizen(db_session=db_session, personal_id="abc123456789") is None


def test_every_look_up_by_personal_id_finds_the_citizen_of_its_id(db_session, protector):
    citizen = add_citizen(db_session, protector)
    assert citizen.id == citizen_id(citizen.personal_id, protector.lookup_key)
    assert get_citizen(db_session=db_session, personal_id=citizen.personal_id) is citizen
    assert login_subject(db_session, citizen.personal_id) == (citizen.id, None)
    assert login_subject(db_session, personal_id_for(dt.date(1990, 1, 1), "M", 999_999)) == \
        (None, None)
    _, compared = party_and_citizen(db_session, party_id=0, personal_id=citizen.personal_id)
    assert compared is None  # no party 0: the citizen is read only along with a party's row


def test_a_citizen_by_id_is_the_sessions_own_or_read_from_their_partition(db_session, protector):
    citizen = add_citizen(db_session, protector)
    assert citizen_by_id(db_session, citizen.id) is citizen
    db_session.expunge(citizen)
    again = citizen_by_id(db_session, citizen.id)
    assert again is not None and again is not citizen and again.personal_id == citizen.personal_id
    assert citizen_by_id(db_session, citizen.id + 1) is None
    assert partitions.partition_of_id(citizen.id) == partitions.partition_of(citizen.personal_id)
    assert partitions.partition_of_id(42) == (0, NEW_IDS)  # a legacy id
    assert partitions.partition_of_id(0) is None and partitions.partition_of_id(NEW_IDS) is None


# --- PostgreSQL -----------------------------------------------------------------------------

def _sql(statement: Any, db_session: Any) -> str:
    return str(statement.compile(dialect=db_session.get_bind().dialect))


@postgres_only
def test_eight_partitions_of_provinces_and_no_other(db_session):
    names = set(db_session.scalars(sa.text(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'citizens'::regclass")))
    assert names == {partitions.partition_name(first, end) for first, end in partitions.RANGES}
    assert "citizens_p001_013" in names and all(partitions.is_partition(name) for name in names)
    assert db_session.scalar(sa.text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_citizens'"
    )) == "PRIMARY KEY (id)"


@postgres_only
def test_a_citizen_lands_in_the_partition_of_their_province_of_birth(db_session, protector):
    born = dt.date(1990, 5, 17)
    for province, partition in (("001", "citizens_p001_013"), ("079", "citizens_p077_088"),
                                ("096", "citizens_p089_099")):
        citizen = add_citizen(db_session, protector, birth=born,
                              personal_id=personal_id_for(born, "M", 4242, province))
        assert db_session.scalar(sa.text(
            "SELECT tableoid::regclass::text FROM citizens WHERE id = :id"),
            {"id": citizen.id}) == partition


@postgres_only
@pytest.mark.parametrize("generic", [False, True], ids=["custom plan", "generic plan"])
def test_a_look_up_by_personal_id_reads_one_partition(db_session, protector, generic):
    """Each statement that finds a citizen by personal id, planned for its values and as the
    generic plan of a prepared statement: the partition's bounds are written into the
    statement, so PostgreSQL prunes when it plans, whatever the personal id."""
    from identity.accounts import sessions
    from identity.registry import service
    from identity.relying_parties import matching

    citizen = add_citizen(db_session, protector)
    pid = citizen.personal_id
    db_session.execute(sa.text("SET LOCAL plan_cache_mode = "
                               + ("force_generic_plan" if generic else "force_custom_plan")))
    for statement in (service._BY_PERSONAL_ID(pid), matching._MATCHED(pid).statement,
                      matching._PARTY_AND_MATCHED(pid).statement.statement,
                      sessions._SUBJECT(pid).statement, service._BY_ID(citizen.id)):
        assert _partitions_read(db_session, statement, {
            "personal_id": pid, "closed": "closed", "party_id": 1, "id": citizen.id}) == \
            {"citizens_p001_013"}, statement


def _partitions_read(db_session: Any, statement: Any, params: dict[str, Any]) -> set[str]:
    """The partitions of ``citizens`` that ``statement``, prepared, reads when executed."""
    sql = _sql(statement, db_session)
    names = [name for name in sorted(params) if f"%({name})s" in sql]
    for number, name in enumerate(names, start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    db_session.execute(sa.text("DEALLOCATE ALL"))
    db_session.execute(sa.text(f"PREPARE lookup AS {sql}"))
    arguments = ", ".join(f"'{params[name]}'" for name in names)
    plan = db_session.scalar(sa.text(
        f"EXPLAIN (FORMAT JSON, ANALYZE, COSTS OFF) EXECUTE lookup ({arguments})"))
    plan = json.loads(plan) if isinstance(plan, str) else plan
    read: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        # A partition pruned only when the statement ran is still in the plan, and PostgreSQL
        # plans it again at every run (a plan over every partition costs more than one made
        # for the values): the plan itself must hold only the partitions read.
        assert not node.get("Subplans Removed"), node
        if node.get("Relation Name", "").startswith("citizens"):
            read.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    db_session.execute(sa.text("DEALLOCATE lookup"))
    return read


@postgres_only
def test_an_id_that_does_not_carry_its_personal_ids_province_is_refused(db_session, protector):
    citizen = add_citizen(db_session, protector)
    wrong = partitions.province_range(2)[0] + 5  # in the same partition as 001
    with pytest.raises(sa.exc.IntegrityError, match="ck_citizens_id_province"), \
            db_session.begin_nested():
        db_session.execute(sa.text(
            "INSERT INTO citizens SELECT :id, '001' || substr(personal_id, 4) || '', full_name, "
            "name_key, date_of_birth, gender, nationality, ethnicity, place_of_origin, "
            "province_code, commune_code, address, NULL, NULL, NULL, NULL, NULL, created_at, "
            "updated_at FROM citizens WHERE id = :source").bindparams(id=wrong, source=citizen.id))
    # An id of no province (and not a legacy one, there being no legacy partition) has nowhere
    # to go.
    with pytest.raises(sa.exc.IntegrityError, match="no partition"), db_session.begin_nested():
        db_session.execute(sa.text(
            "UPDATE citizens SET id = 5 WHERE id = :id").bindparams(id=citizen.id))

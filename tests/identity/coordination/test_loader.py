"""Loading a source's file: streamed batches, rejected rows, idempotent re-loads, resuming."""
from __future__ import annotations

import csv
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from identity.audit.service import Actor
from identity.coordination import sources
from identity.coordination.errors import LoadFileError
from identity.coordination.generator import Holder, generate_records
from identity.coordination.kinds import KINDS
from identity.coordination.loader import load_file
from identity.coordination.models import LoadRun, SourceDailyCount, SourceRecord
from identity.coordination.sim_report import write_sim_report
from tests.factories import add_citizen

ACTOR = Actor(type="operator", id="test", source="cli")


@pytest.fixture()
def people(db_session, protector):
    return [add_citizen(db_session, protector, serial=710000 + n) for n in range(30)]


def _source(db_session: Any, protector: Any, kind: str = "driving_licence",
            name: str = "csgt-gplx") -> Any:
    return sources.create_source(db_session=db_session, protector=protector, actor=ACTOR,
                                 name=name, kind=kind).source


def _holders(people: list[Any]) -> list[Holder]:
    return [Holder(p.personal_id, p.full_name, p.date_of_birth, p.gender) for p in people]


def _count(db_session: Any, **where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(SourceRecord)
    for name, value in where.items():
        query = query.where(getattr(SourceRecord, name) == value)
    return int(db_session.scalar(query))


def test_a_generated_file_loads_in_batches_with_its_junk_found(db_session, protector,
                                                               session_factory, people, tmp_path):
    source = _source(db_session, protector)
    path = tmp_path / "gplx.csv"
    generate_records(kind="driving_licence", holders=_holders(people), rows=30, out=path,
                     seed=7, unknown=0.2, mismatch=0.2)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("GPLX-BAD,12345,Nguyễn Văn A,1990-01-01,M,valid,,,1,B2\n")
        fh.write("too,few\n")
    progress: list[tuple[int, int]] = []
    summary = load_file(session_factory=session_factory, source=source, path=path,
                        protector=protector, actor=ACTOR, batch_size=7,
                        progress=lambda done, rows: progress.append((done, rows)))
    assert summary.status == "completed" and summary.batches == 5
    assert (summary.rows_read, summary.written, summary.rejected) == (32, 30, 2)
    assert summary.linked + summary.mismatched + summary.unknown_id == 30
    assert summary.unknown_id > 0 and summary.mismatched > 0
    assert _count(db_session, link_state="unknown_id") == summary.unknown_id
    assert progress[-1] == (path.stat().st_size, 32)
    report = Path(summary.report_path or "")
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    rows = list(csv.DictReader(report.read_text(encoding="utf-8").splitlines()))
    assert [(r["line"], r["code"]) for r in rows] == [("32", "personal_id.length"),
                                                      ("33", "row.columns")]
    counts = db_session.scalars(sa.select(SourceDailyCount)).one()
    assert (counts.received, counts.rejected) == (32, 2)

    again = load_file(session_factory=session_factory, source=source, path=path,
                      protector=protector, actor=ACTOR, batch_size=7)
    assert (again.written, again.unchanged) == (0, 30)
    assert _count(db_session) == 30


def test_an_interrupted_run_resumes_after_its_committed_lines(db_session, protector,
                                                              session_factory, people, tmp_path):
    source = _source(db_session, protector)
    path = tmp_path / "gplx.csv"
    generate_records(kind="driving_licence", holders=_holders(people), rows=30, out=path,
                     unknown=0, mismatch=0)
    calls = 0

    def crash(done: int, rows: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_file(session_factory=session_factory, source=source, path=path,
                  protector=protector, actor=ACTOR, batch_size=10, progress=crash)
    failed = db_session.scalars(sa.select(LoadRun)).one()
    assert (failed.status, failed.lines_done) == ("failed", 20)
    assert _count(db_session) == 20
    resumed = load_file(session_factory=session_factory, source=source, path=path,
                        protector=protector, actor=ACTOR, batch_size=10)
    assert (resumed.run_id, resumed.resumed_from_line, resumed.rows_read) == (failed.id, 20, 10)
    assert resumed.status == "completed" and _count(db_session) == 30


def test_worker_processes_give_the_same_result(db_session, protector, session_factory, people,
                                               tmp_path):
    path = tmp_path / "gplx.csv"
    generate_records(kind="driving_licence", holders=_holders(people), rows=30, out=path,
                     seed=9, unknown=0.2, mismatch=0.2)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("too,few\n")
    outcomes = []
    for workers in (0, 2):
        source = _source(db_session, protector, name=f"gplx-{workers}")
        report = tmp_path / f"rejected-{workers}.csv"
        summary = load_file(session_factory=session_factory, source=source, path=path,
                            protector=protector, actor=ACTOR, batch_size=7, workers=workers,
                            report_path=report)
        outcomes.append((summary.status, summary.rows_read, summary.written, summary.linked,
                         summary.mismatched, summary.unknown_id, summary.rejected,
                         summary.batches, summary.rejection_codes, summary.file_sha256,
                         report.read_text(encoding="utf-8")))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1:3] == (31, 30)


def test_a_fresh_run_that_rejects_nothing_leaves_no_report_behind(db_session, protector,
                                                                  session_factory, people,
                                                                  tmp_path):
    source = _source(db_session, protector)
    path = tmp_path / "gplx.csv"
    generate_records(kind="driving_licence", holders=_holders(people), rows=10, out=path,
                     unknown=0, mismatch=0)
    stale = Path(f"{path}.rejected.csv")  # from an earlier, broken version of the file
    stale.write_text("line,record_id,code,field,message,raw\n2,,row.columns,,,x\n")
    summary = load_file(session_factory=session_factory, source=source, path=path,
                        protector=protector, actor=ACTOR)
    assert (summary.written, summary.rejected, summary.report_path) == (10, 0, None)
    assert not stale.exists()


def test_json_lines_load_and_unreadable_files_are_refused(db_session, protector,
                                                          session_factory, people, tmp_path):
    source = _source(db_session, protector, kind="telecom", name="viettel")
    path = tmp_path / "viettel.jsonl"
    lines = [json.dumps({"record_id": f"S{n}", "personal_id": p.personal_id,
                         "full_name": p.full_name, "date_of_birth": p.date_of_birth.isoformat(),
                         "phone": f"09130{n:05d}"}, ensure_ascii=False)
             for n, p in enumerate(people[:3])]
    path.write_text("\n".join([*lines, "[1, 2]", "{broken"]) + "\n", encoding="utf-8")
    summary = load_file(session_factory=session_factory, source=source, path=path,
                        protector=protector, actor=ACTOR)
    assert (summary.linked, summary.rejected) == (3, 2)
    assert summary.rejection_codes == {"row.malformed": 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,personal_id\n", encoding="utf-8")
    with pytest.raises(LoadFileError, match="lacks the columns"):
        load_file(session_factory=session_factory, source=source, path=bad,
                  protector=protector, actor=ACTOR)


def test_the_sim_report_lists_unknown_mismatched_and_crowded_subscriptions(
        db_session, protector, session_factory, people, tmp_path):
    source = _source(db_session, protector, kind="telecom", name="viettel")
    path = tmp_path / "viettel.csv"
    written = generate_records(kind="telecom", holders=_holders(people), rows=60, out=path,
                               seed=3, unknown=0.1, mismatch=0.1, crowded=0.2)
    summary = load_file(session_factory=session_factory, source=source, path=path,
                        protector=protector, actor=ACTOR)
    assert summary.written == written
    out = tmp_path / "report.csv"
    counts = write_sim_report(db_session=db_session, protector=protector, operator="viettel",
                              max_per_id=3, out=out)
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert counts["subscriptions"] == len(rows) > 0
    assert counts["unknown_id"] == summary.unknown_id
    assert counts["data_mismatch"] == summary.mismatched
    crowded = [r for r in rows if "over_limit" in r["reasons"]]
    assert crowded and all(int(r["subscriptions_of_id"]) > 3 for r in crowded)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert all(r["phone"].startswith("0") and len(r["phone"]) == 10 for r in rows)


def test_every_kind_has_a_generator_whose_records_pass_its_rules(db_session, protector,
                                                                 session_factory, people,
                                                                 tmp_path):
    for kind in KINDS:
        source = _source(db_session, protector, kind=kind, name=f"src-{kind.replace('_', '-')}")
        path = tmp_path / f"{kind}.csv"
        generate_records(kind=kind, holders=_holders(people[:10]), rows=10, out=path,
                         unknown=0, mismatch=0, crowded=0)
        summary = load_file(session_factory=session_factory, source=source, path=path,
                            protector=protector, actor=ACTOR)
        assert (kind, summary.linked, summary.rejected) == (kind, 10, 0), summary

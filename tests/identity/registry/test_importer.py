"""The registry import: streaming, validation, batches, upserts, rejections, audit."""
from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.audit import service as audit
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from identity.registry import import_writes
from identity.registry.errors import ImportFileError
from identity.registry.generator import generate_citizens
from identity.registry.importer import import_citizens
from identity.registry.models import Citizen, ImportRun
from identity.registry.service import citizen_phone, find_by_phone, get_citizen
from tests.factories import HEADER, CitizenRowFactory, write_registry_csv

ACTOR = Actor(type="operator", id="cli:test", source="cli")


def run_import(session_factory, protector, path: Path, **kwargs):
    kwargs.setdefault("batch_size", 50)
    return import_citizens(session_factory=session_factory, path=path, protector=protector,
                           actor=ACTOR, **kwargs)


def report_rows(path: str | None) -> list[dict[str, str]]:
    assert path is not None
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def count(session_factory, model=Citizen) -> int:
    with session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_generated_file_imports_unchanged(tmp_path, session_factory, protector):
    path = tmp_path / "citizens.csv"
    generate_citizens(count=300, out=path, seed=7)
    summary = run_import(session_factory, protector, path)
    assert (summary.status, summary.rows_read, summary.rows_imported, summary.rows_rejected) == (
        "completed", 300, 300, 0)
    assert summary.batches == 6
    assert summary.report_path is None and not Path(str(path) + ".rejected.csv").exists()
    assert count(session_factory) == 300
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with session_factory() as session:
        for row in rows[::37]:
            citizen = get_citizen(db_session=session, personal_id=row["personal_id"])
            assert citizen is not None
            assert citizen.full_name == row["full_name"]
            assert citizen.date_of_birth.isoformat() == row["date_of_birth"]
            assert (citizen.household_id, citizen.relation_to_head) == (
                row["household_id"], row["relation_to_head"])
            assert citizen_phone(protector=protector, citizen=citizen) == (row["phone"] or None)
            if row["phone"]:
                assert citizen.phone_encrypted is not None
                assert row["phone"].encode() not in citizen.phone_encrypted
                found = find_by_phone(db_session=session, protector=protector, phone=row["phone"])
                assert [c.personal_id for c in found] == [row["personal_id"]]
        run = session.get(ImportRun, summary.run_id)
        assert run.status == "completed" and run.rows_imported == 300
        assert run.file_sha256 == summary.file_sha256 and len(run.file_sha256) == 64


def test_reimport_upserts_instead_of_duplicating(tmp_path, session_factory, protector):
    rows = CitizenRowFactory.build_batch(120)
    path = write_registry_csv(tmp_path / "first.csv", rows)
    run_import(session_factory, protector, path)
    rows[5]["full_name"] = "Lê Thị Hồng Nhung"
    rows[7]["phone"] = "0987654321"
    second = run_import(session_factory, protector, write_registry_csv(tmp_path / "b.csv", rows))
    assert (second.rows_imported, second.rows_rejected) == (120, 0)
    assert count(session_factory) == 120
    with session_factory() as session:
        changed = get_citizen(db_session=session, personal_id=rows[5]["personal_id"])
        assert changed.full_name == "Lê Thị Hồng Nhung"
        assert changed.import_run_id == second.run_id
        rephoned = get_citizen(db_session=session, personal_id=rows[7]["personal_id"])
        assert citizen_phone(protector=protector, citizen=rephoned) == "0987654321"


def test_bad_rows_are_reported_with_line_code_and_field(tmp_path, session_factory, protector):
    good = CitizenRowFactory.build_batch(3)
    bad_length = CitizenRowFactory(personal_id="00109001234")
    bad_century = CitizenRowFactory(gender="F")
    bad_century["personal_id"] = "001" + "0" + bad_century["personal_id"][4:]  # says male
    bad_province = CitizenRowFactory()
    bad_province["personal_id"] = "003" + bad_province["personal_id"][3:]
    unknown_commune = CitizenRowFactory(commune_code="99999")
    foreign_commune = CitizenRowFactory(commune_code="25747")  # Thủ Dầu Một, province 79
    bad_phone = CitizenRowFactory(phone="024 3825 1234")  # a landline
    zero_width = CitizenRowFactory(full_name="Nguyễn\u200bVăn An")
    control = CitizenRowFactory(address="Số 1\x07 phố Huế")
    future = CitizenRowFactory(date_of_birth="2999-01-01")
    fullwidth = CitizenRowFactory(personal_id="００１０６０１２３４５６")
    rows = [*good, bad_length, bad_century, bad_province, unknown_commune, foreign_commune,
            bad_phone, zero_width, control, future, fullwidth]
    summary = run_import(session_factory, protector,
                         write_registry_csv(tmp_path / "mixed.csv", rows))
    assert (summary.rows_read, summary.rows_imported, summary.rows_rejected) == (13, 3, 10)
    report = report_rows(summary.report_path)
    assert [(r["line"], r["code"], r["field"]) for r in report] == [
        ("5", "personal_id.length", "personal_id"),
        ("6", "personal_id.century_gender", "personal_id"),
        ("7", "personal_id.province", "personal_id"),
        ("8", "commune.unknown", "commune_code"),
        ("9", "commune.unknown", "commune_code"),
        ("10", "phone.invalid", "phone"),
        ("11", "name.characters", "full_name"),
        ("12", "text.control_characters", "address"),
        ("13", "date_of_birth.range", "date_of_birth"),
        ("14", "personal_id.digits", "personal_id"),
    ]
    assert report[0]["personal_id"] == "00109001234"  # the operator sees what to fix
    assert oct(Path(summary.report_path).stat().st_mode & 0o777) == "0o600"
    assert count(session_factory) == 3


def test_nfd_names_are_stored_nfc_and_match_case_insensitively(tmp_path, session_factory,
                                                               protector):
    row = CitizenRowFactory(full_name=unicodedata.normalize("NFD", "Nguyễn  Thị Ánh"))
    run_import(session_factory, protector, write_registry_csv(tmp_path / "nfd.csv", [row]))
    with session_factory() as session:
        citizen = get_citizen(db_session=session, personal_id=row["personal_id"])
    assert citizen.full_name == unicodedata.normalize("NFC", "Nguyễn Thị Ánh")
    assert citizen.name_key == unicodedata.normalize("NFC", "nguyễn thị ánh")


def test_structural_problems_are_rejected_and_reading_goes_on(
        tmp_path, session_factory, protector):
    good = CitizenRowFactory.build_batch(2)
    path = write_registry_csv(tmp_path / "broken.csv", good)
    huge = CitizenRowFactory(address="x" * 5000)
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write("001060100001,only,three\n")
        fh.write(",".join(huge[c] for c in HEADER) + "\n")
        fh.write('"unterminated,' + ",".join(good[0][c] for c in HEADER[1:]) + "\n")
    summary = run_import(session_factory, protector, path)
    codes = [(r["line"], r["code"]) for r in report_rows(summary.report_path)]
    assert codes == [("4", "row.columns"), ("5", "row.too_large"), ("6", "row.malformed")]
    assert summary.rows_imported == 2
    assert count(session_factory) == 2


def test_non_utf8_row_is_rejected_not_mangled(tmp_path, session_factory, protector):
    row = CitizenRowFactory(full_name="Nguyen Van X", address="So 1 pho Hue",
                            place_of_origin="Ha Noi")
    text = ",".join(row[c] for c in HEADER).replace("Nguyen Van X", "Nguy\xe9n Van X")
    path = tmp_path / "latin1.csv"
    path.write_bytes((",".join(HEADER) + "\n").encode() + text.encode("latin-1") + b"\n")
    summary = run_import(session_factory, protector, path)
    assert [(r["line"], r["code"]) for r in report_rows(summary.report_path)] == [
        ("2", "row.encoding")]
    assert count(session_factory) == 0


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\xff\xfepersonal_id,full_name\n", "not UTF-8"),
    (b"personal_id,full_name,date_of_birth\n001060100000,A,1960-01-01\n", "lacks the columns"),
    ((",".join(HEADER + ["personal_id"]) + "\n").encode(), "twice"),
])
def test_unreadable_files_write_nothing(tmp_path, session_factory, protector, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        run_import(session_factory, protector, path)
    assert count(session_factory, ImportRun) == 0
    assert count(session_factory) == 0


def test_missing_file_is_refused(tmp_path, session_factory, protector):
    with pytest.raises(ImportFileError, match="not a file"):
        run_import(session_factory, protector, tmp_path / "nope.csv")


@pytest.mark.parametrize("batch_size", [50, 3])
def test_duplicate_ids_in_one_file_import_once(tmp_path, session_factory, protector, batch_size):
    rows = CitizenRowFactory.build_batch(6)
    again = dict(rows[1], full_name="Phạm Văn Khác")
    summary = run_import(session_factory, protector,
                         write_registry_csv(tmp_path / "dups.csv", [*rows, again]),
                         batch_size=batch_size)
    assert (summary.rows_imported, summary.rows_rejected) == (6, 1)
    assert [(r["line"], r["code"]) for r in report_rows(summary.report_path)] == [
        ("8", "row.duplicate")]
    with session_factory() as session:
        kept = get_citizen(db_session=session, personal_id=rows[1]["personal_id"])
    assert kept.full_name == rows[1]["full_name"]  # the first occurrence wins


def test_a_failing_batch_leaves_earlier_batches_whole_and_itself_unwritten(
        tmp_path, session_factory, protector, monkeypatch):
    path = write_registry_csv(tmp_path / "c.csv", CitizenRowFactory.build_batch(25))
    calls = {"n": 0}
    original = import_writes.record_event

    def failing_record_event(**kwargs):
        if kwargs["action"] == "registry.import_batch":
            calls["n"] += 1
            if calls["n"] == 2:
                raise ConnectionError("database connection lost")
        return original(**kwargs)

    monkeypatch.setattr(import_writes, "record_event", failing_record_event)
    with pytest.raises(ConnectionError):
        run_import(session_factory, protector, path, batch_size=10)
    assert count(session_factory) == 10  # batch 1 whole, batch 2 not half-written
    with session_factory() as session:
        run = session.scalars(sa.select(ImportRun)).one()
        assert (run.status, run.batches_committed, run.rows_imported) == ("failed", 1, 10)
        assert run.error == "ConnectionError"
    monkeypatch.setattr(import_writes, "record_event", original)
    retry = run_import(session_factory, protector, path, batch_size=10)
    assert (retry.rows_imported, count(session_factory)) == (25, 25)


def test_progress_is_reported_in_bytes_and_rows(tmp_path, session_factory, protector):
    path = write_registry_csv(tmp_path / "p.csv", CitizenRowFactory.build_batch(30))
    seen: list[tuple[int, int]] = []
    run_import(session_factory, protector, path, batch_size=10,
               progress=lambda done, rows: seen.append((done, rows)))
    assert [rows for _, rows in seen] == [10, 20, 30]
    assert seen[-1][0] == path.stat().st_size
    assert seen == sorted(seen)


def test_imports_are_the_first_audit_entries_and_the_chain_verifies(tmp_path, session_factory,
                                                                    protector):
    rows = CitizenRowFactory.build_batch(12)
    summary = run_import(session_factory, protector,
                         write_registry_csv(tmp_path / "a.csv", rows), batch_size=5)
    with session_factory() as session:
        events = session.scalars(sa.select(AuditEvent).where(
            AuditEvent.subject_type == "registry_import_run",
            AuditEvent.subject_id == str(summary.run_id)).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == [
            "registry.import_started", "registry.import_batch", "registry.import_batch",
            "registry.import_batch", "registry.import_completed"]
        assert all(e.actor_id == "cli:test" and e.source == "cli" for e in events)
        dumped = repr([e.details for e in events])
        assert not any(row["personal_id"] in dumped or row["phone"] in dumped for row in rows)
        report = audit.verify_chain(db_session=session)
        assert report.events >= 5


def test_worker_processes_give_the_same_result(tmp_path, session_factory, protector):
    path = tmp_path / "w.csv"
    generate_citizens(count=400, out=path, seed=11)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("123,bad\n")
    summary = run_import(session_factory, protector, path, batch_size=100, workers=2)
    assert (summary.rows_read, summary.rows_imported, summary.rows_rejected) == (401, 400, 1)
    assert count(session_factory) == 400


_CSV_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(_CSV_TEXT, min_size=0, max_size=15), min_size=1, max_size=8),
       junk=st.binary(max_size=200))
def test_any_file_content_is_imported_or_rejected_never_crashes(
        tmp_path, session_factory, protector, cells, junk):
    """Random rows and bytes after a valid header: every line is accounted for, nothing raises."""
    path = tmp_path / "fuzz.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        valid = CitizenRowFactory()
        writer.writerow([valid[c] for c in HEADER])
        writer.writerows(cells)
    with path.open("ab") as fh:
        fh.write(junk)
    summary = run_import(session_factory, protector, path)
    assert summary.status == "completed"
    assert summary.rows_imported >= 1
    assert summary.rows_imported + summary.rows_rejected == summary.rows_read

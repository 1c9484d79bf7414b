"""Synthetic source files for demos and the bench: records of registry citizens, some of them junk.

Given citizens (personal id, name, date of birth, sex), writes a CSV file of
a source kind, one record per citizen in turn, with on purpose:

- ``unknown``: records whose personal id no citizen holds (valid form);
- ``mismatch``: records whose name or date of birth disagree with the registry;
- for telecom, ``crowded``: ids holding more subscriptions than the legal
  maximum (4 to 6 each).

The output is the same for the same seed and citizens.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from identity.coordination.kinds import KINDS
from identity.registry.generator import MOBILE_PREFIXES
from identity.registry.personal_id import century_gender_digit


class Holder(NamedTuple):
    """What a generated record needs of a registry citizen."""

    personal_id: str
    full_name: str
    date_of_birth: dt.date
    gender: str


CLASSES = ("A1", "A1", "A1", "B2", "B", "C", "A")


def _fields(kind: str, rng: random.Random, n: int, holder: Holder) -> dict[str, str]:
    born = holder.date_of_birth
    if kind == "driving_licence":
        cls = rng.choice(CLASSES)
        issued = dt.date(rng.randrange(min(max(born.year + 18, 2017), 2025), 2026),
                         rng.randrange(1, 13), rng.randrange(1, 29))
        return {"document_number": f"{790000000000 + n:012d}", "licence_class": cls,
                "valid_from": issued.isoformat(),
                "valid_until": "" if cls == "A1" else
                issued.replace(year=issued.year + 10).isoformat()}
    if kind == "health_insurance":
        return {"document_number": f"HN4{n:012d}", "facility": "Bệnh viện Bạch Mai",
                "valid_from": "2026-01-01", "valid_until": "2026-12-31"}
    if kind == "passport":
        issued = dt.date(2020 + rng.randrange(0, 6), rng.randrange(1, 13), rng.randrange(1, 29))
        return {"document_number": f"C{n % 10**7:07d}", "passport_type": "P",
                "valid_from": issued.isoformat(),
                "valid_until": issued.replace(year=issued.year + 10).isoformat()}
    if kind == "education":
        return {"document_number": f"THPT{n:08d}", "qualification": "Bằng tốt nghiệp THPT",
                "institution": "Trường THPT Chu Văn An", "year": str(min(born.year + 18, 2025))}
    if kind == "vehicle":
        return {"document_number": f"DKX{n:09d}", "vehicle_type": "Xe máy",
                "plate": f"29{chr(65 + n % 26)}1-{n % 1000:03d}.{n // 1000 % 100:02d}"}
    prefix = MOBILE_PREFIXES[n % len(MOBILE_PREFIXES)]
    return {"phone": f"{prefix}{(n * 7919 + 7_654_321) % 10**7:07d}",
            "subscription_type": rng.choice(("prepaid", "prepaid", "postpaid"))}


def _unknown_id(rng: random.Random, n: int) -> tuple[str, dt.date, str]:
    born = dt.date(1970 + rng.randrange(0, 40), rng.randrange(1, 13), rng.randrange(1, 29))
    gender = rng.choice("MF")
    return (f"095{century_gender_digit(born, gender)}{born.year % 100:02d}"
            f"{990000 + n % 10000:06d}", born, gender)


def _records(kind: str, holders: Iterable[Holder], rows: int, rng: random.Random,
             unknown: float, mismatch: float, crowded: float,
             clean: int) -> Iterator[dict[str, str]]:
    n = 0
    for holder in holders:
        copies = 1
        if kind == "telecom" and rng.random() < crowded and n >= clean:
            copies = rng.randrange(4, 7)
        for _ in range(copies):
            if n >= rows:
                return
            name, born, gender, pid = (holder.full_name, holder.date_of_birth, holder.gender,
                                       holder.personal_id)
            draw = rng.random() if n >= clean else 1.0
            if draw < unknown:
                pid, born, gender = _unknown_id(rng, n)
            elif draw < unknown + mismatch:
                if rng.random() < 0.5:
                    name = name.rsplit(" ", 1)[0] + " Văn Tèo"
                else:
                    born = born + dt.timedelta(days=1) if born.day < 28 else \
                        born - dt.timedelta(days=1)
            record = {"record_id": f"{kind[:3].upper()}-{n:09d}", "personal_id": pid,
                      "full_name": name, "date_of_birth": born.isoformat(), "gender": gender,
                      "status": "valid"}
            record.update(_fields(kind, rng, n, holder))
            n += 1
            yield record


def generate_records(*, kind: str, holders: Iterable[Holder], rows: int, out: Path,
                     seed: int = 2026, unknown: float = 0.01, mismatch: float = 0.02,
                     crowded: float = 0.01, clean: int = 0,
                     progress: Callable[[int], None] | None = None) -> int:
    """Write up to ``rows`` records of ``kind`` for ``holders`` as CSV; returns how many.

    The first ``clean`` records are never junk (the walkthrough's citizen).
    """
    spec = KINDS[kind]
    columns = list(spec.columns)
    rng = random.Random(seed)
    written = 0
    with Path(out).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for record in _records(kind, holders, rows, rng, unknown, mismatch, crowded,
                               clean):
            writer.writerow([record.get(column, "") for column in columns])
            written += 1
            if progress is not None and written % 10_000 == 0:
                progress(written)
    if progress is not None:
        progress(written)
    return written


def holders_from_registry_csv(path: Path) -> Iterator[Holder]:
    """The citizens of a registry CSV file (as :mod:`identity.registry.generator` writes it)."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            yield Holder(row["personal_id"], row["full_name"],
                         dt.date.fromisoformat(row["date_of_birth"]), row["gender"])

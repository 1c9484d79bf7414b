"""Synthetic citizens for demos, tests and benchmarks.

Writes the registry CSV that :mod:`identity.registry.importer` reads: the same
columns, so a generated file imports unchanged. Citizens come in households
(a head, often a spouse, children, sometimes a parent) sharing an address;
names are Vietnamese with diacritics; personal ids are valid and agree with
the date of birth and gender; about four in five adults have a mobile phone.
The output is the same for the same seed; files of different seeds hold
different phones (:func:`mobile_number`), so they import into one registry.
"""
from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from identity.registry import admin_units
from identity.registry.importer import REQUIRED_COLUMNS
from identity.registry.personal_id import century_gender_digit

FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
                "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lâm", "Mai")
FAMILY_WEIGHTS = (38, 11, 9.5, 7, 5, 5, 4.5, 3.9, 3.9, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5, 0.5,
                  0.5, 0.5, 0.5)
MALE_MIDDLE = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Ngọc", "Gia")
FEMALE_MIDDLE = ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Khánh", "Bảo", "Phương", "Diệu", "Mỹ")
MALE_GIVEN = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
              "Khang", "Khoa", "Kiên", "Long", "Lộc", "Nam", "Nghĩa", "Phong", "Phúc", "Quân",
              "Sơn", "Tài", "Thắng", "Thịnh", "Toàn", "Trung", "Tuấn", "Tùng", "Việt", "Vinh")
FEMALE_GIVEN = ("Anh", "Châu", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hằng", "Hạnh", "Hiền",
                "Hoa", "Hương", "Huyền", "Lan", "Linh", "Loan", "Mai", "My", "Ngân", "Nhung",
                "Oanh", "Phương", "Quỳnh", "Tâm", "Thảo", "Trang", "Trinh", "Uyên", "Vân", "Yến")
STREETS = ("Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt",
           "Điện Biên Phủ", "Quang Trung", "Phan Đình Phùng", "Hùng Vương", "Nguyễn Trãi")
ETHNICITIES = ("Kinh",) * 17 + ("Tày", "Thái", "Mường")
MOBILE_PREFIXES = ("032", "033", "034", "035", "036", "037", "038", "039", "070", "076",
                   "077", "078", "079", "081", "082", "083", "084", "085", "086", "088",
                   "090", "091", "093", "094", "096", "097", "098")
#: How many numbers :func:`mobile_number` orders: every 7-digit body of every prefix.
PHONE_SPACE = len(MOBILE_PREFIXES) * 10**7
#: Where seed s starts in that order: s x PHONE_SPACE / golden ratio (166,869,177), which
#: keeps the seeds' runs far apart: any two seeds below 1,000 start over 120,000 numbers apart.
SEED_STRIDE = 166_869_177


def mobile_number(index: int) -> str:
    """The ``index``-th mobile number of a fixed order of all: any PHONE_SPACE in a row differ."""
    index %= PHONE_SPACE
    # Bodies spread by a multiplier coprime with 10**7: unique without remembering.
    body = (index // len(MOBILE_PREFIXES) * 7919 + 1_234_567) % 10**7
    return MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)] + f"{body:07d}"


class _Generator:
    def __init__(self, seed: int, today: dt.date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.former = sorted(admin_units.former_provinces())
        self.communes = list(admin_units.communes().values())
        self.serials: dict[str, int] = {}
        self.next_phone = seed * SEED_STRIDE
        self.households = 0

    def personal_id(self, birth: dt.date, gender: str) -> str:
        prefix = (self.rng.choice(self.former) + century_gender_digit(birth, gender)
                  + f"{birth.year % 100:02d}")
        serial = self.serials.get(prefix, self.rng.randrange(0, 400_000))
        self.serials[prefix] = serial + 1 + self.rng.randrange(0, 3)
        if serial >= 1_000_000:
            raise ValueError("too many citizens for one province and birth year")
        return f"{prefix}{serial:06d}"

    def birth(self, low_age: int, high_age: int) -> dt.date:
        age_days = self.rng.randrange(max(low_age * 365, 0), max(high_age * 365, 1))
        return max(self.today - dt.timedelta(days=age_days), dt.date(1900, 1, 1))

    def name(self, family: str, gender: str) -> str:
        if gender == "M":
            return f"{family} {self.rng.choice(MALE_MIDDLE)} {self.rng.choice(MALE_GIVEN)}"
        return f"{family} {self.rng.choice(FEMALE_MIDDLE)} {self.rng.choice(FEMALE_GIVEN)}"

    def phone(self, birth: dt.date) -> str:
        if (self.today.year - birth.year) < 16 or self.rng.random() < 0.2:
            return ""
        self.next_phone += 1
        return mobile_number(self.next_phone - 1)

    def household(self) -> list[list[str]]:
        self.households += 1
        household_id = f"HH{self.households:010d}"
        commune = self.rng.choice(self.communes)
        address = (f"Số {self.rng.randrange(1, 400)}, đường {self.rng.choice(STREETS)}, "
                   f"{commune.name}")
        family = self.rng.choices(FAMILY_NAMES, FAMILY_WEIGHTS)[0]
        ethnicity = self.rng.choice(ETHNICITIES)
        head_gender = self.rng.choice("MMMF")
        members: list[tuple[str, dt.date, str, str]] = []
        head_birth = self.birth(22, 80)
        members.append(("head", head_birth, head_gender, family))
        if self.rng.random() < 0.75:
            spouse_family = self.rng.choices(FAMILY_NAMES, FAMILY_WEIGHTS)[0]
            members.append(("spouse", self.birth(max(18, self.today.year - head_birth.year - 6),
                                                 self.today.year - head_birth.year + 4),
                            "F" if head_gender == "M" else "M", spouse_family))
        parent_age = self.today.year - head_birth.year
        for _ in range(self.rng.choice((0, 1, 1, 2, 2, 3))):
            high = max(parent_age - 18, 1)
            members.append(("child", self.birth(0, high), self.rng.choice("MF"), family))
        if parent_age < 50 and self.rng.random() < 0.2:
            members.append(("parent", self.birth(parent_age + 20, min(parent_age + 40, 100)),
                            self.rng.choice("MF"), family))
        origin = self.rng.choice(self.former)
        rows = []
        for relation, birth, gender, surname in members:
            rows.append([self.personal_id(birth, gender), self.name(surname, gender),
                         birth.isoformat(), gender, self.phone(birth), commune.province_code,
                         commune.code, address, household_id, relation, "VN", ethnicity,
                         admin_units.former_provinces()[origin].name])
        return rows


def generate_citizens(*, count: int, out: Path, seed: int = 2022, today: dt.date | None = None,
                      progress: Callable[[int], None] | None = None) -> int:
    """Write ``count`` synthetic citizens to ``out`` as registry CSV; returns the count."""
    gen = _Generator(seed, today or dt.date(2026, 1, 1))
    written = 0
    with Path(out).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*REQUIRED_COLUMNS, "nationality", "ethnicity", "place_of_origin"])
        while written < count:
            for row in gen.household()[:count - written]:
                writer.writerow(row)
                written += 1
            if progress is not None and written % 1000 < 6:
                progress(written)
    if progress is not None:
        progress(written)
    return written

"""Administrative units of Vietnam: the 34 provinces and 3,321 communes of the 2025 reform.

Current units come from the ``vietnam-provinces`` package (official codes of
the General Statistics Office). Codes are written as the registry writes
them: provinces with two digits (``"01"`` Hà Nội), communes with five
(``"00070"`` Phường Hoàn Kiếm).

The 63 provinces in force before the 2025 merger are kept too
(``data/provinces_2016.csv``): their three-digit codes of Circular 07/2016
begin every personal id issued to date, and they name historical addresses.
Each one says which current province it was merged into.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from vietnam_provinces import Province as _Province
from vietnam_provinces import Ward as _Ward


@dataclass(frozen=True)
class Province:
    """A province or centrally governed city, as of the 2025 reform."""

    code: str
    name: str
    kind: str


@dataclass(frozen=True)
class Commune:
    """A commune, ward or special zone (xã, phường, đặc khu)."""

    code: str
    name: str
    kind: str
    province_code: str


@dataclass(frozen=True)
class FormerProvince:
    """One of the 63 provinces of Circular 07/2016, with the province it merged into."""

    code: str
    name: str
    merged_into: str


@cache
def provinces() -> dict[str, Province]:
    """The current provinces by two-digit code, in official order."""
    units = sorted(_Province.iter_all(), key=lambda p: int(p.code))
    return {f"{int(p.code):02d}": Province(code=f"{int(p.code):02d}", name=p.name,
                                           kind=p.division_type.value) for p in units}


@cache
def communes() -> dict[str, Commune]:
    """Every current commune by five-digit code."""
    units = sorted(_Ward.iter_all(), key=lambda w: int(w.code))
    return {f"{int(w.code):05d}": Commune(code=f"{int(w.code):05d}", name=w.name,
                                          kind=w.division_type.value,
                                          province_code=f"{int(w.province_code):02d}")
            for w in units}


@cache
def communes_by_province() -> dict[str, list[Commune]]:
    """Communes grouped by their province code."""
    grouped: dict[str, list[Commune]] = {code: [] for code in provinces()}
    for commune in communes().values():
        grouped[commune.province_code].append(commune)
    return grouped


@cache
def former_provinces() -> dict[str, FormerProvince]:
    """The 63 provinces of Circular 07/2016 by three-digit code."""
    data = resources.files("identity.registry").joinpath("data/provinces_2016.csv")
    text = data.read_text("utf-8")
    return {row["code"]: FormerProvince(**row) for row in csv.DictReader(text.splitlines())}


def commune_in_province(commune_code: str, province_code: str) -> bool:
    """Whether ``commune_code`` is a current commune of ``province_code``."""
    commune = communes().get(commune_code)
    return commune is not None and commune.province_code == province_code

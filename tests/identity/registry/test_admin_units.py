"""Tests of the administrative units (``identity/registry/admin_units.py``).

After the 2025 reform: 34 provinces (two-digit codes) and 3,321 communes
(five-digit codes); beside them the 63 provinces of Circular 07/2016
(three-digit codes), each merged into one current province.
"""
from __future__ import annotations

import pytest

from identity.registry.admin_units import (Commune, FormerProvince, Province,
                                           commune_in_province, communes,
                                           communes_by_province, former_provinces, provinces)


def _is_code(code: str, width: int) -> bool:
    return len(code) == width and code.isascii() and code.isdigit()


def test_there_are_34_provinces() -> None:
    assert len(provinces()) == 34


def test_there_are_3321_communes() -> None:
    assert len(communes()) == 3321


def test_there_are_63_former_provinces() -> None:
    assert len(former_provinces()) == 63


def test_province_codes_are_two_digits_and_keyed_by_code() -> None:
    for code, province in provinces().items():
        assert _is_code(code, 2), code
        assert province.code == code
        assert province.name
        assert province.kind in {"tỉnh", "thành phố trung ương"}


def test_provinces_are_in_official_order() -> None:
    codes = list(provinces())
    assert codes == sorted(codes, key=int)
    assert codes[0] == "01"


def test_commune_codes_are_five_digits_and_keyed_by_code() -> None:
    for code, commune in communes().items():
        assert _is_code(code, 5), code
        assert commune.code == code
        assert commune.name
        assert commune.kind in {"xã", "phường", "đặc khu"}


def test_every_commune_belongs_to_an_existing_province() -> None:
    current = provinces()
    for commune in communes().values():
        assert _is_code(commune.province_code, 2)
        assert commune.province_code in current, commune


def test_every_province_has_communes_and_the_grouping_covers_all() -> None:
    grouped = communes_by_province()
    assert set(grouped) == set(provinces())
    assert all(grouped[code] for code in grouped)
    assert sum(len(members) for members in grouped.values()) == len(communes())
    for code, members in grouped.items():
        assert all(member.province_code == code for member in members)


def test_known_units() -> None:
    assert provinces()["01"] == Province(code="01", name="Thành phố Hà Nội",
                                         kind="thành phố trung ương")
    assert provinces()["79"].name == "Thành phố Hồ Chí Minh"
    assert communes()["00070"] == Commune(code="00070", name="Phường Hoàn Kiếm",
                                          kind="phường", province_code="01")


def test_former_province_codes_are_three_digits() -> None:
    for code, former in former_provinces().items():
        assert _is_code(code, 3), code
        assert former.code == code
        assert former.name


def test_every_former_province_merged_into_a_current_one() -> None:
    current = provinces()
    merged_into = {former.merged_into for former in former_provinces().values()}
    assert merged_into <= set(current)
    # Every current province is the continuation of at least one former province.
    assert merged_into == set(current)


@pytest.mark.parametrize(("code", "name", "merged_into"), [
    ("001", "Thành phố Hà Nội", "01"),
    ("002", "Hà Giang", "08"),
    ("026", "Vĩnh Phúc", "25"),
    ("030", "Hải Dương", "31"),
    ("062", "Kon Tum", "51"),
    ("074", "Bình Dương", "79"),
    ("077", "Bà Rịa - Vũng Tàu", "79"),
    ("079", "Thành phố Hồ Chí Minh", "79"),
    ("095", "Bạc Liêu", "96"),
])
def test_known_mergers(code: str, name: str, merged_into: str) -> None:
    assert former_provinces()[code] == FormerProvince(code=code, name=name,
                                                      merged_into=merged_into)


def test_ho_chi_minh_city_absorbed_three_provinces() -> None:
    absorbed = sorted(f.code for f in former_provinces().values() if f.merged_into == "79")
    assert absorbed == ["074", "077", "079"]


@pytest.mark.parametrize(("commune_code", "province_code", "expected"), [
    ("00070", "01", True),
    ("00070", "79", False),
    ("00070", "1", False),
    ("70", "01", False),
    ("99999", "01", False),
    ("", "01", False),
])
def test_commune_in_province(commune_code: str, province_code: str, expected: bool) -> None:
    assert commune_in_province(commune_code, province_code) is expected


def test_commune_in_province_for_every_commune() -> None:
    for commune in communes().values():
        assert commune_in_province(commune.code, commune.province_code)
        other = "01" if commune.province_code != "01" else "79"
        assert not commune_in_province(commune.code, other)

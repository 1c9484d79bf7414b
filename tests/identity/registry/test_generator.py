"""Synthetic citizens: the same file for the same seed, different phones for different seeds."""
from __future__ import annotations

import csv
from pathlib import Path

from identity.registry.generator import (MOBILE_PREFIXES, PHONE_SPACE, generate_citizens,
                                         mobile_number)
from identity.registry.normalise import normalise_phone


def _phones(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["phone"] for row in csv.DictReader(fh) if row["phone"]]


def test_phones_are_valid_unique_and_depend_on_the_seed(tmp_path):
    files = {seed: tmp_path / f"seed-{seed}.csv" for seed in (1, 2, 7, 2022)}
    for seed, path in files.items():
        generate_citizens(count=1500, out=path, seed=seed)
    phones = {seed: _phones(path) for seed, path in files.items()}
    for seed, numbers in phones.items():
        assert len(numbers) > 900, seed  # about four in five adults have one
        assert len(set(numbers)) == len(numbers), seed
        assert all(normalise_phone(number) == number for number in numbers)
    seeds = list(phones)
    for n, first in enumerate(seeds):
        for second in seeds[n + 1:]:
            assert not set(phones[first]) & set(phones[second]), (first, second)


def test_the_same_seed_writes_the_same_file(tmp_path):
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    generate_citizens(count=200, out=one, seed=5)
    generate_citizens(count=200, out=two, seed=5)
    assert one.read_bytes() == two.read_bytes()


def test_mobile_numbers_run_through_every_prefix_and_wrap_around():
    first = [mobile_number(n) for n in range(len(MOBILE_PREFIXES))]
    assert [number[:3] for number in first] == list(MOBILE_PREFIXES)
    assert all(len(number) == 10 for number in first)
    assert mobile_number(PHONE_SPACE + 3) == mobile_number(3)
    assert mobile_number(-1) == mobile_number(PHONE_SPACE - 1)

"""The evidence store: content-addressed, typed by magic bytes, verified on every read."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from tests.utilities.reports.helpers import GIF, JPEG, MP4, PNG
from utilities.reports.errors import EvidenceInvalid, EvidenceMissing, EvidenceTampered
from utilities.reports.evidence import EvidenceStore

HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 100
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100


@pytest.mark.parametrize("data, content_type", [
    (JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp"), (HEIC, "image/heic"),
    (MP4, "video/mp4"), (MOV, "video/quicktime")])
def test_accepted_types_are_told_by_their_content(tmp_path: Path, data: bytes,
                                                  content_type: str) -> None:
    stored = EvidenceStore(tmp_path).put(io.BytesIO(data), max_bytes=10_000)
    assert (stored.content_type, stored.size, stored.sha256) == (
        content_type, len(data), hashlib.sha256(data).hexdigest())


def test_files_are_content_addressed_and_read_back_verified(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    first = store.put(io.BytesIO(JPEG), max_bytes=10_000)
    again = store.put(io.BytesIO(JPEG), max_bytes=10_000)
    assert first == again
    path = store.path_of(first.sha256)
    assert path == tmp_path / first.sha256[:2] / first.sha256[2:4] / first.sha256
    assert store.read_verified(first.sha256) == JPEG
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".incoming")] == []


def test_a_changed_file_is_tampered_and_a_removed_one_missing(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    stored = store.put(io.BytesIO(PNG), max_bytes=10_000)
    path = store.path_of(stored.sha256)
    os.chmod(path, 0o600)
    path.write_bytes(PNG + b"\x00")
    with pytest.raises(EvidenceTampered):
        store.read_verified(stored.sha256)
    path.unlink()
    with pytest.raises(EvidenceMissing):
        store.read_verified(stored.sha256)


@pytest.mark.parametrize("data, max_bytes, code", [
    (GIF, 10_000, "evidence.type"), (b"hello world", 10_000, "evidence.type"),
    (b"", 10_000, "evidence.empty"), (JPEG, 10, "evidence.too_large")])
def test_refused_files_leave_nothing_behind(tmp_path: Path, data: bytes, max_bytes: int,
                                            code: str) -> None:
    with pytest.raises(EvidenceInvalid) as refused:
        EvidenceStore(tmp_path).put(io.BytesIO(data), max_bytes=max_bytes)
    assert (refused.value.code, refused.value.field) == (code, "file")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []

"""The evidence store: content-addressed, typed by magic bytes, photos without metadata,
verified on every read."""
from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from PIL import Image

from tests.utilities.reports.helpers import (GIF, JPEG, MP4, OWNER, PNG, SERIAL, SOFTWARE, WEBP,
                                             jpeg_with_metadata, png_with_metadata,
                                             webp_with_metadata)
from utilities.reports.errors import EvidenceInvalid, EvidenceMissing, EvidenceTampered
from utilities.reports import metadata
from utilities.reports.evidence_store import EvidenceStore
from utilities.reports.metadata import strip_metadata

HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 100


@pytest.mark.parametrize("data, content_type", [
    (JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp"), (MP4, "video/mp4"),
    (MOV, "video/quicktime")])
def test_accepted_types_are_told_by_their_content(tmp_path: Path, data: bytes,
                                                  content_type: str) -> None:
    stored = EvidenceStore(tmp_path).put(io.BytesIO(data), max_bytes=10_000)
    assert (stored.content_type, stored.size, stored.sha256, stored.metadata_removed) == (
        content_type, len(data), hashlib.sha256(data).hexdigest(), True)


@pytest.mark.parametrize("data, content_type", [
    (jpeg_with_metadata(), "image/jpeg"), (png_with_metadata(), "image/png"),
    (webp_with_metadata(), "image/webp")])
def test_photos_are_stored_without_metadata_and_hashed_as_stored(
        tmp_path: Path, data: bytes, content_type: str) -> None:
    assert SERIAL.encode() in data and OWNER.encode() in data  # the sample does carry them
    store = EvidenceStore(tmp_path)
    stored = store.put(io.BytesIO(data), max_bytes=100_000)
    kept = store.read_verified(stored.sha256)
    assert stored.metadata_removed and stored.content_type == content_type
    assert stored.sha256 == hashlib.sha256(kept).hexdigest() and stored.size == len(kept)
    for telltale in (SERIAL, OWNER, SOFTWARE, "xmpmeta", "PhoneMaker", "Model X"):
        assert telltale.encode() not in kept
    picture = Image.open(io.BytesIO(kept))
    picture.load()
    assert picture.size == (16, 12) and picture.format == Image.open(io.BytesIO(data)).format
    assert not set(picture.info) & {"xmp", "icc_profile", "comment", "Author", "Comment"}
    assert dict(picture.getexif()) == {} and picture.getexif().get_ifd(0x8825) == {}


def test_a_jpeg_keeps_its_orientation_alone(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    stored = store.put(io.BytesIO(jpeg_with_metadata(orientation=6)), max_bytes=100_000)
    exif = Image.open(io.BytesIO(store.read_verified(stored.sha256))).getexif()
    assert dict(exif) == {0x0112: 6}  # rotated 90°, and nothing else


@pytest.mark.parametrize("data, code", [
    (JPEG[:200], "evidence.unreadable"),  # cut short: the magic bytes say JPEG, Pillow disagrees
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200, "evidence.unreadable"),
    (PNG[:40] + b"\x00" * 40, "evidence.unreadable"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100, "evidence.unreadable"),
    (HEIC, "evidence.type")])  # no library here reads HEIC: its metadata could not go
def test_a_photo_that_does_not_parse_as_its_type_is_refused(tmp_path: Path, data: bytes,
                                                            code: str) -> None:
    with pytest.raises(EvidenceInvalid) as refused:
        EvidenceStore(tmp_path).put(io.BytesIO(data), max_bytes=100_000)
    assert (refused.value.code, refused.value.field) == (code, "file")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


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


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"quality": 30, "subsampling": 2}])
def test_stripping_keeps_every_pixel(options: dict[str, object]) -> None:
    sent = jpeg_with_metadata()
    source = Image.open(io.BytesIO(sent))
    out = io.BytesIO()
    source.save(out, format="JPEG", exif=source.info["exif"], xmp=source.info["xmp"],
                comment=b"owner", **options)
    original = out.getvalue()
    kept = strip_metadata(original, "image/jpeg")
    assert b"owner" not in kept and len(kept) < len(original)
    assert Image.open(io.BytesIO(kept)).tobytes() == Image.open(io.BytesIO(original)).tobytes()
    bare = strip_metadata(png_with_metadata(), "image/png")
    assert Image.open(io.BytesIO(bare)).tobytes() == \
        Image.open(io.BytesIO(png_with_metadata())).tobytes()


def test_a_layout_the_walk_misses_is_reencoded_from_its_pixels(monkeypatch: Any) -> None:
    monkeypatch.setattr(metadata, "_strip_png", lambda data: data)  # a walk that keeps all
    kept = strip_metadata(png_with_metadata(), "image/png")
    picture = Image.open(io.BytesIO(kept))
    assert OWNER.encode() not in kept and SERIAL.encode() not in kept
    assert not getattr(picture, "text", {}) and dict(picture.getexif()) == {}


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def phone_video(brand: bytes = b"mp42") -> tuple[bytes, bytes]:
    """A phone's video: its position, make and model in udta and meta boxes; its frames."""
    frames = bytes(range(256)) * 4
    udta = _box(b"udta", _box(b"\xa9xyz", b"\x00\x12\x15\xc7+21.0285+105.8542/")
                + _box(b"\xa9mak", f"Apple {SERIAL}".encode()))
    meta = _box(b"meta", b"\x00" * 4 + _box(b"keys", b"com.apple.quicktime.location.ISO6709")
                + _box(b"ilst", OWNER.encode()))
    track = _box(b"trak", _box(b"tkhd", b"\x00" * 84) + _box(b"udta", OWNER.encode()))
    movie = _box(b"moov", _box(b"mvhd", b"\x00" * 100) + track + udta + meta)
    xmp = _box(b"uuid", bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC") + b"<x:xmpmeta/>")
    head = _box(b"ftyp", brand + b"\x00\x00\x00\x00" + brand)
    return head + movie + xmp + _box(b"mdat", frames), frames


@pytest.mark.parametrize("brand, content_type", [(b"mp42", "video/mp4"),
                                                 (b"qt  ", "video/quicktime")])
def test_videos_keep_their_frames_at_their_offsets_without_metadata(
        tmp_path: Path, brand: bytes, content_type: str) -> None:
    sent, frames = phone_video(brand)
    store = EvidenceStore(tmp_path)
    stored = store.put(io.BytesIO(sent), max_bytes=100_000)
    kept = store.read_verified(stored.sha256)
    assert (stored.content_type, stored.metadata_removed, len(kept)) == (
        content_type, True, len(sent))
    assert kept.index(frames) == sent.index(frames)  # every sample offset still holds
    for telltale in (b"+21.0285", b"Apple", SERIAL.encode(), OWNER.encode(), b"xmpmeta",
                     b"ISO6709", b"udta", b"meta", b"uuid"):
        assert telltale not in kept
    assert kept.count(b"free") == 4 and b"moov" in kept and b"tkhd" in kept


def test_a_video_whose_boxes_do_not_add_up_is_refused(tmp_path: Path) -> None:
    sent, _frames = phone_video()
    broken = sent[:20] + b"\xff\xff\xff\x00" + sent[24:]  # the movie box claims 4 GiB
    with pytest.raises(EvidenceInvalid) as refused:
        EvidenceStore(tmp_path).put(io.BytesIO(broken), max_bytes=100_000)
    assert refused.value.code == "evidence.unreadable"

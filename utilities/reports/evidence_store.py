"""The evidence store: files kept by their SHA-256 digest under one directory (storage only;
the use cases that add and read a case's files are in :mod:`utilities.reports.evidence`).

A file is streamed to a temporary file in the store while its size is
counted, its type is read from its first bytes (magic numbers, with the
``filetype`` library: what the client claims is ignored). A photo is then
read by Pillow and kept without its metadata
(:mod:`utilities.reports.metadata`: no EXIF, XMP, IPTC, GPS, ICC or text);
a photo that does not parse as its type is refused. What is kept is renamed
to ``<root>/<d[:2]>/<d[2:4]>/<digest>``, the digest being of the stored
bytes. The same content sent twice is one file. Reading a file back
(:meth:`EvidenceStore.read_verified`) hashes it again and refuses it if it no
longer matches the recorded digest.

A video keeps its frames byte for byte, its metadata boxes blanked (same
size, same offsets). HEIC photos are not accepted: Pillow cannot read them,
so their metadata could not be removed (phones send JPEG when asked).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype

from utilities.reports.errors import EvidenceInvalid, EvidenceMissing, EvidenceTampered
from utilities.reports.metadata import IMAGE_FORMATS, strip_metadata, strip_video_metadata

#: Accepted types (by magic bytes): photos and videos from phones.
ALLOWED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
                 "video/mp4": "mp4", "video/quicktime": "mov"}
_CHUNK = 1024 * 1024
#: How many leading bytes ``filetype`` needs to tell a type.
_HEAD = 8192


@dataclass(frozen=True)
class StoredFile:
    """What the store kept: the stored file's digest (hex), size and detected type."""

    sha256: str
    size: int
    content_type: str
    #: True: the file was stored without its metadata (photos and videos alike).
    metadata_removed: bool = False


class EvidenceStore:
    """Content-addressed files under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        """Where the file of a digest lives."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: BinaryIO, *, max_bytes: int, field: str = "file") -> StoredFile:
        """Store ``stream`` (at most ``max_bytes``) if it is an accepted type; its record."""
        self.root.mkdir(parents=True, exist_ok=True)
        size, head = 0, b""
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise EvidenceInvalid(
                            f"The file is larger than {max_bytes // (1024 * 1024)} MiB.",
                            code="evidence.too_large", field=field, max_bytes=max_bytes)
                    if len(head) < _HEAD:
                        head += chunk[:_HEAD - len(head)]
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise EvidenceInvalid("The file is empty.", code="evidence.empty", field=field)
            kind = filetype.guess(head)
            content_type = kind.mime if kind is not None else None
            if content_type not in ALLOWED_TYPES:
                raise EvidenceInvalid(
                    "Only JPEG, PNG and WebP photos and MP4 and QuickTime videos are "
                    "accepted.", code="evidence.type", field=field,
                    errors={"allowed": sorted(ALLOWED_TYPES)})
            data = Path(tmp_name).read_bytes()
            data = (strip_metadata(data, content_type) if content_type in IMAGE_FORMATS
                    else strip_video_metadata(data))
            with open(tmp_name, "wb") as cleaned:
                cleaned.write(data)
                cleaned.flush()
                os.fsync(cleaned.fileno())
            hexdigest = hashlib.sha256(data).hexdigest()
            target = self.path_of(hexdigest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp_name, 0o440)
            os.replace(tmp_name, target)  # atomic: a reader sees the whole file or none
            return StoredFile(sha256=hexdigest, size=len(data), content_type=content_type,
                              metadata_removed=True)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def read_verified(self, sha256: str) -> bytes:
        """The stored bytes of ``sha256``, after checking they still hash to it."""
        try:
            data = self.path_of(sha256).read_bytes()
        except FileNotFoundError:
            raise EvidenceMissing() from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceTampered()
        return data

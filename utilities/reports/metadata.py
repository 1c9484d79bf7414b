"""Photos without their metadata: what an officer receives says nothing of the phone that took it.

A phone's photo carries the place it was taken (GPS), the camera's serial
number, the owner's name, the editing software, thumbnails of the original
and comments (EXIF, XMP, IPTC, ICC profile descriptions, PNG text chunks).
For an anonymous reporter any of it may name them. :func:`strip_metadata`
keeps only what draws the picture, losslessly (the compressed image data is
copied byte for byte, so the evidence is the picture as taken):

- JPEG: every APPn segment and comment goes, except Adobe's APP14 (needed to
  read the colours of CMYK files); a new minimal EXIF keeps the orientation
  alone, so the photo is not shown sideways; nothing after the end marker
  (phones append videos and depth maps there).
- PNG: only the chunks that draw the image (header, palette, data,
  transparency, colour space and gamma, physical size, animation frames); no
  text, EXIF, time or ICC profile; nothing after the end chunk.
- WebP: the image, alpha and animation chunks; no EXIF, XMP or ICC chunk,
  and their flags cleared in the extended header.

Pillow reads the file first (a file that does not parse as its type is
refused, ``evidence.unreadable``) and the result again: if any metadata were
left (a layout this walk does not know), the picture is re-encoded from its
pixels instead.

Videos (MP4, QuickTime) keep their metadata in boxes: the phone's position
(``©xyz``, Apple's ``location.ISO6709``), make, model, software, in ``udta``
and ``meta`` boxes of the movie and its tracks, XMP in a ``uuid`` box.
:func:`strip_video_metadata` turns each into a ``free`` box of the same size
with its content zeroed: every sample stays at its offset (the sample tables
point into the file by absolute offsets), so nothing is re-encoded.
"""
from __future__ import annotations

import io
import struct
import warnings

from PIL import Image

from utilities.reports.errors import EvidenceInvalid

#: The photo types cleaned here, and Pillow's name of each.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
#: EXIF tag of the orientation: the only one kept.
_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT",
             b"pHYs", b"acTL", b"fcTL", b"fdAT"}
_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
#: VP8X flags of the ICC profile, EXIF and XMP chunks.
_WEBP_METADATA_FLAGS = 0x20 | 0x08 | 0x04
#: Boxes of an MP4/QuickTime file that hold metadata, and the containers searched for them.
_VIDEO_METADATA_BOXES = {b"udta", b"meta", b"uuid"}
_VIDEO_CONTAINERS = {b"moov", b"trak"}
#: Keys of Pillow's ``info`` that hold metadata.
_INFO_METADATA = {"exif", "xmp", "icc_profile", "comment", "photoshop", "XML:com.adobe.xmp",
                  "adobe_transform_xmp", "iptc"}


def _unreadable(content_type: str) -> EvidenceInvalid:
    return EvidenceInvalid(f"The file is not a readable {content_type.split('/')[1].upper()} "
                           "image.", code="evidence.unreadable", field="file")


def _open(data: bytes, content_type: str) -> Image.Image:
    """The decoded image, or :class:`EvidenceInvalid` when it does not parse as its type."""
    try:
        with warnings.catch_warnings():
            # Too many pixels (a decompression bomb): refused, not merely warned about.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[content_type]])
            image.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise EvidenceInvalid("The image has too many pixels.", code="evidence.image_too_large",
                              field="file") from None
    except Exception:  # Pillow raises many kinds (OSError, SyntaxError, ValueError, ...)
        raise _unreadable(content_type) from None
    return image


def _orientation_exif(image: Image.Image) -> bytes:
    """An APP1 EXIF segment with the orientation alone (none when it is the default, 1)."""
    orientation = image.getexif().get(_ORIENTATION)
    if not isinstance(orientation, int) or orientation in (0, 1) or orientation > 8:
        return b""
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    payload = b"Exif\x00\x00" + exif.tobytes()
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _scan_end(data: bytes, pos: int) -> int:
    """Where a scan's entropy-coded data ends: the first 0xFF that starts a marker.

    Inside a scan 0xFF is followed by 0x00 (a stuffed byte), a restart marker
    (0xD0-0xD7) or another 0xFF (fill); ``find`` keeps this off a per-byte loop.
    """
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= len(data):
            return len(data)
        following = data[found + 1]
        if following not in (0x00, 0xFF) and not 0xD0 <= following <= 0xD7:
            return found
        pos = found + 1


def _strip_jpeg(data: bytes, image: Image.Image) -> bytes:
    """The JPEG's segments that draw the image, the scans as they are, nothing after EOI."""
    if data[:2] != b"\xff\xd8":
        raise _unreadable("image/jpeg")
    out = [b"\xff\xd8", _orientation_exif(image)]
    pos, size = 2, len(data)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise _unreadable("image/jpeg")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI: the end; what follows is not part of the picture
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > size:
            raise _unreadable("image/jpeg")
        segment = data[pos:end]
        is_app = 0xE0 <= marker <= 0xEF
        if not (marker == 0xFE or (is_app and not (marker == 0xEE
                                                   and segment[4:9] == b"Adobe"))):
            out.append(segment)
        pos = end
        if marker == 0xDA:  # a scan: entropy-coded data up to the next real marker
            scan_end = _scan_end(data, pos)
            out.append(data[pos:scan_end])
            pos = scan_end
    out.append(b"\xff\xd9")
    return b"".join(out)


def _strip_png(data: bytes) -> bytes:
    """The PNG's chunks that draw the image, up to IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        raise _unreadable("image/png")
    out, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise _unreadable("image/png")
        if kind in _PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def _strip_webp(data: bytes) -> bytes:
    """The WebP's image chunks, its extended header's metadata flags cleared."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _unreadable("image/webp")
    chunks, pos = [], 12
    end_of_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    while pos + 8 <= end_of_riff:
        kind, length = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        end = pos + 8 + length + (length & 1)
        if pos + 8 + length > end_of_riff:
            raise _unreadable("image/webp")
        chunk = data[pos:min(end, end_of_riff)]
        if kind == b"VP8X":
            chunk = chunk[:8] + bytes((chunk[8] & ~_WEBP_METADATA_FLAGS,)) + chunk[9:]
        if kind in _WEBP_KEEP:
            chunks.append(chunk + b"\x00" * (len(chunk) & 1))
        pos = end
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _metadata_left(image: Image.Image) -> bool:
    """Whether Pillow still finds metadata (beyond the orientation this module keeps)."""
    if set(image.info) & _INFO_METADATA - {"exif"} or getattr(image, "text", None):
        return True
    return any(tag != _ORIENTATION for tag in image.getexif())


def _reencoded(image: Image.Image, image_format: str) -> bytes:
    """The picture from its pixels alone (the fallback when a layout is not known)."""
    image.info.clear()
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """``data`` (a JPEG, PNG or WebP photo) without its metadata; refused if it does not parse."""
    image_format = IMAGE_FORMATS[content_type]
    image = _open(data, content_type)
    if content_type == "image/jpeg":
        cleaned = _strip_jpeg(data, image)
    elif content_type == "image/png":
        cleaned = _strip_png(data)
    else:
        cleaned = _strip_webp(data)
    result = _open(cleaned, content_type)
    if _metadata_left(result):
        cleaned = _reencoded(image, image_format)
    return cleaned


def _bad_video() -> EvidenceInvalid:
    return EvidenceInvalid("The file is not a readable video.", code="evidence.unreadable",
                           field="file")


def _video_boxes(data: bytearray, start: int, end: int) -> None:
    """Blank the metadata boxes between ``start`` and ``end``, descending into containers."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if pos + 16 > end:
                raise _bad_video()
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:  # the box runs to the end of its container
            size = end - pos
        if size < header or pos + size > end:
            raise _bad_video()
        if kind in _VIDEO_METADATA_BOXES:
            data[pos + 4:pos + 8] = b"free"
            data[pos + header:pos + size] = bytes(size - header)
        elif kind in _VIDEO_CONTAINERS:
            _video_boxes(data, pos + header, pos + size)
        pos += size


def strip_video_metadata(data: bytes) -> bytes:
    """An MP4 or QuickTime file with its metadata boxes blanked (same size, same offsets)."""
    blanked = bytearray(data)
    _video_boxes(blanked, 0, len(blanked))
    return bytes(blanked)

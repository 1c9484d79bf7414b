"""Helpers of the report tests: citizens and officers with tokens, a report's body, files."""
from __future__ import annotations

import datetime as dt
import io
from typing import Any

from PIL import Image, ImageCms, PngImagePlugin

from identity import clock
from identity.accounts.models import Officer
from tests.factories import OfficerFactory
from tests.flows import Holder, OfficerLogin, logged_in_officer
from utilities.reports.metadata import strip_metadata

#: Phường Hoàn Kiếm, Hà Nội (the factories' citizens live here) and another commune of Hà Nội.
HOAN_KIEM = "00070"
HANOI = "01"
HCM = "79"


def image(image_format: str, *, size: tuple[int, int] = (16, 12), **save: Any) -> bytes:
    """A small real picture in ``image_format`` (Pillow), saved with ``save``'s options."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 30)).save(out, format=image_format, **save)
    return out.getvalue()


#: Real photos with no metadata (what the store keeps of them is these same bytes).
JPEG = strip_metadata(image("JPEG"), "image/jpeg")
PNG = image("PNG")
WEBP = image("WEBP")
#: What would name a reporter in a photo's metadata.
SERIAL, OWNER, SOFTWARE = "SN-4471-99812", "Nguyen Van Bi Mat", "PhoneCam 7.1"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
       b'aux:SerialNumber="SN-4471-99812"/></rdf:RDF></x:xmpmeta>')


def telltale_exif(orientation: int = 1) -> Image.Exif:
    """EXIF naming the phone and its owner, with the GPS position of Hoàn Kiếm."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "PhoneMaker", "Model X", SOFTWARE
    exif[0x013B] = OWNER  # Artist
    exif[0x0112] = orientation
    exif[0x8769] = {0xA430: OWNER, 0xA431: SERIAL}  # CameraOwnerName, BodySerialNumber
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 42.0), 3: "E", 4: (105.0, 51.0, 9.0)}  # GPS
    return exif


def jpeg_with_metadata(orientation: int = 1) -> bytes:
    """A JPEG carrying EXIF (GPS, serial, owner), XMP, an ICC profile and a comment."""
    return image("JPEG", exif=telltale_exif(orientation).tobytes(), xmp=XMP,
                 comment=f"Owner {OWNER}".encode(),
                 icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def png_with_metadata() -> bytes:
    """A PNG carrying text chunks (tEXt, zTXt, iTXt), an eXIf chunk and a time chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", OWNER)
    info.add_text("Comment", f"Serial {SERIAL}", zip=True)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return image("PNG", pnginfo=info, exif=telltale_exif().tobytes())


def webp_with_metadata() -> bytes:
    """A WebP carrying EXIF and XMP chunks."""
    return image("WEBP", exif=telltale_exif().tobytes(), xmp=XMP)


#: Magic bytes of accepted videos and refused files.
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 200
GIF = b"GIF89a" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"\x00" * 200


def report_body(**overrides: Any) -> dict[str, Any]:
    """A valid report: a phone scam that happened in Hoàn Kiếm yesterday."""
    body: dict[str, Any] = {
        "category": "fraud",
        "description": "Someone called pretending to be from the bank and asked for my OTP.\n"
                       "They said my account would be locked.",
        "commune_code": HOAN_KIEM, "address": "Số 1 phố Tràng Tiền",
        "occurred_at": (clock.now() - dt.timedelta(days=1)).isoformat(),
        "scam_phones": ["0912 345 678"], "scam_links": ["https://Vay-Nhanh.example/app/"],
    }
    body.update(overrides)
    return body


#: A registered, logged-in citizen (``record``: the registry row).
Person = Holder
#: A logged-in officer.
Cop = OfficerLogin


def with_key(person: Person, reporter_key: str | None) -> dict[str, str]:
    """The person's Authorization header, and an anonymous case's reporter key if given."""
    return {**person.headers, **({"X-Reporter-Key": reporter_key} if reporter_key else {})}


def citizen(client: Any, db_session: Any, protector: Any, **overrides: Any) -> Person:
    """A citizen (of Hoàn Kiếm unless told) registered from a phone and logged in."""
    return Holder.make(client, db_session, protector, **overrides)


def officer(client: Any, db_session: Any, protector: Any, username: str,
            province_code: str = HANOI, commune_code: str | None = HOAN_KIEM,
            role: str = "officer") -> Cop:
    """An officer of a unit (Hoàn Kiếm unless told), logged in."""
    return logged_in_officer(client, db_session, protector, username=username,
                             province_code=province_code, commune_code=commune_code, role=role)


def file_report(client: Any, person: Person, **overrides: Any) -> dict[str, Any]:
    """File a report through the API; the answer."""
    answer = client.post("/api/v1/reports", json=report_body(**overrides),
                         headers=person.headers)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


# --- Domain-level objects (no HTTP) ----------------------------------------------------------

def make_officer(db_session: Any, protector: Any, province_code: str = HANOI,
                 commune_code: str | None = HOAN_KIEM, role: str = "officer") -> Officer:
    """An officer of a unit (Hoàn Kiếm unless told), made through the service."""
    return OfficerFactory(db_session=db_session, protector=protector,
                          province_code=province_code, commune_code=commune_code, role=role)

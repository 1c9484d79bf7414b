"""The command-line verifier for police and banks: no server, no database, no network.

    python -m identity.credentials verify --keys vnid-keys.json TEXT-or-IMAGE-FILE

TEXT is a ``VN1:`` text; an image file (PNG, JPEG, ...) is read with the
zxing-cpp QR reader. Prints the result as JSON (the claims when valid, the
reason code when not) and exits 0 when valid, 1 when not, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from identity.credentials import vn1


def read_qr_image(path: Path) -> str:
    """The text of the first QR code in an image file."""
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        results = zxingcpp.read_barcodes(image.convert("L"),
                                         formats=zxingcpp.BarcodeFormats(
                                             zxingcpp.BarcodeFormat.QRCode))
    if not results:
        raise ValueError(f"no QR code found in {path}")
    return str(results[0].text)


def _text_of(argument: str) -> str:
    if argument.startswith(vn1.PREFIX):
        return argument
    path = Path(argument)
    if not path.is_file():
        raise ValueError(f"{argument!r} is neither a VN1: text nor a file")
    if path.suffix.lower() in (".txt", ""):
        return path.read_text(encoding="ascii", errors="replace").strip()
    return read_qr_image(path)


def main(argv: list[str] | None = None) -> int:
    """Run the verifier; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m identity.credentials",
                                     description="Verify VN1 credentials offline.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify a VN1 text or a QR image")
    verify.add_argument("--keys", required=True, type=Path,
                        help="the trust list downloaded from /.well-known/vnid-keys.json")
    verify.add_argument("--audience", help="refuse credentials made for another verifier")
    verify.add_argument("--nonce", help="the nonce this verifier asked the holder to include")
    verify.add_argument("credential", help="a VN1: text, or a file holding the QR image")
    args = parser.parse_args(argv)
    try:
        trust = vn1.TrustList.from_json(json.loads(args.keys.read_text(encoding="utf-8")))
        text = _text_of(args.credential)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result: dict[str, Any]
    try:
        verified = vn1.verify(text, trust, audience=args.audience, nonce=args.nonce)
    except vn1.VerificationError as error:
        result = {"valid": False, "reason": error.reason}
    else:
        result = {"valid": True, "reason": None, "type": verified.credential_type,
                  "claims": verified.claims, "issuer": verified.issuer,
                  "expires_at": vn1.rfc3339(_utc(verified.expires_at))}
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["valid"] else 1


def _utc(seconds: int) -> Any:
    import datetime as dt
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


if __name__ == "__main__":
    sys.exit(main())

"""Base45 (RFC 9285), the QR-friendly alphabet of the VN1 text.

Decoding sits on the path of every verification, and a Python loop over
the characters would cost as much as the ECDSA check; :func:`b45decode`
works on the whole text as one integer instead (see its docstring).
"""
from __future__ import annotations

import functools
import sys

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: Maps an ASCII byte to its Base45 value, and every other byte to 255.
_VALUES = bytes(ALPHABET.index(chr(b)) if chr(b) in ALPHABET else 255 for b in range(256))


@functools.cache
def _pairs() -> list[str]:
    """The three characters of every pair of bytes, by the pair read as a native ``H``
    (built once per process: 65,536 strings, about 3.5 MB)."""
    table = [""] * 65536
    for first in range(256):
        for second in range(256):
            n = first * 256 + second
            index = first | second << 8 if sys.byteorder == "little" else n
            table[index] = ALPHABET[n % 45] + ALPHABET[n // 45 % 45] + ALPHABET[n // 2025]
    return table


def b45encode(data: bytes) -> str:
    """Base45-encode ``data`` (RFC 9285): each pair of bytes looked up whole, in C (a Python
    loop over the pairs cost 28 µs for a credential, the table 5)."""
    even = len(data) - len(data) % 2
    text = "".join(map(_pairs().__getitem__, memoryview(data)[:even].cast("H")))
    if even == len(data):
        return text
    n = data[-1]
    return text + ALPHABET[n % 45] + ALPHABET[n // 45]


#: The lane masks of :func:`b45decode`, per number of 3-character groups.
_MASKS: dict[int, tuple[int, int]] = {}


def _masks(count: int) -> tuple[int, int]:
    """Masks picking the last and the first byte of each of ``count`` 3-byte lanes (cached)."""
    masks = _MASKS.get(count)
    if masks is None:
        if len(_MASKS) >= 1024:
            _MASKS.clear()
        last = int.from_bytes(b"\0\0\xff" * count)
        masks = _MASKS[count] = (last, last << 16)
    return masks


def b45decode(text: str) -> bytes:
    """Decode Base45 text; raises ``ValueError`` for any character or group that is not valid.

    No Python loop: the values are read as one big integer of 3-byte lanes,
    and every group's ``c + 45·d + 2025·e`` is computed at once with a mask
    and shifts (no lane can carry into the next: the largest group, 91,124,
    needs 17 bits); a group above 65,535 shows as a non-zero top byte.
    """
    try:
        values = text.encode("ascii").translate(_VALUES)
    except UnicodeEncodeError:
        raise ValueError("not Base45") from None
    size = len(values)
    if 255 in values or size % 3 == 1:
        raise ValueError("not Base45")
    count = size // 3
    lanes = int.from_bytes(values[:3 * count] if size % 3 else values)
    low, high = _masks(count)
    groups = (lanes >> 16 & low) + 45 * (lanes >> 8 & low) + 2025 * (lanes & low)
    if groups & high:
        raise ValueError("not Base45: a group above 65535")
    decoded = bytearray(groups.to_bytes(3 * count))
    del decoded[0::3]  # the lanes' top bytes, zero: two bytes per group are left
    if size % 3:
        last = values[-2] + 45 * values[-1]
        if last > 255:
            raise ValueError("not Base45: a pair above 255")
        decoded.append(last)
    return bytes(decoded)

"""Regenerate the core's menu pictures: ``python img/generate.py``.

A tiny baseline-JPEG writer (no Pillow needed): every 8x8 block is one flat colour, so each
block is just its DC coefficients plus an end-of-block code. That is enough for banner-like
gradients with a few shapes and keeps each file a few kilobytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

Color = tuple[int, int, int]

# ITU T.81 Annex K.3 luminance DC table: code lengths 1..16 and the categories 0..11.
DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
DC_VALUES = list(range(12))
# A one-symbol AC table: only end-of-block (0x00), coded as "0".
AC_BITS = [1] + [0] * 15
AC_VALUES = [0]


def _huffman_codes(bits: list[int], values: list[int]) -> dict[int, tuple[int, int]]:
    codes: dict[int, tuple[int, int]] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing
                self.acc, self.n = 0, 0

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits
        return bytes(self.out)


def _ycbcr(rgb: Color) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(c))) for c in (y, cb, cr))  # type: ignore[return-value]


def encode_blocks(width_blocks: int, height_blocks: int, color_at: Callable[[int, int], Color]) -> bytes:
    """A JPEG of ``width_blocks`` x ``height_blocks`` flat 8x8 blocks, colour by block position."""
    dc_codes = _huffman_codes(DC_BITS, DC_VALUES)
    eob = _huffman_codes(AC_BITS, AC_VALUES)[0]
    writer = _BitWriter()
    previous = [0, 0, 0]
    for by in range(height_blocks):
        for bx in range(width_blocks):
            for c, value in enumerate(_ycbcr(color_at(bx, by))):
                dc = 8 * (value - 128)  # DC of a flat block with quantiser 1
                diff, previous[c] = dc - previous[c], dc
                size = abs(diff).bit_length()
                writer.write(*dc_codes[size])
                if size:
                    writer.write(diff if diff > 0 else diff + (1 << size) - 1, size)
                writer.write(*eob)
    scan = writer.flush()

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    width, height = width_blocks * 8, height_blocks * 8
    jfif = segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    dqt = segment(0xFFDB, b"\x00" + b"\x01" * 64)
    sof = segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00")
    dht = segment(0xFFC4, b"\x00" + bytes(DC_BITS) + bytes(DC_VALUES) + b"\x10" + bytes(AC_BITS) + bytes(AC_VALUES))
    sos = segment(0xFFDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
    return b"\xff\xd8" + jfif + dqt + sof + dht + sos + scan + b"\xff\xd9"


def banner(top: Color, bottom: Color, accent: Color) -> Callable[[int, int], Color]:
    """A vertical gradient with an accent "shield" in the middle (40x22 blocks, 16:9-ish)."""

    def color_at(bx: int, by: int) -> Color:
        t = by / 21
        base = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        dx, dy = abs(bx - 19.5), by - 4
        if 0 <= dy <= 13 and dx <= 7 - max(0, dy - 6):
            return accent
        return base  # type: ignore[return-value]

    return color_at


PICTURES = {
    "pic.jpg": banner((20, 40, 90), (60, 120, 200), (240, 240, 255)),
    "pic_view.jpg": banner((10, 70, 60), (40, 170, 140), (250, 230, 120)),
    "pic_keys.jpg": banner((60, 30, 90), (150, 90, 200), (255, 220, 240)),
    "profile.jpg": banner((40, 40, 40), (110, 110, 130), (120, 200, 255)),
}


def main() -> None:
    folder = Path(__file__).resolve().parent
    for name, color_at in PICTURES.items():
        data = encode_blocks(40, 22, color_at)
        (folder / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()

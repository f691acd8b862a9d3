"""Fuzzing the decoders with real PNGs, mutated below the surface.

Random bytes never get past a PNG's signature and CRCs, so they test nothing but the first check.
These mutations start from real files (a drawing canvas, RGB, grayscale, palette, 16-bit, interlaced)
and change them the way a broken encoder or a hostile client would — header fields, chunk order,
chunk data, the compressed pixel stream, the filter bytes inside it — and then repair every CRC, so
each file reaches the deep parts of libspng and Pillow. Whatever comes out, the service must answer
with a 28×28 digit or an `InputError` that says what is wrong: never another exception.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from devtools.drawn_digits import draw, encode
from service.imaging.decode import decode_image
from service.imaging.errors import InputError
from service.imaging.normalise import preprocess_image

MAX_PIXELS = 4096 * 4096
Chunk = tuple[bytes, bytes]  # (type, data)


def seed_pngs() -> list[bytes]:
    rng = np.random.default_rng(7)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a plain "1": the drawing code needs some ink
    canvas = draw(digit, rng, "rgba-transparent").resize((64, 64))
    gray = draw(digit, rng, "gray-black-on-white").resize((48, 48))
    return [
        encode(canvas),
        encode(canvas.convert("RGB")),
        encode(gray),
        encode(gray.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)),
        encode(Image.fromarray(np.asarray(gray, np.uint16) * 257)),
        encode(gray, interlace=1),
        encode(canvas.convert("LA")),
    ]


SEEDS = seed_pngs()


def split_chunks(png: bytes) -> list[Chunk]:
    chunks, offset = [], 8
    while offset + 8 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, offset)
        chunks.append((kind, png[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def join_chunks(chunks: list[Chunk]) -> bytes:
    """A PNG file from chunks, with every length and CRC correct."""
    parts = [b"\x89PNG\r\n\x1a\n"]
    for kind, data in chunks:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        parts.append(struct.pack(">I4s", len(data), kind) + data + struct.pack(">I", crc))
    return b"".join(parts)


def _inflates(stream: bytes) -> bool:
    try:
        zlib.decompress(stream)
    except zlib.error:
        return False
    return True


@st.composite
def mutated_png(draw_from: st.DrawFn) -> bytes:
    chunks = split_chunks(draw_from(st.sampled_from(SEEDS)))
    for _ in range(draw_from(st.integers(1, 3))):
        mutation = draw_from(
            st.sampled_from(
                ["ihdr-field", "chunk-bytes", "pixel-stream", "drop", "duplicate", "swap", "insert"]
            )
        )
        index = draw_from(st.integers(0, len(chunks) - 1))
        kind, data = chunks[index]
        header = next((i for i, (k, d) in enumerate(chunks) if k == b"IHDR" and len(d) == 13), None)
        idat = b"".join(d for k, d in chunks if k == b"IDAT")
        if mutation == "ihdr-field" and header is not None:
            fields = list(struct.unpack(">IIBBBBB", chunks[header][1]))
            position = draw_from(st.integers(0, 6))
            fields[position] = draw_from(
                st.integers(0, 2**31 - 1) if position < 2 else st.integers(0, 255)
            )
            chunks[header] = (b"IHDR", struct.pack(">IIBBBBB", *fields))
        elif mutation == "chunk-bytes" and data:
            at = draw_from(st.integers(0, len(data) - 1))
            value = draw_from(st.integers(0, 255))
            chunks[index] = (kind, data[:at] + bytes([value]) + data[at + 1 :])
        elif mutation == "pixel-stream" and _inflates(idat):
            # Inside the zlib stream: filter-type bytes and scanlines, re-compressed validly.
            raw = bytearray(zlib.decompress(idat))
            cut = draw_from(st.integers(0, len(raw)))
            if draw_from(st.booleans()):
                raw = raw[:cut]  # too few scanlines
            elif raw:
                raw[min(cut, len(raw) - 1)] = draw_from(st.integers(0, 255))
            first = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
            chunks = [c for c in chunks if c[0] != b"IDAT"]
            chunks.insert(first, (b"IDAT", zlib.compress(bytes(raw))))
        elif mutation == "drop" and len(chunks) > 1:
            del chunks[index]
        elif mutation == "duplicate":
            chunks.insert(index, chunks[index])
        elif mutation == "swap" and len(chunks) > 1:
            other = draw_from(st.integers(0, len(chunks) - 1))
            chunks[index], chunks[other] = chunks[other], chunks[index]
        elif mutation == "insert":
            new_kind = draw_from(
                st.sampled_from([b"tRNS", b"PLTE", b"gAMA", b"sBIT", b"iCCP", b"zzZz", b"IDAT"])
            )
            chunks.insert(index, (new_kind, draw_from(st.binary(max_size=64))))
    png = join_chunks(chunks)
    if draw_from(st.integers(0, 9)) == 0:  # now and then, also cut the file short
        png = png[: draw_from(st.integers(8, len(png)))]
    return png


FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same files on every run: a failure here is reproducible, never flaky
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_seeds_are_real_pngs_the_service_reads() -> None:
    for png in SEEDS:
        assert decode_image(png, MAX_PIXELS).ndim == 2
        assert join_chunks(split_chunks(png)) == png  # the mutator's repair is exact


@FUZZ
@given(mutated_png())
def test_a_mutated_png_decodes_or_is_refused_with_an_input_error(png: bytes) -> None:
    try:
        gray = decode_image(png, MAX_PIXELS)
    except InputError as error:
        assert str(error)  # a message that says what is wrong
        return
    assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.size > 0


@FUZZ
@given(mutated_png())
def test_a_mutated_png_becomes_a_digit_or_an_input_error(png: bytes) -> None:
    try:
        digit = preprocess_image(png, MAX_PIXELS)
    except InputError:
        return
    assert digit.shape == (28, 28) and digit.min() >= 0 and digit.max() <= 1


@pytest.mark.parametrize("declared", [(50_000, 50_000), (2**31 - 1, 1), (0, 10)])
def test_a_header_declaring_absurd_sizes_is_refused_before_any_pixels(
    declared: tuple[int, int],
) -> None:
    chunks = split_chunks(SEEDS[2])
    _, _, *rest = struct.unpack(">IIBBBBB", chunks[0][1])
    chunks[0] = (b"IHDR", struct.pack(">IIBBBBB", *declared, *rest))
    with pytest.raises(InputError):
        decode_image(join_chunks(chunks), MAX_PIXELS)

"""The .gcodec container: round trips, size of the header, and fuzzing (≥ 10,000 hostile inputs)."""

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gencodec import container
from gencodec.container import FORMAT_VERSION, MAGIC, Header, pack, unpack
from gencodec.errors import FormatError

FUZZ = settings(max_examples=3500, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

headers = st.builds(
    Header,
    codec=st.integers(0, 255),
    model=st.one_of(st.integers(0, 1000), st.text(min_size=1, max_size=40).filter(lambda s: 0 < len(s.encode()) <= 255)),
    media=st.sampled_from([container.MEDIA_IMAGE, container.MEDIA_VIDEO]),
    width=st.integers(1, container.MAX_SIDE),
    height=st.integers(1, container.MAX_SIDE),
    frames=st.integers(1, 300),
    fps_milli=st.one_of(st.integers(0, 120_000), st.sampled_from([23976, 29970, 59940, 24000])),
    model_revision=st.integers(0, 2**32),
    params=st.dictionaries(st.integers(0, 255), st.integers(-(2**63), 2**63 - 1), max_size=10),
).map(lambda h: _fix_frames(h))
sections = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=6)


def _fix_frames(h: Header) -> Header:
    if h.media == container.MEDIA_IMAGE:
        h.frames = 1
    return h


def sample_file() -> bytes:
    h = Header(codec=0, model=1, media=container.MEDIA_IMAGE, width=512, height=384, params={0: 1, 1: -37})
    return pack(h, [(1, bytes(range(200))), (2, b"xyz" * 40)])


@given(headers, sections)
@settings(max_examples=300, deadline=None)
def test_round_trip(header, secs):
    c = unpack(pack(header, secs))
    assert c.header == header
    assert c.sections == secs


def test_header_is_compact_for_default_settings():
    image = Header(codec=0, model=0, media=container.MEDIA_IMAGE, width=512, height=512, params={0: 0})
    assert container.header_size(image) <= 24
    video = Header(codec=1, model=2, media=container.MEDIA_VIDEO, width=1280, height=720, frames=129, fps_milli=24000,
                   params={0: 0, 1: 64, 2: 14})
    assert container.header_size(video) <= 24


def test_layout_magic_version_crc():
    data = sample_file()
    assert data[:4] == MAGIC and data[4] == FORMAT_VERSION
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])


def test_newer_version_is_named():
    data = bytearray(sample_file())
    data[4] = FORMAT_VERSION + 1
    with pytest.raises(FormatError, match=r"newer gencodec \(format 2\)"):
        unpack(bytes(data))


@pytest.mark.parametrize("bad, message", [(b"", "empty"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a .gcodec"), (b"GCDC", "truncated")])
def test_obvious_garbage(bad, message):
    with pytest.raises(FormatError, match=message):
        unpack(bad)


def test_every_truncation_is_rejected():
    data = sample_file()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            unpack(data[:n])


def test_section_length_beyond_file_is_rejected_even_with_valid_crc():
    h = Header(codec=0, model=1, media=container.MEDIA_IMAGE, width=8, height=8)
    body = bytearray(pack(h, [(1, b"abc")])[:-4])
    body[-4] = 100  # the section claims 100 bytes, 3 are there
    data = bytes(body) + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(FormatError, match="exceeds"):
        unpack(data)


def test_declared_shape_is_bounded():
    h = Header(codec=0, model=1, media=container.MEDIA_IMAGE, width=8, height=8)
    with pytest.raises(FormatError):
        pack(Header(codec=0, model=1, media=container.MEDIA_IMAGE, width=container.MAX_SIDE + 1, height=8), [])
    with pytest.raises(FormatError):
        pack(Header(codec=0, model=1, media=container.MEDIA_IMAGE, width=8, height=8, frames=2), [])
    assert unpack(pack(h, [])).header.width == 8


def _only_format_errors(data: bytes) -> None:
    try:
        c = unpack(data)
    except FormatError:
        return
    h = c.header
    assert 1 <= h.width <= container.MAX_SIDE and 1 <= h.height <= container.MAX_SIDE
    assert 1 <= h.frames <= container.MAX_FRAMES


def _with_valid_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


# Four fuzzers × 3,500 examples = 14,000 hostile inputs in the default suite.


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data):
    _only_format_errors(data)


@FUZZ
@given(st.binary(max_size=120))
def test_fuzz_random_body_behind_valid_magic_and_crc(tail):
    _only_format_errors(_with_valid_crc(MAGIC + bytes([FORMAT_VERSION]) + tail))


@FUZZ
@given(st.lists(st.integers(0, 8 * 600 - 1), min_size=1, max_size=4))
def test_fuzz_bit_flips(bits):
    data = bytearray(sample_file())
    for bit in bits:
        if bit // 8 < len(data):
            data[bit // 8] ^= 1 << (bit % 8)
    _only_format_errors(bytes(data))


@FUZZ
@given(st.integers(0, 500), st.integers(0, 255), st.booleans())
def test_fuzz_mutated_body_with_recomputed_crc(pos, value, truncate):
    body = bytearray(sample_file()[:-4])
    pos %= len(body)
    if truncate:
        body = body[:pos]
    else:
        body[pos] = value
    _only_format_errors(_with_valid_crc(bytes(body)))

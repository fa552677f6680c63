"""The .gcodec file: magic, version, a compact varint header, tagged sections and a CRC32.

Every byte of the file counts in the size shown to users, so the header is varints only
(about 16 bytes for an image) and sections carry a one-byte tag instead of a name.
Parsing never trusts a length: each one is checked against the bytes that remain, and the
media shape a header declares is bounded, so a hostile file cannot make decoding allocate
more than a legitimate file of that shape would.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from .errors import FormatError

MAGIC = b"GCDC"
FORMAT_VERSION = 1

MEDIA_IMAGE = 0
MEDIA_VIDEO = 1
MEDIA_KINDS = {MEDIA_IMAGE: "image", MEDIA_VIDEO: "video"}

# Bounds on what a header may declare; decoders allocate from these, so they are the memory guard.
MAX_SIDE = 8192
MAX_FRAMES = 100_000
MAX_PARAMS = 64
MAX_SECTIONS = 64
MAX_MODEL_NAME = 255
MAX_FPS_MILLI = 1_000_000
_CRC_BYTES = 4
# Common frame rates take one byte; any other rate is stored as 16 + fps×1000.
_FPS_TABLE = (0, 24000 * 1000 // 1001, 24000, 25000, 30000 * 1000 // 1001, 30000, 50000, 60000 * 1000 // 1001, 60000,
              16000, 15000, 12000, 8000, 10000, 20000, 48000)
_FPS_CODE = {v: i for i, v in enumerate(_FPS_TABLE)}


@dataclass
class Header:
    """What a decoder must know before touching the payload."""

    codec: int
    model: int | str  # registry index, or a custom model id / path
    media: int
    width: int
    height: int
    frames: int = 1
    fps_milli: int = 0  # source frame rate × 1000, rounded down (0 for images; 29.97 fps is 29970)
    model_revision: int = 0
    params: dict[int, int] = field(default_factory=dict)  # codec-defined small-int keys → signed ints

    @property
    def fps(self) -> float:
        return self.fps_milli / 1000.0


@dataclass
class Container:
    header: Header
    sections: list[tuple[int, bytes]]  # (tag, payload) in file order

    def section(self, tag: int) -> bytes:
        for t, data in self.sections:
            if t == tag:
                return data
        raise FormatError(f"corrupt file: section {tag} is missing")


# ---------------------------------------------------------------- varints


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63) if v < 0 else v << 1


def _unzigzag(u: int) -> int:
    return (u >> 1) ^ -(u & 1)


def write_uvarint(out: bytearray, value: int) -> None:
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"varint out of range: {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def write_svarint(out: bytearray, value: int) -> None:
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f"signed varint out of range: {value}")
    write_uvarint(out, _zigzag(value))


class Reader:
    """Bounds-checked cursor over bytes; every read raises FormatError instead of running off the end."""

    def __init__(self, data: bytes | memoryview, what: str = "file"):
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise FormatError(f"truncated {self.what}: needs {n} more bytes, {self.remaining} left")
        chunk = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return chunk

    def uvarint(self, limit: int = (1 << 64) - 1) -> int:
        value = shift = 0
        for _ in range(10):
            if self.pos >= len(self.data):
                raise FormatError(f"truncated {self.what}")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value > limit:
                    raise FormatError(f"corrupt {self.what}: value {value} exceeds {limit}")
                return value
            shift += 7
        raise FormatError(f"corrupt {self.what}: varint longer than 64 bits")

    def svarint(self) -> int:
        return _unzigzag(self.uvarint())


# ---------------------------------------------------------------- header


def _pack_header(h: Header) -> bytearray:
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    write_uvarint(out, h.codec)
    if isinstance(h.model, int):
        write_uvarint(out, h.model + 1)  # 0 is reserved for "custom model string follows"
    else:
        name = h.model.encode("utf-8")
        if not name or len(name) > MAX_MODEL_NAME:
            raise ValueError(f"model id must be 1..{MAX_MODEL_NAME} UTF-8 bytes")
        write_uvarint(out, 0)
        write_uvarint(out, len(name))
        out += name
    write_uvarint(out, h.model_revision)
    write_uvarint(out, h.media)
    for value in (h.width, h.height, h.frames):
        write_uvarint(out, value)
    write_uvarint(out, _FPS_CODE.get(h.fps_milli, len(_FPS_TABLE) + h.fps_milli))
    if len(h.params) > MAX_PARAMS:
        raise ValueError("too many codec parameters")
    write_uvarint(out, len(h.params))
    for key in sorted(h.params):
        write_uvarint(out, key)
        write_svarint(out, h.params[key])
    return out


def _check_shape(h: Header) -> None:
    if h.media not in MEDIA_KINDS:
        raise FormatError(f"corrupt file: unknown media kind {h.media}")
    if not (1 <= h.width <= MAX_SIDE and 1 <= h.height <= MAX_SIDE):
        raise FormatError(f"corrupt file: media size {h.width}×{h.height} outside 1..{MAX_SIDE}")
    if not 1 <= h.frames <= MAX_FRAMES or (h.media == MEDIA_IMAGE and h.frames != 1):
        raise FormatError(f"corrupt file: frame count {h.frames} not allowed")
    if not 0 <= h.fps_milli <= MAX_FPS_MILLI:
        raise FormatError(f"corrupt file: frame rate {h.fps} outside 0..{MAX_FPS_MILLI // 1000}")


def _read_header(r: Reader) -> Header:
    if r.remaining < len(MAGIC) or bytes(r.data[: len(MAGIC)]) != MAGIC:
        raise FormatError("not a .gcodec file (bad magic)")
    r.take(len(MAGIC))
    version = r.take(1)[0]
    if version > FORMAT_VERSION:
        raise FormatError(
            f"made by a newer gencodec (format {version}); this version reads format {FORMAT_VERSION} — upgrade gencodec"
        )
    if version != FORMAT_VERSION:
        raise FormatError(f"unsupported .gcodec format {version}")
    codec = r.uvarint(limit=255)
    model_code = r.uvarint(limit=1 << 16)
    if model_code == 0:
        n = r.uvarint(limit=MAX_MODEL_NAME)
        raw = r.take(n)
        try:
            model: int | str = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("corrupt file: model id is not UTF-8") from None
        if not model:
            raise FormatError("corrupt file: empty model id")
    else:
        model = model_code - 1
    revision = r.uvarint(limit=1 << 32)
    media = r.uvarint(limit=255)
    width = r.uvarint(limit=MAX_SIDE)
    height = r.uvarint(limit=MAX_SIDE)
    frames = r.uvarint(limit=MAX_FRAMES)
    fps_code = r.uvarint(limit=len(_FPS_TABLE) + MAX_FPS_MILLI)
    fps_milli = _FPS_TABLE[fps_code] if fps_code < len(_FPS_TABLE) else fps_code - len(_FPS_TABLE)
    n_params = r.uvarint(limit=MAX_PARAMS)
    params: dict[int, int] = {}
    for _ in range(n_params):
        key = r.uvarint(limit=255)
        if key in params:
            raise FormatError(f"corrupt file: parameter {key} repeated")
        params[key] = r.svarint()
    header = Header(codec, model, media, width, height, frames, fps_milli, revision, params)
    _check_shape(header)
    return header


# ---------------------------------------------------------------- file


def pack(header: Header, sections: list[tuple[int, bytes]]) -> bytes:
    """Serialise a header and its sections into a complete .gcodec file (CRC included)."""
    _check_shape(header)
    out = _pack_header(header)
    if len(sections) > MAX_SECTIONS:
        raise ValueError("too many sections")
    write_uvarint(out, len(sections))
    for tag, data in sections:
        write_uvarint(out, tag)
        write_uvarint(out, len(data))
        out += data
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def header_size(header: Header) -> int:
    """Bytes the header takes (magic and version included); reported by `info`."""
    return len(_pack_header(header))


def unpack(data: bytes) -> Container:
    """Parse and validate a whole file. Raises FormatError for anything that is not a valid .gcodec."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError("expected bytes")
    data = bytes(data)
    if len(data) == 0:
        raise FormatError("empty file: not a .gcodec file")
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise FormatError("not a .gcodec file (bad magic)")
    # The version is checked before the CRC so an old reader names the real problem.
    if len(data) > len(MAGIC) and data[len(MAGIC)] > FORMAT_VERSION:
        raise FormatError(
            f"made by a newer gencodec (format {data[len(MAGIC)]}); this version reads format {FORMAT_VERSION} — upgrade gencodec"
        )
    if len(data) < len(MAGIC) + 1 + _CRC_BYTES:
        raise FormatError("truncated file")
    body, crc = data[:-_CRC_BYTES], struct.unpack("<I", data[-_CRC_BYTES:])[0]
    if zlib.crc32(body) != crc:
        raise FormatError("corrupt or truncated file: checksum mismatch")
    r = Reader(body)
    header = _read_header(r)
    n_sections = r.uvarint(limit=MAX_SECTIONS)
    sections = []
    for _ in range(n_sections):
        tag = r.uvarint(limit=255)
        length = r.uvarint(limit=r.remaining)
        sections.append((tag, r.take(length)))
    if r.remaining:
        raise FormatError(f"corrupt file: {r.remaining} unexpected trailing bytes")
    return Container(header, sections)

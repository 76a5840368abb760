"""Reading the TFRecord framing of the official NAS-Bench-101 files, without TensorFlow.

Each record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little-endian; TensorFlow's ``core/lib/io/record_writer``). Both checksums are verified, so a
flipped byte or a cut-off file is reported with the byte offset of the bad record instead of being
parsed into wrong numbers. CRC-32C comes from ``google-crc32c`` (hardware accelerated, with a pure
Python fallback). The ``tfrecord`` package was not used: its reader skips both checksums and reports a
short read without the offset.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import google_crc32c

from nasbench_errors import OracleError

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
HEADER_SIZE = _LENGTH.size + _CRC.size
FOOTER_SIZE = _CRC.size


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC-32C: rotate right by 15 bits, add a constant (mod 2^32)."""
    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record in TFRecord framing (what TensorFlow's writer emits)."""
    length = _LENGTH.pack(len(data))
    return length + _CRC.pack(masked_crc32c(length)) + data + _CRC.pack(masked_crc32c(data))


def read_records(path: str | os.PathLike[str], remedy: str) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, payload) per record; OracleError naming the offset on a bad record."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise OracleError(f"{path}: cannot read ({e.strerror or e}); {remedy}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            header = f.read(HEADER_SIZE)
            if len(header) < HEADER_SIZE:
                raise _bad(path, offset, f"truncated record header ({len(header)} of {HEADER_SIZE} bytes)", remedy)
            (length,) = _LENGTH.unpack_from(header)
            if _CRC.unpack_from(header, _LENGTH.size)[0] != masked_crc32c(header[: _LENGTH.size]):
                raise _bad(path, offset, "record length fails its CRC-32C (corrupt)", remedy)
            if offset + HEADER_SIZE + length + FOOTER_SIZE > size:
                raise _bad(path, offset, f"record of {length} bytes runs past the end of the file "
                           f"({size} bytes; truncated)", remedy)
            data = f.read(length)
            footer = f.read(FOOTER_SIZE)
            if len(data) < length or len(footer) < FOOTER_SIZE:
                raise _bad(path, offset, "record cut short (truncated)", remedy)
            if _CRC.unpack(footer)[0] != masked_crc32c(data):
                raise _bad(path, offset, f"record data ({length} bytes) fails its CRC-32C (corrupt)", remedy)
            yield offset, data
            offset += HEADER_SIZE + length + FOOTER_SIZE


def _bad(path: Path, offset: int, problem: str, remedy: str) -> OracleError:
    return OracleError(f"{path}: bad record at byte {offset}: {problem}; {remedy}")

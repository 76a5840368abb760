"""A compact columnar table file: a JSON header plus raw arrays that are read as they are, never parsed.

Oracles must open in milliseconds and answer a query with one array read, whatever the size of the
benchmark, so the file is laid out as aligned raw arrays::

    offset 0   magic  b"\\x93NBTABLE"            (8 bytes)
    offset 8   format version, uint32 LE          (4 bytes)
    offset 12  header length in bytes, uint64 LE  (8 bytes)
    offset 20  header: UTF-8 JSON {"blocks": [...], "meta": {...}, "data_size": int, "data_crc32": int}
    ...        zero padding up to the next multiple of 64: the start of the data region
    data       the blocks, each starting at a multiple of 64 bytes, little-endian, C order

Each block entry is ``{"name", "dtype" ("float32" | "int32"), "shape", "offset" (from the start of
the data region), "labels" (optional names along axis 0)}``. ``meta`` is free JSON (provenance, ...).
Writes are atomic (temp file in the same directory, fsync, ``os.replace``), so a crash leaves either
the old file or the new one, never half of one.

Reading: opening reads the header only; a block is read into memory the first time it is used (one
``readinto`` of its bytes through the descriptor opened with the table) and served from memory after
that. Not a memory map: a table truncated in place under a running process would kill it with SIGBUS
on the next lookup, and one overwritten in place would feed it other numbers mid-run. Read this way, a
re-import (a new file renamed over the old) or an overwrite after a block was read changes nothing for
the process, and a block that cannot be read in full is an OracleError naming the file.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import weakref
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasbench_errors import OracleError

MAGIC = b"\x93NBTABLE"
FORMAT_VERSION = 1
ALIGN = 64
_PREFIX = struct.Struct("<IQ")  # format version, header length
_PREFIX_SIZE = len(MAGIC) + _PREFIX.size
DTYPES: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class BlockInfo:
    """Where a block lives in the file and how to view it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    labels: tuple[str, ...] | None = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * DTYPES[self.dtype].itemsize

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name, "dtype": self.dtype, "shape": list(self.shape), "offset": self.offset,
        }
        if self.labels is not None:
            entry["labels"] = list(self.labels)
        return entry


def _storable(name: str, array: np.ndarray) -> tuple[str, np.ndarray]:
    """The block's dtype name and a little-endian C-contiguous copy-or-view of ``array``."""
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return "float32", np.ascontiguousarray(array, dtype=DTYPES["float32"])
    if array.dtype.kind in "iu":
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"block {name!r}: integers outside the int32 range")
        return "int32", np.ascontiguousarray(array, dtype=DTYPES["int32"])
    raise TypeError(f"block {name!r}: dtype {array.dtype} is not storable (use float32 or int32)")


def write_table(
    path: str | os.PathLike[str],
    blocks: Mapping[str, np.ndarray],
    meta: Mapping[str, Any] | None = None,
    labels: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Write ``blocks`` (float -> float32, int -> int32) and ``meta`` atomically to ``path``.

    ``labels[name]`` names the rows (axis 0) of a block, e.g. the metric of each row.
    """
    labels = labels or {}
    infos: list[BlockInfo] = []
    arrays: list[np.ndarray] = []
    offset = 0
    for name, array in blocks.items():
        dtype_name, data = _storable(name, array)
        block_labels = tuple(labels[name]) if name in labels else None
        if block_labels is not None and (data.ndim == 0 or len(block_labels) != data.shape[0]):
            raise ValueError(f"block {name!r}: {len(block_labels)} labels for shape {data.shape}")
        offset = _align(offset)
        infos.append(BlockInfo(name, dtype_name, tuple(data.shape), offset, block_labels))
        arrays.append(data)
        offset += data.nbytes
    chunks = list(_data_chunks(infos, arrays))
    crc = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
    header = {
        "blocks": [info.to_json() for info in infos],
        "meta": dict(meta or {}),
        "data_size": offset,
        "data_crc32": crc,
    }
    header_bytes = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    prefix = MAGIC + _PREFIX.pack(FORMAT_VERSION, len(header_bytes)) + header_bytes
    prefix += b"\0" * (_align(len(prefix)) - len(prefix))
    _atomic_write(Path(path), [prefix, *chunks])


def _data_chunks(infos: list[BlockInfo], arrays: list[np.ndarray]) -> Iterable[memoryview | bytes]:
    position = 0
    for info, data in zip(infos, arrays, strict=True):
        if info.offset > position:
            yield b"\0" * (info.offset - position)
        yield memoryview(data.reshape(-1)).cast("B")
        position = info.offset + info.nbytes


def _atomic_write(path: Path, chunks: Iterable[memoryview | bytes]) -> None:
    """Temp file next to ``path``, fsync, rename over it: readers see the old or the new file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # mkstemp would leave 0o600
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Table:
    """A table file opened read-only: the header at once, each block read into memory on first use."""

    def __init__(self, path: Path, blocks: dict[str, BlockInfo], meta: dict[str, Any],
                 data_start: int, data_size: int, data_crc32: int, remedy: str, file: io.BufferedReader) -> None:
        self.path = path
        self.blocks = blocks
        self.meta = meta
        self._data_start = data_start
        self._data_crc32 = data_crc32
        self._data_size = data_size
        self._fail = _Failer(path, remedy)
        self._file = file  # the file as opened: a later re-import renames a new file over the path
        weakref.finalize(self, file.close)
        self._views: dict[str, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str], remedy: str = "re-import it") -> Table:
        """Read the header; ``remedy`` ends every error message (what to do)."""
        path = Path(path)
        fail = _Failer(path, remedy)
        file = _open(path, fail)
        try:
            header, data_start, size = _read_header(file, fail)
            try:
                blocks = {b.name: b for b in (_block_info(entry) for entry in header["blocks"])}
                meta, data_size, crc = header["meta"], int(header["data_size"]), int(header["data_crc32"])
            except (KeyError, TypeError, ValueError) as e:
                raise fail(f"header does not describe a table ({type(e).__name__}: {e})") from None
            if not isinstance(meta, dict):
                raise fail("header 'meta' is not a JSON object")
            if data_start + data_size != size:
                raise fail(f"file is {size} bytes, header says {data_start + data_size} (truncated or corrupt)")
            for block in blocks.values():
                if block.offset + block.nbytes > data_size:
                    raise fail(f"block {block.name!r} extends past the end of the file (truncated)")
        except BaseException:
            file.close()
            raise
        return cls(path, blocks, meta, data_start, data_size, crc, remedy, file)

    def require(self, benchmark: str, what: str, schema: int) -> None:
        """Refuse a table of another benchmark, or one written by a newer harness (its schema is higher)."""
        found = self.meta.get("benchmark")
        if found != benchmark:
            raise self._fail(f"not a {what} table (benchmark {found!r})")
        if int(self.meta.get("schema", 0)) > schema:
            raise self._fail(f"table schema {self.meta.get('schema')} is newer than this harness reads ({schema})",
                             f"upgrade nasbench-harness, or {self._fail.remedy}")

    def __contains__(self, name: object) -> bool:
        return name in self.blocks

    def __getitem__(self, name: str) -> np.ndarray:
        """The block as a read-only array, read from the file the first time it is asked for."""
        view = self._views.get(name)
        if view is None:
            info = self.blocks[name]
            raw = self._read(self._data_start + info.offset, info.nbytes, f"block {info.name!r}")
            view = raw.view(DTYPES[info.dtype]).reshape(info.shape)
            view.flags.writeable = False
            self._views[name] = view
        return view

    def _read(self, start: int, nbytes: int, what: str) -> np.ndarray:
        """``nbytes`` at ``start`` of the file as opened; a short read (the file was truncated) is an OracleError."""
        buffer = np.empty(nbytes, dtype=np.uint8)
        view, done = memoryview(buffer), 0
        try:
            while done < nbytes:
                got = os.preadv(self._file.fileno(), [view[done:]], start + done)
                if got == 0:
                    raise self._fail(f"{what} ends after {done} of {nbytes} bytes: the file was truncated while "
                                     "in use")
                done += got
        except OSError as e:
            raise self._fail(f"cannot read {what} ({e.strerror or e})") from None
        return buffer

    def verify(self) -> None:
        """Check the data region's CRC-32 (reads the whole file; ``open`` does not)."""
        crc = 0
        step = 1 << 24
        for start in range(0, self._data_size, step):
            length = min(step, self._data_size - start)
            crc = zlib.crc32(memoryview(self._read(self._data_start + start, length, "data")), crc)
        if crc != self._data_crc32:
            raise self._fail("data checksum mismatch (corrupt file)")


class _Failer:
    """Builds the one-line OracleError that names the file and says what to do."""

    def __init__(self, path: Path, remedy: str) -> None:
        self.path, self.remedy = path, remedy

    def __call__(self, problem: str, remedy: str | None = None) -> OracleError:
        return OracleError(f"{self.path}: {problem}; {remedy or self.remedy}")


def _open(path: Path, fail: _Failer) -> io.BufferedReader:
    try:
        return open(path, "rb")  # noqa: SIM115 - the Table keeps it open
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as e:
        raise fail(f"cannot read ({e.strerror or e})") from None


def _read_header(f: io.BufferedReader, fail: _Failer) -> tuple[dict[str, Any], int, int]:
    """(parsed header, start of the data region, file size), or an OracleError saying what is wrong."""
    try:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(_PREFIX_SIZE)
        if len(prefix) < _PREFIX_SIZE or prefix[: len(MAGIC)] != MAGIC:
            raise fail("not a nasbench-harness table file (bad magic or empty)")
        version, header_len = _PREFIX.unpack(prefix[len(MAGIC):])
        if version > FORMAT_VERSION:
            raise fail(f"table format v{version} is newer than this harness reads (v{FORMAT_VERSION})",
                       f"upgrade nasbench-harness, or {fail.remedy}")
        if version < 1 or _PREFIX_SIZE + header_len > size:
            raise fail("header is truncated or corrupt")
        raw = f.read(header_len)
    except OSError as e:
        raise fail(f"cannot read ({e.strerror or e})") from None
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fail("header does not parse (corrupt file)") from None
    if not isinstance(header, dict):
        raise fail("header is not a JSON object (corrupt file)")
    return header, _align(_PREFIX_SIZE + header_len), size


def _block_info(entry: Mapping[str, Any]) -> BlockInfo:
    dtype, shape, offset = entry["dtype"], tuple(int(n) for n in entry["shape"]), int(entry["offset"])
    if dtype not in DTYPES or any(n < 0 for n in shape) or offset < 0 or offset % ALIGN:
        raise ValueError(f"bad block entry {entry.get('name')!r}")
    labels = entry.get("labels")
    return BlockInfo(str(entry["name"]), dtype, shape, offset, None if labels is None else tuple(labels))

"""The compact table file: round trip, memory mapping, atomic writes and every kind of bad file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from benchmarks import table as table_mod
from benchmarks.table import ALIGN, FORMAT_VERSION, MAGIC, Table, write_table
from nasbench_errors import OracleError


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    blocks = {
        "values": np.arange(3 * 7, dtype=np.float64).reshape(3, 7) / 4,
        "cube": np.linspace(0, 1, 2 * 3 * 5).reshape(2, 3, 5),
        "rows": np.array([5, -1, 0, 2], dtype=np.int64),
        "empty": np.empty((0, 7), dtype=np.float32),
    }
    path = tmp_path / "t.table"
    write_table(path, blocks, meta={"benchmark": "test", "n": 7}, labels={"values": ["a", "b", "c"]})
    return path, blocks


def test_round_trip_keeps_values_dtypes_labels_and_meta(sample: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, blocks = sample
    table = Table.open(path)
    assert table.meta == {"benchmark": "test", "n": 7}
    assert table.blocks["values"].labels == ("a", "b", "c")
    assert table.blocks["rows"].labels is None
    for name, original in blocks.items():
        assert table[name].shape == original.shape
        np.testing.assert_array_equal(table[name], original.astype(table[name].dtype))
    assert table["values"].dtype == np.dtype("<f4") and table["rows"].dtype == np.dtype("<i4")
    assert table["values"][2, 6] == pytest.approx(20 / 4)
    assert int(table["rows"][1]) == -1


def test_blocks_are_aligned_read_only_views_of_the_file(sample: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = sample
    table = Table.open(path)
    header_len = struct.unpack("<Q", path.read_bytes()[12:20])[0]
    data_start = -(-(20 + header_len) // ALIGN) * ALIGN
    for info in table.blocks.values():
        assert (data_start + info.offset) % ALIGN == 0
    values = table["values"]
    assert not values.flags.writeable
    with pytest.raises(ValueError):
        values[0, 0] = 1.0
    assert not values.flags.owndata  # a view into the memory map, not a copy


def test_write_is_atomic_when_interrupted(sample: tuple[Path, dict[str, np.ndarray]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = sample
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(table_mod.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_table(path, {"x": np.ones(3)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


def test_new_file_is_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.table"
    write_table(path, {"x": np.ones(2)})
    assert path.stat().st_mode & 0o777 == 0o644


def test_verify_detects_a_flipped_data_byte(sample: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = sample
    Table.open(path).verify()
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(OracleError, match="checksum"):
        Table.open(path).verify()


def test_unstorable_blocks_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not storable"):
        write_table(tmp_path / "x", {"s": np.array(["a"])})
    with pytest.raises(ValueError, match="int32"):
        write_table(tmp_path / "x", {"big": np.array([2**40])})
    with pytest.raises(ValueError, match="labels"):
        write_table(tmp_path / "x", {"v": np.ones((2, 3))}, labels={"v": ["only one"]})


def _oversize_first_block(header: dict) -> None:
    block = header["blocks"][0]
    del block["labels"]  # makes room for the longer shape
    block["shape"] = [300, 7]


def _rewrite_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    header_len = struct.unpack("<Q", raw[12:20])[0]
    header = json.loads(raw[20:20 + header_len])
    edit(header)
    new = json.dumps(header, separators=(",", ":")).encode()
    assert len(new) <= header_len
    new = new.ljust(header_len)
    path.write_bytes(raw[:20] + new + raw[20 + header_len:])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "no such file"),
        (lambda p: p.write_bytes(b""), "bad magic"),
        (lambda p: p.write_bytes(b"index,arch_str\n0,x\n" * 4), "bad magic"),
        (lambda p: p.write_bytes(p.read_bytes()[:16]), "bad magic"),
        (lambda p: p.write_bytes(p.read_bytes()[:40]), "header is truncated"),
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "truncated"),
        (lambda p: p.write_bytes(p.read_bytes() + b"junk"), "truncated or corrupt"),
        (lambda p: p.write_bytes(p.read_bytes()[:24] + b"\xff\xfe" + p.read_bytes()[26:]), "does not parse"),
        (lambda p: p.write_bytes(MAGIC + struct.pack("<IQ", FORMAT_VERSION + 1, 2) + b"{}"), "newer"),
        (lambda p: _rewrite_header(p, _oversize_first_block), "extends past"),
        (lambda p: _rewrite_header(p, lambda h: h["blocks"][0].update(dtype="complex")), "does not describe"),
        (lambda p: _rewrite_header(p, lambda h: h.pop("meta")), "does not describe"),
    ],
)
def test_bad_files_raise_one_line_oracle_error(sample: tuple[Path, dict[str, np.ndarray]], damage,
                                               message: str) -> None:
    path, _ = sample
    damage(path)
    with pytest.raises(OracleError, match=message) as info:
        Table.open(path, remedy="re-import it with X")
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text
    assert text.endswith("re-import it with X")


def test_a_directory_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(OracleError, match="cannot read"):
        Table.open(tmp_path)


def test_open_reads_only_the_header(sample: tuple[Path, dict[str, np.ndarray]],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening must not read the data region (that is what makes a full-size oracle load in ms)."""
    path, _ = sample
    read_sizes: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, f) -> None:
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.f.close()

        def read(self, n: int = -1) -> bytes:
            read_sizes.append(n)
            return self.f.read(n)

        def fileno(self) -> int:
            return self.f.fileno()

        def close(self) -> None:
            self.f.close()

    monkeypatch.setattr(table_mod, "open", lambda p, mode="r": Spy(real_open(p, mode)), raising=False)
    Table.open(path)
    assert read_sizes and all(0 <= n <= 4096 for n in read_sizes)

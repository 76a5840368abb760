"""A stand-in for the YAHPO Gym NAS-Bench-301 surrogate folder, so the DARTS-space tests run in any clone.

``write_surrogate(folder)`` writes ``model_v2.onnx`` and ``encoding_v2.json`` with the real surrogate's interface
(``x_cat`` int32 [B, 34] integer codes, ``x_cont`` float [B, 1] epoch -> float [B, 4]), so that the harness's
checks, its encoder, the import's evolution and searches all run on it. The model is a fixed random linear map
squashed into a validation accuracy of 0.85..0.95 that grows with the epoch; its numbers mean nothing, and the
checks of the real surrogate's predictions stay in ``tests/test_nb301.py`` on the real files.

The ONNX file is written with a few lines of protobuf encoding (the ``onnx`` package is not a dependency):
ModelProto -> GraphProto of Cast, MatMul, Add, Sigmoid, Mul nodes over float initializers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmarks.darts.genotype import CELL_OPS, input_pairs
from benchmarks.nb301.encoding import COLUMNS, INPUT_COLUMNS, INPUT_NODES, NA, pair_level

FLOAT, INT32 = 1, 6  # ONNX TensorProto data types
ATTRIBUTE_INT = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _str(number: int, text: str) -> bytes:
    return _bytes(number, text.encode())


def _tensor(name: str, array: np.ndarray) -> bytes:
    dims = b"".join(_int(1, d) for d in array.shape)
    return dims + _int(2, FLOAT) + _str(8, name) + _bytes(9, np.ascontiguousarray(array, dtype="<f4").tobytes())


def _node(op: str, inputs: list[str], output: str, attributes: bytes = b"") -> bytes:
    return b"".join(_str(1, i) for i in inputs) + _str(2, output) + _str(3, output) + _str(4, op) + attributes


def _value_info(name: str, elem_type: int, width: int) -> bytes:
    shape = _bytes(1, _str(2, "B")) + _bytes(1, _int(1, width))  # [B, width]
    return _str(1, name) + _bytes(2, _bytes(1, _int(1, elem_type) + _bytes(2, shape)))


def surrogate_onnx(seed: int = 0) -> bytes:
    """The stand-in model: y = 0.85 + 0.1 * sigmoid(codes @ W + epoch * v + b), four identical-form outputs."""
    rng = np.random.default_rng(seed)
    weights = {
        "w_cat": rng.normal(0.0, 0.05, size=(len(COLUMNS), 4)),
        "w_epoch": np.full((1, 4), 0.02),
        "bias": np.full(4, -1.0),
        "scale": np.full(4, 0.1),
        "offset": np.full(4, 0.85),
    }
    nodes = [
        _node("Cast", ["x_cat"], "codes", _bytes(5, _str(1, "to") + _int(3, FLOAT) + _int(20, ATTRIBUTE_INT))),
        _node("MatMul", ["codes", "w_cat"], "from_codes"),
        _node("MatMul", ["x_cont", "w_epoch"], "from_epoch"),
        _node("Add", ["from_codes", "from_epoch"], "summed"),
        _node("Add", ["summed", "bias"], "logits"),
        _node("Sigmoid", ["logits"], "squashed"),
        _node("Mul", ["squashed", "scale"], "scaled"),
        _node("Add", ["scaled", "offset"], "y"),
    ]
    graph = (b"".join(_bytes(1, n) for n in nodes) + _str(2, "nb301-stand-in")
             + b"".join(_bytes(5, _tensor(name, value)) for name, value in weights.items())
             + _bytes(11, _value_info("x_cat", INT32, len(COLUMNS))) + _bytes(11, _value_info("x_cont", FLOAT, 1))
             + _bytes(12, _value_info("y", FLOAT, 4)))
    return _int(1, 7) + _str(2, "nasbench-harness tests") + _bytes(7, graph) + _bytes(8, _str(1, "") + _int(2, 13))


def surrogate_encoding() -> dict[str, dict[str, int]]:
    """Codes in the real file's convention: ``#na#`` = 0, then the levels in sorted order."""
    codes: dict[str, dict[str, int]] = {}
    inputs = {column: node for cell_columns in INPUT_COLUMNS.values()
              for column, node in zip(cell_columns, INPUT_NODES, strict=True)}
    for column in COLUMNS:
        levels = sorted(pair_level(p) for p in input_pairs(inputs[column])) if column in inputs else sorted(CELL_OPS)
        codes[column] = {NA: 0, **{level: i for i, level in enumerate(levels, 1)}}
    return codes


def write_surrogate(folder: Path, seed: int = 0) -> Path:
    """``folder`` with the stand-in ``model_v2.onnx`` and ``encoding_v2.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_v2.onnx").write_bytes(surrogate_onnx(seed))
    (folder / "encoding_v2.json").write_text(json.dumps(surrogate_encoding(), indent=1))
    return folder

"""NAS-Bench-101 without TensorFlow: graph hash and pruning, record framing, metrics message, importer."""

from __future__ import annotations

import base64
import itertools
import json
import random

import numpy as np
import pytest

from benchmarks.nb101.graph import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, ModelSpec, SpecError, hash_module
from benchmarks.nb101.importer import import_nb101
from benchmarks.nb101.metrics import ModelMetrics
from benchmarks.nb101.oracle import NB101Table, decode_spec, encode_spec
from benchmarks.nb101.tfrecord import masked_crc32c, read_records
from nasbench_errors import OracleError
from tests.nb101_fixtures import Run, payload, write_tfrecord

# A cell whose hash is documented with its benchmark results (NNI's NAS-Bench-101 example, queried
# from the official tfrecord: test accuracies 92.12 / 91.91 / 92.16 over the 3 repeats).
DOCUMENTED_MATRIX = [[0, 1, 0, 0, 1, 1, 0],
                     [0, 0, 1, 0, 0, 0, 0],
                     [0, 0, 0, 1, 0, 0, 1],
                     [0, 0, 0, 0, 0, 1, 0],
                     [0, 0, 0, 0, 0, 1, 0],
                     [0, 0, 0, 0, 0, 0, 1],
                     [0, 0, 0, 0, 0, 0, 0]]
DOCUMENTED_OPS = [INPUT, CONV3X3, MAXPOOL3X3, CONV3X3, CONV3X3, CONV1X1, OUTPUT]
DOCUMENTED_HASH = "00005c142e6f48ac74fdcf73e3439874"


def permuted(spec: ModelSpec, perm: list[int]) -> ModelSpec:
    """The same cell with vertex v renumbered perm[v] (input and output stay first and last)."""
    n = spec.n_vertices
    matrix = [[0] * n for _ in range(n)]
    for a, b in itertools.product(range(n), repeat=2):
        if spec.matrix[a][b]:
            matrix[perm[a]][perm[b]] = 1
    ops = [""] * n
    for v, op in enumerate(spec.ops):
        ops[perm[v]] = op
    return ModelSpec(tuple(map(tuple, matrix)), tuple(ops))


def topological_relabelings(spec: ModelSpec) -> list[list[int]]:
    """Vertex renumberings of the interior that keep every edge pointing forward."""
    n = spec.n_vertices
    out = []
    for order in itertools.permutations(range(1, n - 1)):
        perm = [0] * n
        perm[n - 1] = n - 1
        for new, old in enumerate(order, start=1):
            perm[old] = new
        if all(perm[a] < perm[b] for a in range(n) for b in range(n) if spec.matrix[a][b]):
            out.append(perm)
    return out


# -- the hash -----------------------------------------------------------------------------------------
def test_documented_hash_is_reproduced():
    assert ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS).spec_hash() == DOCUMENTED_HASH


def test_hash_is_invariant_under_isomorphism():
    spec = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    relabelings = topological_relabelings(spec)
    assert len(relabelings) > 1
    for perm in relabelings:
        assert permuted(spec, perm).spec_hash() == DOCUMENTED_HASH


def test_hash_module_is_invariant_on_random_labelled_graphs():
    """The fingerprint depends on the graph, not the vertex numbering (any directed graph, any labels)."""
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(2, 9)
        matrix = [[rng.randint(0, 1) for _ in range(n)] for _ in range(n)]
        labels = [rng.randint(-2, 3) for _ in range(n)]
        perm = list(range(n))
        rng.shuffle(perm)
        pm = [[0] * n for _ in range(n)]
        pl = [0] * n
        for a, b in itertools.product(range(n), repeat=2):
            pm[perm[a]][perm[b]] = matrix[a][b]
        for v in range(n):
            pl[perm[v]] = labels[v]
        assert hash_module(pm, pl) == hash_module(matrix, labels)


def test_hash_separates_non_isomorphic_cells():
    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0] * 5]
    # the same chain with the ops in another order is a different network
    a = ModelSpec.create(chain, [INPUT, CONV1X1, CONV3X3, CONV3X3, OUTPUT]).spec_hash()
    b = ModelSpec.create(chain, [INPUT, CONV3X3, CONV3X3, CONV1X1, OUTPUT]).spec_hash()
    # a diamond: swapping the two parallel ops is an isomorphism, changing an op is not
    diamond = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    c = ModelSpec.create(diamond, [INPUT, CONV1X1, MAXPOOL3X3, OUTPUT]).spec_hash()
    d = ModelSpec.create(diamond, [INPUT, MAXPOOL3X3, CONV1X1, OUTPUT]).spec_hash()
    e = ModelSpec.create(diamond, [INPUT, MAXPOOL3X3, MAXPOOL3X3, OUTPUT]).spec_hash()
    assert a != b and c == d and c != e
    # edge direction matters: input -> a -> b -> output with a skip over b, vs over a
    skip_b = [[0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    skip_a = [[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    ops = [INPUT, CONV1X1, CONV3X3, OUTPUT]
    assert ModelSpec.create(skip_b, ops).spec_hash() != ModelSpec.create(skip_a, ops).spec_hash()


def test_hash_string_forms_follow_the_official_algorithm():
    """Two vertices, one edge: every md5 input spelled out as the official code builds it."""
    import hashlib

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    h = [md5("(1, 0, -1)"), md5("(0, 1, -2)")]
    for _ in range(2):
        h = [md5("|" + h[1] + "|" + h[0]), md5(h[0] + "||" + h[1])]
    assert hash_module([[0, 1], [0, 0]], [-1, -2]) == md5(str(sorted(h)))


# -- pruning and validity ----------------------------------------------------------------------------
def test_pruning_removes_dangling_and_unreachable_vertices():
    # vertex 1 has no input, vertex 3 feeds nothing: both go
    matrix = [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    spec = ModelSpec.create(matrix, [INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT]).pruned()
    assert spec.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0))
    assert spec.ops == (INPUT, CONV3X3, OUTPUT)
    full = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    assert full.pruned() == full


def test_disconnected_and_out_of_space_cells_are_rejected():
    disconnected = ModelSpec.create([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV1X1, OUTPUT])
    assert disconnected.pruned() is None
    with pytest.raises(SpecError, match="not connected"):
        disconnected.spec_hash()
    chain8 = [[int(b == a + 1) for b in range(8)] for a in range(8)]
    with pytest.raises(SpecError, match="too many vertices"):
        ModelSpec.create(chain8, [INPUT, *[CONV1X1] * 6, OUTPUT]).spec_hash()
    dense = [[int(b > a) for b in range(6)] for a in range(6)]  # 15 edges
    with pytest.raises(SpecError, match="too many edges"):
        ModelSpec.create(dense, [INPUT, *[CONV1X1] * 4, OUTPUT]).spec_hash()
    with pytest.raises(SpecError, match="unsupported op"):
        ModelSpec.create([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT]).spec_hash()
    with pytest.raises(SpecError, match="upper triangular"):
        ModelSpec.create([[0, 0], [1, 0]], [INPUT, OUTPUT])


def test_spec_encoding_round_trips():
    spec = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    assert decode_spec(*encode_spec(spec)) == spec
    small = ModelSpec.create([[0, 1], [0, 0]], [INPUT, OUTPUT])
    assert decode_spec(*encode_spec(small)) == small


# -- record framing and the metrics message ------------------------------------------------------------
def test_masked_crc32c_matches_the_standard_check_value():
    crc = 0xE3069283  # CRC-32C of b"123456789" (RFC 3720 check value)
    expected = ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == expected


def test_metrics_message_uses_the_official_wire_format():
    message = ModelMetrics(trainable_parameters=5)
    message.evaluation_data.add(test_accuracy=0.5)
    # field 1 (evaluation_data): length-delimited, holding field 5 (test_accuracy) as a 64-bit double;
    # field 2 (trainable_parameters): varint
    assert message.SerializeToString() == b"\x0a\x09\x29" + np.float64(0.5).tobytes() + b"\x10\x05"


def _records(tmp_path, count=3):
    spec = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    return write_tfrecord(tmp_path / "r.tfrecord",
                          [payload(spec, DOCUMENTED_HASH, 108, Run(0.9, 0.9, 1.0)) for _ in range(count)])


def test_records_read_back_with_their_offsets(tmp_path):
    path = _records(tmp_path)
    records = list(read_records(path, "redo"))
    size = 12 + len(records[0][1]) + 4
    assert [offset for offset, _ in records] == [0, size, 2 * size]
    assert json.loads(records[1][1])[0] == DOCUMENTED_HASH


@pytest.mark.parametrize("cut", [5, 12 + 7, 12 + 40])
def test_truncated_file_names_the_byte_offset(tmp_path, cut):
    path = _records(tmp_path)
    data = path.read_bytes()
    size = len(data) // 3
    path.write_bytes(data[: 2 * size + cut])
    with pytest.raises(OracleError, match=f"at byte {2 * size}: .*(truncated)"):
        list(read_records(path, "download it again"))


@pytest.mark.parametrize("where,what", [(3, "length fails"), (30, "data .* fails")])
def test_corrupt_record_names_the_byte_offset(tmp_path, where, what):
    path = _records(tmp_path)
    data = bytearray(path.read_bytes())
    size = len(data) // 3
    data[size + where] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(OracleError, match=f"at byte {size}: record {what}"):
        list(read_records(path, "download it again"))


# -- the importer and the table ----------------------------------------------------------------------------
def _diamond(op_a: str, op_b: str) -> ModelSpec:
    return ModelSpec.create([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [INPUT, op_a, op_b, OUTPUT])


def test_import_and_query(tmp_path):
    cells = {
        "documented": ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS),
        "diamond": _diamond(CONV1X1, MAXPOOL3X3),
        "chain": ModelSpec.create([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT]),
    }
    payloads, truth = [], {}
    for i, spec in enumerate(cells.values()):
        runs = [Run(0.80 + 0.01 * i + 0.001 * r, 0.79 + 0.01 * i + 0.001 * r, 100.0 * (r + 1)) for r in range(3)]
        truth[spec.spec_hash()] = runs
        payloads += [payload(spec, spec.spec_hash(), 108, run, params=1000 + i) for run in runs]
        payloads.append(payload(spec, spec.spec_hash(), 36, runs[0]))  # nasbench_full's shorter budgets
    source = write_tfrecord(tmp_path / "nasbench_full.tfrecord", payloads)
    summary = import_nb101(source, tmp_path / "nb101.oracle")
    assert (summary.cells, summary.records, summary.skipped_epochs) == (3, 12, {36: 3})
    table = NB101Table.open(tmp_path / "nb101.oracle")
    assert table.source["sha256"] and table.source["records"] == 12
    for spec_hash, runs in truth.items():
        row = table.row(spec_hash)
        assert table.spec_hash(row) == spec_hash
        np.testing.assert_array_equal(table.test[row], np.float32([r.test for r in runs]))
        np.testing.assert_array_equal(table.valid[row], np.float32([r.valid for r in runs]))
        np.testing.assert_array_equal(table.train_time[row], np.float32([r.train_time for r in runs]))
    # a query by an isomorphic, unpruned cell finds the same row
    padded = ModelSpec.create([[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0] * 5],
                              [INPUT, MAXPOOL3X3, CONV1X1, CONV3X3, OUTPUT])  # vertex 3 dangles
    result = table.query(padded)
    assert result.spec_hash == _diamond(CONV1X1, MAXPOOL3X3).spec_hash() and result.params == 1001
    assert result.spec == _diamond(CONV1X1, MAXPOOL3X3)  # the cell as the file stores it
    assert table.rows([DOCUMENTED_HASH, "0" * 32]).tolist() == [table.row(DOCUMENTED_HASH), -1]
    with pytest.raises(OracleError, match="no cell with hash"):
        table.query(_diamond(CONV3X3, CONV3X3))


def _import_error(tmp_path, payloads, **kwargs) -> str:
    source = write_tfrecord(tmp_path / "bad.tfrecord", payloads)
    with pytest.raises(OracleError) as err:
        import_nb101(source, tmp_path / "nb101.oracle", **kwargs)
    assert not (tmp_path / "nb101.oracle").exists()
    return str(err.value)


def test_import_rejects_bad_payloads_naming_the_record(tmp_path):
    spec = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    good = payload(spec, DOCUMENTED_HASH, 108, Run(0.9, 0.9, 1.0))
    offset = 12 + len(good) + 4
    assert f"record at byte {offset}: payload is not" in _import_error(tmp_path, [good, b"not json"])
    row = json.loads(good)
    row[4] = base64.b64encode(b"\xff\xff\xff").decode()
    assert "metrics field does not decode" in _import_error(tmp_path, [json.dumps(row).encode()])
    wrong = payload(spec, "f" * 32, 108, Run(0.9, 0.9, 1.0))
    assert "does not match its cell" in _import_error(tmp_path, [wrong])
    assert "fewer than 3 runs" in _import_error(tmp_path, [good, good])
    assert "more than 3 runs" in _import_error(tmp_path, [good] * 4)
    assert "no 108-epoch records" in _import_error(tmp_path, [payload(spec, DOCUMENTED_HASH, 4, Run(0.9, 0.9, 1))])


def test_unverified_import_keeps_the_files_key(tmp_path):
    spec = ModelSpec.create(DOCUMENTED_MATRIX, DOCUMENTED_OPS)
    source = write_tfrecord(tmp_path / "f.tfrecord", [payload(spec, "f" * 32, 108, Run(0.9, 0.9, 1.0))] * 3)
    import_nb101(source, tmp_path / "nb101.oracle", verify_hashes=False)
    assert NB101Table.open(tmp_path / "nb101.oracle").rows(["f" * 32]).tolist() == [0]


def test_table_of_another_benchmark_is_refused(tmp_path):
    from benchmarks.table import write_table

    write_table(tmp_path / "x.oracle", {"values": np.zeros(3)}, meta={"benchmark": "nb201"})
    with pytest.raises(OracleError, match="not a NAS-Bench-101 table"):
        NB101Table.open(tmp_path / "x.oracle")

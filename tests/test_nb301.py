"""The NAS-Bench-301 surrogate oracle: genotypes -> the surrogate's inputs exactly as config_space_v2.json and
encoding_v2.json define them, plausible and stable answers, the import with its evolution optimum, bad input.

The mechanics run on the stand-in surrogate of ``tests.nb301_fixtures`` (the real one's interface and encoding) in
any clone; the real surrogate's numbers and its config space are checked when ../shared/data holds it."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.darts.genotype import CELL_SIZE, DARTS_V2, EDGES, Genotype
from benchmarks.nb301.encoding import COLUMNS, NA, PREFIX, Encoding
from benchmarks.nb301.evolution import random_genotype, regularized_evolution
from benchmarks.nb301.oracle import NB301Oracle, import_nb301
from benchmarks.nb301.surrogate import Surrogate
from harness.cli import main
from nasbench_errors import OracleError
from tests.conftest import shared_file
from tests.nb301_fixtures import surrogate_encoding, write_surrogate

SURROGATE = "nb301-yahpo-surrogate"
#: normal: sep_conv_3x3 everywhere, every node on the two cell inputs; reduce: max_pool_3x3 on the deepest chain
HAND_MADE = Genotype(
    normal=tuple((op, s) for _ in range(4) for op, s in (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 1), ("max_pool_3x3", 2),
            ("max_pool_3x3", 2), ("max_pool_3x3", 3), ("max_pool_3x3", 3), ("max_pool_3x3", 4)),
)
EXPECTED = {
    DARTS_V2: [5, 5, 5, 5, 0, 7, 5, 0, 0, 7, 0, 2, 0, 0, 4, 4, 0, 4, 7, 4, 0, 7, 0, 0, 4, 7, 0, 0, 1, 1, 2, 3, 2, 5],
    HAND_MADE: [5, 5, 5, 5, 0, 5, 5, 0, 0, 5, 5, 0, 0, 0, 4, 4, 0, 4, 4, 0, 0, 4, 4, 0, 0, 0, 4, 4, 1, 1, 1, 3, 6, 10],
}


def _file(name: str):  # noqa: ANN202 - Path
    """A file of the real surrogate (the test skips without ../shared/data)."""
    return shared_file(f"{SURROGATE}/{name}")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    return write_surrogate(tmp_path_factory.mktemp("stand-in"))


@pytest.fixture(scope="module", params=["stand-in", "real"])
def source(request, stand_in) -> Path:
    """The surrogate folder: the stand-in in any clone, and the real one where ../shared/data has it."""
    return stand_in if request.param == "stand-in" else _file("model_v2.onnx").parent


@pytest.fixture(scope="module")
def surrogate(source) -> Surrogate:
    return Surrogate(source / "model_v2.onnx", source / "encoding_v2.json")


@pytest.fixture(scope="module")
def real_surrogate() -> Surrogate:
    return Surrogate(_file("model_v2.onnx"), _file("encoding_v2.json"))


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory, source):
    directory = tmp_path_factory.mktemp("nb301")
    import_nb301(source, directory, {"budget": 1000, "seed": 3})
    return directory


def _config(genotype: Genotype) -> dict[str, str]:
    """The YAHPO configuration of a genotype with every edge op set (activity is what the test checks)."""
    config = {}
    for cell in ("normal", "reduce"):
        pairs = genotype.cell(cell)
        for i, node in enumerate((2, 3, 4, 5)):
            (op_a, a), (op_b, b) = pairs[2 * i: 2 * i + 2]
            config[f"{PREFIX}edge_{cell}_{EDGES.index((a, node))}"] = op_a
            config[f"{PREFIX}edge_{cell}_{EDGES.index((b, node))}"] = op_b
            if node > 2:
                config[f"{PREFIX}inputs_node_{cell}_{node}"] = f"{a}_{b}"
    return config


@pytest.mark.parametrize("genotype", list(EXPECTED), ids=["darts-v2", "hand-made"])
def test_genotypes_encode_to_the_codes_worked_out_by_hand(genotype, stand_in):
    assert Encoding.load(stand_in / "encoding_v2.json").encode([genotype])[0].tolist() == EXPECTED[genotype]


@pytest.mark.parametrize("genotype", list(EXPECTED), ids=["darts-v2", "hand-made"])
def test_genotypes_encode_as_the_config_space_defines(genotype):
    codes = json.loads(_file("encoding_v2.json").read_text())
    assert codes == surrogate_encoding()  # the stand-in's encoding is the real file's
    encoding = Encoding.load(_file("encoding_v2.json"))
    x = encoding.encode([genotype])[0]
    assert x.tolist() == EXPECTED[genotype]
    # independently: an edge is coded (not #na#) exactly when config_space_v2.json's condition makes it active
    space = json.loads(_file("config_space_v2.json").read_text())
    config = _config(genotype)
    conditions = {c["child"]: (c["parent"], set(c["values"])) for c in space["conditions"]}
    for j, column in enumerate(COLUMNS):
        parent = conditions.get(column)
        active = parent is None or config[parent[0]] in parent[1]
        assert (x[j] != codes[column][NA]) == active, column
        if active:
            assert x[j] == codes[column][config[column]], column
    assert [h["name"] for h in space["hyperparameters"] if h["name"] != "epoch"].__len__() == len(COLUMNS)


def test_surrogate_reproduces_the_documented_darts_v2_numbers(real_surrogate):
    # data README: 0.614 at epoch 1, 0.886 at epoch 50, 0.929 at epoch 98
    for epoch, expected in ((1, 0.614), (50, 0.886), (98, 0.929)):
        assert real_surrogate.predict([DARTS_V2], epoch=epoch)[0] == pytest.approx(expected, abs=1e-3)


def test_real_surrogate_answers_are_plausible(real_surrogate):
    batch = real_surrogate.predict([random_genotype(np.random.default_rng(0)) for _ in range(300)])
    assert 0.86 < batch.min() and batch.max() < 0.95  # README: 2000 random cells range 0.881-0.935


def test_surrogate_answers_are_stable(surrogate):
    rng = np.random.default_rng(0)
    genotypes = [random_genotype(rng) for _ in range(300)]
    batch = surrogate.predict(genotypes)
    assert np.array_equal(batch, surrogate.predict(genotypes))
    alone = np.array([surrogate.predict([g])[0] for g in genotypes[:20]])
    np.testing.assert_allclose(alone, batch[:20], atol=1e-6)
    assert 0.0 < batch.min() and batch.max() < 1.0 and batch.std() > 0  # fractions that tell cells apart
    assert surrogate.predict([HAND_MADE])[0] == pytest.approx(surrogate.predict([HAND_MADE])[0])


def test_evolution_beats_random_search_and_is_seeded(surrogate):
    first = regularized_evolution(surrogate.predict, budget=600, seed=1, population=50, sample=10, children=25)
    again = regularized_evolution(surrogate.predict, budget=600, seed=1, population=50, sample=10, children=25)
    assert first == again and first.queries == 600
    rng = np.random.default_rng(1)
    assert first.value > surrogate.predict([random_genotype(rng) for _ in range(600)]).max() - 0.002


def test_import_registers_the_surrogate_with_the_optimum_and_its_provenance(oracle_dir, surrogate):
    meta = json.loads((NB301Oracle.default_path(oracle_dir) / "nb301.json").read_text())
    optimum = meta["optimum"]
    assert optimum["budget"] == optimum["queries"] == 1000 and optimum["seed"] == 3
    assert "regularized evolution" in optimum["method"] and optimum["epoch"] == 98
    darts_v2 = float(surrogate.predict([DARTS_V2])[0])  # the real surrogate: 0.929 (checked above)
    assert meta["darts_v2"] == pytest.approx(darts_v2, abs=1e-6)
    oracle = NB301Oracle.open(oracle_dir)
    best = Genotype.from_string(optimum["genotype"])
    (lookup,) = oracle.lookups(best.index)
    assert (lookup.dataset, lookup.split, lookup.budget, lookup.stat) == ("cifar10", "valid", "e98", "mean")
    assert lookup.value == lookup.optimum == pytest.approx(100 * optimum["value"]) and lookup.regret == 0
    (v2,) = oracle.lookups(DARTS_V2.index)
    assert v2.value == pytest.approx(100 * darts_v2, abs=1e-4) and v2.regret == pytest.approx(v2.optimum - v2.value)
    assert v2.regret > 0
    assert oracle.lookups(DARTS_V2.index) == [v2]  # cached
    assert oracle.search_metrics("cifar10") == (("cifar10", "test"), ("cifar10", "valid"))


def test_bad_queries_are_one_line_errors(oracle_dir):
    oracle = NB301Oracle.open(oracle_dir)
    for call, message in ((lambda: oracle.lookups(CELL_SIZE ** 2), "outside"),
                          (lambda: oracle.lookups(0, budget="hp200"), "final epoch"),
                          (lambda: oracle.search_metrics("cifar100"), "CIFAR-10 only")):
        with pytest.raises(OracleError, match=message):
            call()


def test_bad_files_are_one_line_errors(tmp_path, oracle_dir, source):
    with pytest.raises(OracleError, match="not a directory"):
        import_nb301(tmp_path / "missing", tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(OracleError, match="surrogate model not found"):
        import_nb301(bad, tmp_path)
    (bad / "model_v2.onnx").write_text("not onnx")
    shutil.copy(source / "encoding_v2.json", bad)
    with pytest.raises(OracleError, match="not an ONNX model"):
        import_nb301(bad, tmp_path)
    shutil.copy(source / "model_v2.onnx", bad)
    codes = json.loads((source / "encoding_v2.json").read_text())
    codes[COLUMNS[0]]["skip_connect"] = 3  # a code clash: another model's encoding
    (bad / "encoding_v2.json").write_text(json.dumps(codes))
    with pytest.raises(OracleError, match="codes of .*edge_normal_0 are not the surrogate's"):
        import_nb301(bad, tmp_path)
    (bad / "encoding_v2.json").write_text('{"a": 1}')
    with pytest.raises(OracleError, match="not the NAS-Bench-301 surrogate encoding"):
        import_nb301(bad, tmp_path)
    with pytest.raises(OracleError, match="no NAS-Bench-301 surrogate registered"):
        NB301Oracle.open(tmp_path / "empty")
    tampered = tmp_path / "tampered"
    shutil.copytree(oracle_dir, tampered)
    (NB301Oracle.default_path(tampered) / "encoding_v2.json").write_text("{}")
    with pytest.raises(OracleError, match="changed since it was imported"):
        NB301Oracle.open(tampered)


def test_missing_onnxruntime_names_the_extra(monkeypatch, stand_in):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(OracleError, match=r"pip install 'nasbench-harness\[nb301\]'"):
        Surrogate(stand_in / "model_v2.onnx", stand_in / "encoding_v2.json")


def test_cli_import_and_its_errors(tmp_path, monkeypatch, capsys, source, surrogate):
    monkeypatch.setattr(sys, "argv", ["harness", "data", "import", "nb301", str(source), "--evolution-budget", "300",
                                      "--oracle-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    darts_v2 = 100 * surrogate.predict([DARTS_V2])[0]  # the real surrogate: 92.91 %
    assert f"DARTS-V2 predicted validation accuracy {darts_v2:.2f} %" in out and "300 queries" in out
    assert NB301Oracle.open(tmp_path).optimum["queries"] == 300
    monkeypatch.setattr(sys, "argv", ["harness", "data", "import", "nb301", str(tmp_path / "nowhere"),
                                      "--oracle-dir", str(tmp_path)])
    with pytest.raises(SystemExit) as failed:
        main()
    err = capsys.readouterr().err.strip()
    assert failed.value.code == 2 and err.startswith("error:") and "not a directory" in err and "\n" not in err

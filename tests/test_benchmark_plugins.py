"""Benchmarks are plug-ins: a package under ``benchmarks`` that defines ``BENCHMARK`` is discovered, and its preset,
profile overrides, importer and info reach ``harness config``, ``harness data import`` and ``harness data info``
without any shared file naming it. The fake benchmark lives in a temporary directory added to the package's path."""

from __future__ import annotations

import sys
import textwrap

import pytest
from typer.testing import CliRunner

import benchmarks
import benchmarks.registry
from harness.cli import app
from harness.specs import PROFILES, resolve
from nasbench_errors import ConfigError

FAKE = '''
"""A toy benchmark: one file as its table."""
from pathlib import Path

from benchmarks.registry import SEARCH_SGD, Benchmark, Importer
from nasbench_settings import integer, one_of


def _unused(*_args):
    raise NotImplementedError


def _import(request):
    table = Path(request.oracle_dir) / "toy.table"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(Path(request.source).read_text() * request.options["scale"])
    request.say(f"toy table: {table}")


def _info(oracle_dir, say):
    table = Path(oracle_dir) / "toy.table"
    say(f"Toy table: {table} holds {table.read_text()!r}" if table.exists() else f"Toy table: none in {oracle_dir}")


BENCHMARK = Benchmark(
    name="toybench", title="Toy", datasets=("cifar10",), make_space=_unused, make_supernet=_unused,
    open_oracle=_unused, describe=_unused,
    preset={**SEARCH_SGD, "batch_size": 32, "C": 4, "N": 1, "oracle_budget": "toy", "toy_size": 7},
    types={"oracle_budget": one_of("toy", help="the only budget"), "toy_size": integer(ge=1, help="cells")},
    profile_overrides={"quick": {"toy_size": 3, "C": 2}},
    importers=(Importer(name="toy", source="a text file", run=_import,
                        options={"scale": integer(ge=1, help="copies")}, defaults={"scale": 1}),),
    info=_info,
)
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toybench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(FAKE))
    monkeypatch.setattr(benchmarks, "__path__", [*benchmarks.__path__, str(package.parent)])
    benchmarks.registry.registry.cache_clear()
    yield tmp_path
    sys.modules.pop("benchmarks.toybench", None)
    benchmarks.registry.registry.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_a_package_with_a_benchmark_is_discovered(toy):
    assert benchmarks.registry.names()[-1] == "toybench"
    assert benchmarks.registry.get_importer("toy").name == "toy"


def test_its_preset_and_profile_overrides_resolve_in_harness_config(toy):
    paper = resolve("darts", "toybench", "paper")
    assert (paper.config["toy_size"], paper.origin["toy_size"]) == (7, "benchmark preset")
    assert paper.config["lr"] == 0.025 and paper.types["toy_size"].describe() == "int >= 1"
    quick = resolve("darts", "toybench", "quick")
    assert (quick.config["toy_size"], quick.origin["toy_size"]) == (3, "profile quick on toybench")
    assert (quick.config["C"], quick.config["N"]) == (2, PROFILES["quick"]["N"])  # its override, then the profile's
    shown = _run("config", "darts", "--benchmark", "toybench", "--profile", "quick")
    row = next(line for line in shown.splitlines() if line.startswith("│ toy_size"))
    assert [c.strip() for c in row.split("│")[1:5]] == ["toy_size", "3", "int >= 1", "profile quick on toybench"]
    with pytest.raises(ConfigError, match="toy_size=0 is out of range"):
        resolve("darts", "toybench", "paper", {"toy_size": "0"})


def test_its_importer_and_info_serve_harness_data(toy):
    source, oracles = toy / "toy.txt", toy / "oracles"
    source.write_text("ab")
    assert "Toy table: none in" in _run("data", "info", "--oracle-dir", str(oracles))
    _run("data", "import", "toy", str(source), "--option", "scale=3", "--oracle-dir", str(oracles))
    assert (oracles / "toy.table").read_text() == "ababab"
    every = _run("data", "info", "--oracle-dir", str(oracles))
    assert "NAS-Bench-201 table:" in every and "Toy table: " in every and "'ababab'" in every
    assert "`harness data import toy SOURCE`, SOURCE a text file; --option scale (int >= 1, default 1)" in every
    alone = _run("data", "info", "toybench", "--oracle-dir", str(oracles))
    assert "Toy table: " in alone and "NAS-Bench-201" not in alone
    with pytest.raises(ConfigError, match=r"has no option 'spaces'; its options: scale"):
        _run("data", "import", "toy", str(source), "--spaces", "1", "--oracle-dir", str(oracles))
    with pytest.raises(ConfigError, match=r"--option scale='0' is not valid .*int >= 1"):
        _run("data", "import", "toy", str(source), "--option", "scale=0", "--oracle-dir", str(oracles))
    with pytest.raises(ConfigError, match="unknown benchmark 'nope' for import; valid: nb201, nb101, nb301, toy"):
        _run("data", "import", "nope", str(source))


def test_without_the_package_nothing_of_it_remains():
    assert "toybench" not in benchmarks.registry.names()
    with pytest.raises(ConfigError, match="unknown benchmark 'toybench'; valid benchmarks: nb201, nb1shot1, nb301"):
        resolve("darts", "toybench", "paper")


def test_every_benchmarks_profile_overrides_name_a_profile_and_its_own_settings():
    for bench in benchmarks.registry.registry().values():
        for profile, values in bench.profile_overrides.items():
            assert profile in PROFILES, f"{bench.name}: profile_overrides names unknown profile {profile!r}"
            assert set(values) <= set(bench.preset) | set(PROFILES[profile]), (bench.name, profile)
        assert set(bench.types) <= set(bench.preset), f"{bench.name}: declarations without a preset setting"

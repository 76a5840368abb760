"""`--methods` names, families and `all` as the registry grows, and `harness methods` grouped by family with
the benchmarks each method runs on."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.grid import blocker, runnable_methods, runs_on
from methods.registry import families, get, registry, resolve_methods
from nasbench_errors import ConfigError


def test_a_family_name_selects_the_family_and_all_selects_everything():
    fams = families()
    for family, members in fams.items():
        assert resolve_methods(family) == [m for m in registry() if m in members] or family in registry()
    assert resolve_methods("all") == list(registry())
    assert set(resolve_methods("black-box")) >= {"rea", "rs", "reinforce", "local-search", "bananas", "npenas"}
    assert resolve_methods("enas,black-box")[0] == "rea"  # registry order, not the order asked


def test_all_keeps_the_methods_that_run_on_the_benchmark():
    everything = resolve_methods("all")
    on_nb201 = runnable_methods(everything, "nb201", "all")
    assert on_nb201 == everything
    on_1shot1 = runnable_methods(everything, "nb1shot1", "all")
    # the supernet methods, less those whose needs the space lacks (DARTS-: no skip_connect in 1Shot1's blocks)
    assert on_1shot1 == [m for m in everything if get(m).needs_supernet and m != "darts-minus"]
    assert "enas" in on_1shot1 and "bananas" not in on_1shot1
    with pytest.raises(ConfigError, match="bananas is a black-box baseline .* nb301 has none: drop it from "
                                          r"--methods \(it runs on nb201\)"):
        runnable_methods(["bananas"], "nb301", "bananas")
    with pytest.raises(ConfigError, match="is a black-box baseline"):  # a family none of which runs there
        runnable_methods(resolve_methods("black-box"), "nb1shot1", "black-box")
    assert runs_on("npenas") == ["nb201"] and runs_on("enas") == ["nb201", "nb1shot1", "nb301"]
    assert blocker("enas", "nb301") is None


def test_bohb_is_declined_with_its_reason():
    with pytest.raises(ConfigError, match="bohb is not available: BOHB's Hyperband budgets need"):
        get("bohb")
    result = CliRunner().invoke(app, ["run", "--methods", "bohb", "--dry-run"])
    assert result.exit_code != 0 and "bohb is not available" in str(result.exception)


def test_harness_methods_lists_each_family_with_where_its_methods_run():
    result = CliRunner().invoke(app, ["methods"])
    assert result.exit_code == 0, result.output
    out = result.output
    for family in {e.families[0] for e in registry().values()}:
        assert f"family {family}: --methods {family}" in out
    # one table per first family, in registry order; the black-box ones run on nb201 only
    assert out.index("family black-box") < out.index("family darts") < out.index("family enas")
    bananas_line = next(line for line in out.splitlines() if "│ bananas" in line)
    assert "nb201" in bananas_line and "nb301" not in bananas_line
    enas_line = next(line for line in out.splitlines() if "│ enas" in line)
    assert "nb201, nb1shot1, nb301" in enas_line
    assert "families (--methods FAMILY):" in out and "predictor = bananas, npenas" in out

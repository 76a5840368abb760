"""Settings: declared types and ranges, --set parsing, refused no-op combinations, scoped overrides and
``harness config`` / ``harness methods -v``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import benchmarks.registry
from harness.cli import app, differing_meanings, preset_text
from harness.grid import expand
from harness.overrides import Override, assign, parse_set
from harness.specs import PRESET_TYPES, PROFILES, RunSpec, resolve, resolve_config
from methods.registry import registry
from nasbench_errors import ConfigError
from nasbench_settings import boolean, infer, integer, number, numbers, one_of


def test_every_setting_of_every_method_is_declared_and_every_preset_value_is_valid():
    for method, entry in registry().items():
        for benchmark in benchmarks.registry.names():
            for profile in PROFILES:
                resolved = resolve(method, benchmark, profile)  # checks every value against its declaration
                undeclared = sorted(k for k in resolved.config if k not in resolved.types)
                assert not undeclared, f"{method} on {benchmark}: declare {undeclared} (MethodEntry.types)"
                assert all(not t.inferred and t.help for k, t in resolved.types.items() if k in resolved.config)
        # a documented choice of the method's own is declared on its entry (a preset's keeps the preset's declaration)
        assert all(k in entry.setting_types or k in PRESET_TYPES for k in entry.choices if k in entry.defaults)


@pytest.mark.parametrize(("setting", "text", "value"), [
    (integer(ge=1), "3", 3), (integer(ge=1), "+7", 7), (number(gt=0), "1e-5", 1e-5), (number(gt=0), "2", 2.0),
    (boolean(), "TRUE", True), (boolean(), "false", False), (one_of("adam", "sgd"), "sgd", "sgd"),
    (one_of(1, 2, 3), "2", 2), (numbers(2, ge=0, lt=1), "[0.5, 0.9]", [0.5, 0.9]),
    (numbers(2, ge=0, lt=1), "0.5,0.9", [0.5, 0.9]), (integer(ge=1, nullable=True), "null", None),
    (number(gt=0, nullable=True), "None", None),
])
def test_set_text_is_parsed_to_the_declared_type(setting, text, value):
    parsed = setting.parse("k", text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(("setting", "text", "problem"), [
    (integer(ge=1), "0", "is out of range (valid: int >= 1)"),
    (integer(ge=1), "-3", "is out of range"),
    (integer(ge=1), "2.5", "is not an integer"),
    (integer(ge=1), "true", "is not an integer"),
    (integer(ge=1), "null", "is not an integer"),
    (number(gt=0), "abc", "is not a number"),
    (number(gt=0), "0", "is out of range (valid: float > 0)"),
    (number(gt=0), "nan", "is not a finite number"),
    (number(gt=0), "inf", "is not a finite number"),
    (number(ge=0, lt=1), "1", "is out of range (valid: float in [0, 1))"),
    (boolean(), "yes", "is not a boolean (valid: bool)"),
    (boolean(), "1", "is not a boolean"),
    (one_of("adam", "sgd"), "Adam", "is not valid (valid: one of adam, sgd)"),
    (numbers(2, ge=0, lt=1), "[0.5]", "needs 2 numbers"),
    (numbers(2, ge=0, lt=1), "[0.5, 1.5]", "is out of range"),
])
def test_nonsense_is_refused_with_the_valid_range(setting, text, problem):
    with pytest.raises(ConfigError) as info:
        setting.parse("k", text)
    message = str(info.value)
    assert message.startswith(f"k={text} {problem}") and "--set k=" in message and "\n" not in message


def test_typed_values_from_the_python_api_are_checked_too():
    assert number(gt=0).check("lr", 1) == 1.0 and isinstance(number(gt=0).check("lr", 1), float)
    for setting, value in ((integer(ge=1), 2.0), (integer(ge=1), True), (boolean(), 1), (number(gt=0), None)):
        with pytest.raises(ConfigError):
            setting.check("k", value)
    assert infer(3).kind == "int" and infer(None).nullable and infer((1, 2)).length == 2


@pytest.mark.parametrize(("method", "overrides", "message"), [
    ("darts", {"epochs": "0"}, "epochs=0 is out of range"),
    ("darts", {"epochs": "-3"}, "epochs=-3 is out of range"),
    ("darts", {"epochs": "2.5"}, "epochs=2.5 is not an integer"),
    ("darts", {"epochs": "true"}, "epochs=true is not an integer"),
    ("darts", {"grad_clip": "-1"}, "grad_clip=-1 is out of range"),
    ("darts", {"momentum": "5"}, "momentum=5 is out of range (valid: float in [0, 1))"),
    ("pc-darts", {"warmup_epochs": "-2"}, "warmup_epochs=-2 is out of range"),
    ("darts", {"exclude_none": "yes"}, "exclude_none=yes is not a boolean"),
    ("darts", {"eval_limit": "0"}, "eval_limit=0 is out of range (valid: int >= 1 or null)"),
    ("darts", {"C": "0"}, "C=0 is out of range"),
    ("darts", {"lr": "abc"}, "lr=abc is not a number"),
    ("darts", {"batch_size": "0"}, "batch_size=0 is out of range"),
    ("darts", {"arch_lr": "0"}, "arch_lr=0 is out of range (valid: float > 0)"),  # a frozen architecture
    ("gaea-pc-darts", {"edge_lr": "0"}, "edge_lr=0 is out of range"),
    ("darts", {"oracle_budget": "hp90"}, "oracle_budget=hp90 is not valid (valid: one of hp200, hp12)"),
    ("darts-prime", {"pr_norm": "l1"}, "pr_norm=l1 is not valid"),
    ("gdas", {"tau_min": "20"}, "tau_min=20 is above tau_max=10"),
    ("pc-darts", {"warmup_epochs": "15", "epochs": "10"}, "warmup_epochs=15 covers the whole search (epochs=10)"),
    ("darts", {"scheduler_epochs": "10"}, "scheduler_epochs=10 is shorter than epochs=25"),  # GAEA's NB201 DARTS
])
def test_bad_settings_are_config_errors_before_anything_runs(method, overrides, message):
    with pytest.raises(ConfigError) as info:
        resolve_config(method, "nb201", "paper", overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_shorter_search_by_set_scales_the_warm_up_like_a_profile():
    paper = resolve("pc-darts", "nb201", "paper", {"epochs": "10"})
    assert paper.config["warmup_epochs"] == 3  # round(15 * 10 / 50): the architecture gets 7 of 10 epochs
    assert "scaled with epochs (15 of 50 -> 3 of 10)" in paper.origin["warmup_epochs"]
    quick = resolve("gaea-pc-darts", "nb201", "quick", {"epochs": "1"})
    assert quick.config["warmup_epochs"] == 0  # a 1-epoch search keeps its epoch for the architecture
    assert resolve_config("pc-darts", "nb201", "paper", {"epochs": 100})["warmup_epochs"] == 15  # never longer
    assert resolve_config("pc-darts", "nb201", "paper", {"epochs": 10, "warmup_epochs": 9})["warmup_epochs"] == 9


def test_a_train_limit_too_small_for_one_step_or_one_architecture_step_is_refused():
    with pytest.raises(ConfigError, match="leaves 50 images in each bilevel half, fewer than batch_size=64"):
        RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {"train_limit": 100, "batch_size": 64})
    RunSpec.create("darts", "nb201", "cifar10", "erm", 0, "quick", {"train_limit": 100, "batch_size": 64})
    with pytest.raises(ConfigError, match="arch_every=10 exceeds the 8 weight steps"):
        RunSpec.create("darts-prime-cs10", "nb201", "cifar10", "bilevel", 0, "quick",
                       {"train_limit": 256, "batch_size": 32, "epochs": 2})
    RunSpec.create("rea", "nb201", "cifar10", "bilevel", 0, "quick", {"train_limit": 10})  # no images: no limit
    with pytest.raises(ConfigError, match="seeds are integers >= 0"):
        RunSpec.create("darts", "nb201", "cifar10", "bilevel", -5, "quick")


def test_scoped_and_unscoped_overrides_reach_the_methods_they_name():
    grid = ["darts", "gaea-darts", "gaea-pc-darts", "xnas"]
    given = assign([parse_set("eg_floor=1e-5"), parse_set("gaea-darts.arch_lr=0.05"), parse_set("gaea.arch_lr=0.2"),
                    parse_set("epochs=5")], grid, "nb201", "quick")
    assert given["darts"] == {"epochs": "5"}  # no eg_floor there: the unscoped key skips it
    assert given["gaea-darts"] == {"eg_floor": "1e-5", "arch_lr": "0.05", "epochs": "5"}  # the method scope wins
    assert given["gaea-pc-darts"] == {"eg_floor": "1e-5", "arch_lr": "0.2", "epochs": "5"}  # the family's
    assert given["xnas"] == {"epochs": "5"}
    specs = {s.method: s for s in expand(grid, "nb201", ["cifar10"], ["default"], [0], "quick",
                                         [parse_set("gaea-darts.arch_lr=0.05"), parse_set("eg_floor=1e-5")])}
    assert specs["gaea-darts"].config["arch_lr"] == 0.05 and specs["gaea-pc-darts"].config["arch_lr"] == 0.1
    assert specs["gaea-darts"].overrides == {"arch_lr": 0.05, "eg_floor": 1e-5} and specs["darts"].overrides == {}
    # "darts" is a method and a family: as with --methods, the method
    assert assign([parse_set("darts.arch_lr=1e-3")], ["darts", "pc-darts"], "nb201", "quick") == {
        "darts": {"arch_lr": "1e-3"}, "pc-darts": {}}


@pytest.mark.parametrize(("sets", "message"), [
    (["epoch=3"], "unknown setting 'epoch' for darts, gaea-darts on nb201"),
    (["xnas_clip=2"], "unknown setting 'xnas_clip'"),  # no method of the grid has it
    (["darts.eg_floor=1e-5"], "unknown setting 'eg_floor' for darts"),
    (["xnas.arch_lr=0.1"], "--set xnas.arch_lr=0.1: no method of 'xnas' is in the grid (darts, gaea-darts)"),
    (["dartz.arch_lr=0.1"], "'dartz' is neither a method nor a family"),
])
def test_an_override_that_reaches_no_method_is_an_error(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        assign([parse_set(s) for s in sets], ["darts", "gaea-darts"], "nb201", "quick")


def test_two_family_scopes_giving_one_method_different_values_conflict():
    # rs is in two families (random-search, black-box)
    with pytest.raises(ConfigError, match="--set random-search.time_budget=100 and --set black-box.time_budget=200 "
                                          "both set time_budget of rs"):
        assign([parse_set("random-search.time_budget=100"), parse_set("black-box.time_budget=200")], ["rs"],
               "nb201", "quick")
    same = assign([parse_set("random-search.time_budget=100"), parse_set("black-box.time_budget=100")],
                  ["rs", "rea"], "nb201", "quick")
    assert same == {"rs": {"time_budget": "100"}, "rea": {"time_budget": "100"}}
    assert assign([Override("epochs", 3), Override("epochs", 4)], ["darts"], "nb201", "quick") == {
        "darts": {"epochs": 4}}  # the last of the same scope wins


def test_harness_config_prints_every_value_its_type_and_the_layer_that_set_it():
    result = CliRunner().invoke(app, ["config", "pc-darts", "--benchmark", "nb201", "--profile", "quick",
                                      "--set", "pc-darts.arch_lr=0.001", "--set", "epochs=4"],
                                terminal_width=250)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:6]]
            for line in result.output.splitlines() if line.count("│") >= 6 and line.split("│")[1].strip()}
    assert set(rows) == set(resolve("pc-darts", "nb201", "quick").config)
    assert rows["arch_lr"] == ["0.001", "float > 0", "--set", "Adam step size of the architecture logits"]
    assert rows["epochs"][:3] == ["4", "int >= 1", "--set"]
    assert rows["C"][:3] == ["8", "int >= 1", "profile quick"]
    assert rows["lr"][:3] == ["0.025", "float > 0", "benchmark preset"]
    assert rows["partial_channels"][:3] == ["4", "int >= 1", "method default"]
    assert rows["warmup_epochs"][0] == "1" and rows["warmup_epochs"][2].startswith("method default, scaled")
    assert rows["oracle_budget"][:2] == ['"hp200"', "one of hp200, hp12"]
    assert "pc-darts v1 on nb201 v1, profile quick" in result.output
    one = CliRunner().invoke(app, ["config", "pc-darts", "--benchmark", "nb1shot1", "--space", "2"],
                             terminal_width=250)
    assert one.exit_code == 0 and "│ method on nb1shot1" in one.output
    assert any(line.split("│")[1].strip() == "search_space" and line.split("│")[2].strip() == "2"
               for line in one.output.splitlines() if line.count("│") >= 6)


def test_methods_verbose_shows_types_ranges_and_settings_whose_meaning_differs():
    assert preset_text(registry()["darts"]).startswith("arch_lr=0.0003 (float > 0), arch_betas=[0.5, 0.999] "
                                                       "(2 floats in [0, 1)), ")
    assert "rea_mutation=\"node\" (one of node, uniform)" in preset_text(registry()["rea"])
    meanings = differing_meanings()
    assert {tuple(v) for v in meanings["arch_lr"].values()} >= {("gaea-darts", "gaea-gdas", "gaea-pc-darts"),
                                                                ("xnas",)}
    assert any("Hedge" in text for text in meanings["arch_lr"])
    assert any("checkpoints" in text for text in meanings["epochs"]) and "arch_weight_decay" in meanings
    result = CliRunner().invoke(app, ["methods", "-v"])
    assert result.exit_code == 0, result.output
    assert "Settings that mean different things in different methods" in result.output
    assert "darts v1" in result.output and "(float > 0)" in result.output

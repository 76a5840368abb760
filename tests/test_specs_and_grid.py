import hashlib
import json

import pytest

from harness.grid import expand, parse_datasets, parse_settings
from harness.overrides import Override, parse_set
from harness.specs import RunSpec, resolve_config
from methods.registry import registry, resolve_methods
from nasbench_errors import ConfigError


def test_paper_presets_follow_the_spec():
    gaea = resolve_config("gaea-darts", "nb201", "paper")
    # spec 1.6.5 and 1.4: batch 64, SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4, clip 5, C=16, N=5
    assert {k: gaea[k] for k in ("batch_size", "lr", "lr_min", "momentum", "weight_decay", "grad_clip", "C", "N")} == {
        "batch_size": 64, "lr": 0.025, "lr_min": 0.001, "momentum": 0.9, "weight_decay": 3e-4, "grad_clip": 5.0,
        "C": 16, "N": 5}
    assert gaea["epochs"] == 25 and gaea["arch_lr"] == 0.1 and gaea["exclude_none"] is True
    assert gaea["eg_floor"] == 0.0 and gaea["scheduler_epochs"] is None
    darts = resolve_config("darts", "nb201", "paper")
    assert darts["epochs"] == 25 and darts["arch_lr"] == 3e-4 and darts["arch_betas"] == [0.5, 0.999]
    quick = resolve_config("darts", "nb201", "quick")
    assert quick["C"] == 8 and quick["N"] == 1 and quick["epochs"] == 3


def test_overrides_and_their_errors():
    cfg = resolve_config("gaea-darts", "nb201", "quick", {"epochs": 5, "eg_floor": 1e-5})
    assert cfg["epochs"] == 5 and cfg["eg_floor"] == 1e-5
    with pytest.raises(ConfigError, match="unknown setting 'epoch'"):
        resolve_config("gaea-darts", "nb201", "quick", {"epoch": 5})
    with pytest.raises(ConfigError, match="scheduler_epochs"):
        resolve_config("gaea-darts", "nb201", "paper", {"scheduler_epochs": 10})
    assert parse_set("epochs=7") == Override("epochs", "7")  # text until the setting's type is known
    assert parse_set("gaea-darts.arch_lr=0.05") == Override("arch_lr", "0.05", "gaea-darts")
    assert resolve_config("darts", "nb201", "quick", {"epochs": "7", "oracle_budget": "hp12"})["epochs"] == 7
    for bad in ("epochs", ".epochs=3", "gaea.=3"):
        with pytest.raises(ConfigError, match="key=value"):
            parse_set(bad)


def test_nb201_search_lengths_follow_gaea_table_2_and_its_figures():
    # GAEA (Li et al. 2021): the DARTS-family comparison (GAEA DARTS, its DARTS baseline, XNAS) runs 25 epochs
    # (Figs. 4 and 5, Table 2's † / ‡ DARTS rows); GAEA GDAS 150; GDAS 250 (P0 C.3); RSPS 250 (NB201's RANDOM.config)
    epochs = {m: resolve_config(m, "nb201", "paper")["epochs"] for m in
              ("darts", "gaea-darts", "xnas", "gaea-gdas", "gdas", "rs-ws")}
    assert epochs == {"darts": 25, "gaea-darts": 25, "xnas": 25, "gaea-gdas": 150, "gdas": 250, "rs-ws": 250}
    assert resolve_config("darts", "nb301", "paper")["epochs"] == 50  # DARTS's own search elsewhere
    assert resolve_config("xnas", "nb1shot1", "paper")["epochs"] == 50


def test_run_id_is_stable_and_depends_on_the_config():
    a = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    b = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    c = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {"epochs": 4})
    d = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 1, "quick")
    assert a.run_id == b.run_id and len({a.run_id, c.run_id, d.run_id}) == 3


def test_execution_settings_at_their_defaults_keep_earlier_run_ids():
    a = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick")
    assert a.config["bf16"] is False and a.config["channels_last"] is False
    # every id is this hash: the identifying fields, the config without execution settings at their defaults
    # (so adding those settings kept earlier ids) and the method and benchmark versions
    before = {k: v for k, v in a.config.items() if k not in ("bf16", "channels_last")}
    ident = {"method": "darts", "benchmark": "nb201", "dataset": "cifar10", "setting": "bilevel", "seed": 0,
             "config": before, "versions": {"method": a.method_version, "benchmark": a.benchmark_version}}
    canonical = json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()
    assert a.run_id == hashlib.sha256(canonical).hexdigest()[:16]
    assert RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {"bf16": False}).run_id == a.run_id
    on = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {"bf16": True})
    assert on.run_id != a.run_id and on.config_hash != a.config_hash


def test_method_names_families_and_unknowns():
    assert resolve_methods("all") == list(registry())
    assert resolve_methods("gaea") == ["gaea-darts", "gaea-gdas", "gaea-pc-darts"]
    assert resolve_methods("darts") == ["darts"]  # an exact name wins over the family of the same name
    assert resolve_methods("gaea-darts, darts") == ["darts", "gaea-darts"]
    with pytest.raises(ConfigError, match=r"unknown method 'dartz'; valid methods: (\S+, )*darts, .*gaea-darts"):
        resolve_methods("dartz")


def test_grid_expansion():
    specs = expand(["darts", "gaea-darts"], "nb201", ["cifar10"], parse_settings("default"), [0, 1], "quick")
    assert [(s.method, s.setting, s.seed) for s in specs] == [
        ("darts", "bilevel", 0), ("darts", "bilevel", 1), ("gaea-darts", "erm", 0), ("gaea-darts", "erm", 1)]
    both = expand(["darts"], "nb201", parse_datasets("all", "nb201"), parse_settings("both"), [0], "paper")
    assert len(both) == 3 * 2
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'"):
        parse_datasets("mnist", "nb201")
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_settings("single")
    with pytest.raises(ConfigError, match="unknown benchmark"):
        parse_datasets("cifar10", "nb999")
    with pytest.raises(ConfigError, match="unknown profile"):
        RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "fast")


def test_a_shortened_search_shortens_its_warm_up_in_proportion():
    from harness.specs import resolve_config, scaled_warmup

    assert scaled_warmup(15, 50, 3) == 1  # round(0.9)
    assert scaled_warmup(10, 50, 25) == 5
    assert scaled_warmup(1, 50, 3) == 1  # never below one epoch when there was one
    assert scaled_warmup(15, 50, 1) == 0  # a 1-epoch search keeps its single epoch for the architecture
    assert scaled_warmup(0, 50, 3) == 0 and scaled_warmup(15, 50, 50) == 15
    assert resolve_config("pc-darts", "nb201", "paper")["warmup_epochs"] == 15
    assert resolve_config("pc-darts", "nb201", "quick")["warmup_epochs"] == 1
    assert resolve_config("pc-darts", "nb201", "quick", {"warmup_epochs": 2})["warmup_epochs"] == 2  # --set wins

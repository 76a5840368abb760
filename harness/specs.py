"""Run specifications, named profiles and the paper presets.

A run's configuration is resolved in layers, later layers winning:
benchmark preset (the paper's weight-training settings) < method defaults (the method paper's values)
< method overrides the paper states for that benchmark < profile (``paper`` changes nothing, ``quick``
shrinks everything to CPU size) < the user's ``--set key=value`` overrides. A profile or ``--set epochs``
that shortens the search shortens a warm-up by the same fraction, so a 3-epoch run of PC-DARTS is not all
warm-up; a warm-up set explicitly that covers the whole search is refused.

Every setting declares its type and valid range once, where it is defined (``PRESET_TYPES`` here, a
method's ``MethodEntry.types``); every resolved value is checked against it, ``--set`` text is parsed to
it, and combinations that would make a search do nothing are refused, all before anything runs.

The run id hashes the method, benchmark, dataset, setting, seed, the resolved config and the method's and
benchmark's versions, so the same request always maps to the same run, a changed value is a new run, and
a fixed method (its version bumped) never reuses a run made before the fix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import benchmarks.registry
from benchmarks.darts.space import CELL_OPS
from methods import registry
from nasbench_errors import ConfigError
from nasbench_settings import Setting, boolean, check_all, infer, integer, number, one_of

#: The weight-training settings every benchmark's search shares (the DARTS family's SGD: lr 0.025 cosine-annealed
#: to 0.001, momentum 0.9, weight decay 3e-4, gradient clipping 5).
_SEARCH_SGD: dict[str, Any] = {
    "lr": 0.025,
    "lr_min": 0.001,
    "momentum": 0.9,
    "weight_decay": 3e-4,
    "grad_clip": 5.0,
    "scheduler_epochs": None,  # None: anneal over the run's own epochs
    "split_seed": 0,
    # bilevel: the weights' share of the training set (DARTS's train_portion); 0.5 is also the condition of
    # NAS-Bench-201's official split (benchmarks/nb201/splits.py)
    "train_portion": 0.5,
    "train_limit": None,
    "eval_limit": None,
}

#: How a run computes rather than what (docs/performance.md): ``channels_last`` (NHWC tensors and kernels;
#: float rounding only) and ``bf16`` (bfloat16 autocast of the forward passes: changes numbers beyond rounding).
#: Off by default. A value at its default is left out of the run id (``identity_config``), so adding these keys
#: kept every earlier run id, and a run with one turned on is a different run.
EXECUTION_DEFAULTS: dict[str, Any] = {"channels_last": False, "bf16": False}

#: Weight-training settings per benchmark (NB201: GAEA P0 C.3 / spec 1.6.5; 1Shot1: spec 1.6.4).
BENCHMARK_PRESETS: dict[str, dict[str, Any]] = {
    "nb201": {**_SEARCH_SGD, "batch_size": 64, "C": 16, "N": 5, "oracle_budget": "hp200"},
    # NAS-Bench-1Shot1: the reference PC-DARTS train_search.py defaults (spec 1.6.4 [C]), which GAEA reuses
    # for its weights (P0 C.2). layers 9 = 3 stages of N = 3 cells; search length: the methods' 50 epochs
    # (the [H] default; train_search.py says 100: --set epochs=100).
    "nb1shot1": {**_SEARCH_SGD, "batch_size": 96, "C": 16, "N": 3,
                 "search_space": 1,  # 1, 2 or 3
                 "oracle_budget": "e108"},
    # The DARTS space with the NAS-Bench-301 surrogate: the DARTS search defaults (spec 2.5 [X], 1.6.1): 8 cells
    # (N = 2 normal cells per stage: 3N + 2), C = 16, batch 64, SGD lr 0.025 cosine to 0.001, momentum 0.9,
    # weight decay 3e-4, clip 5. Methods state their own values per benchmark (PC-DARTS batch 256, lr 0.1, K = 4;
    # PR-DARTS 200 epochs, batch 128; Amended-DARTS batch 96, 100 epochs). The oracle answers at the surrogate's
    # final epoch (98). No cutout, auxiliary head or drop-path in search (GAEA C.1.1). ``cell_ops``: every DARTS op
    # in both cell types (``all``), or NASP's identity + convolutions / identity + pools (``restricted``).
    "nb301": {**_SEARCH_SGD, "batch_size": 64, "C": 16, "N": 2, "oracle_budget": "e98", "cell_ops": "all"},
}

#: Profiles: ``paper`` keeps the presets; ``quick`` is sized for a CPU in minutes.
PROFILES: dict[str, dict[str, Any]] = {
    "paper": {},
    "quick": {"C": 8, "N": 1, "epochs": 3, "train_limit": 2000, "eval_limit": 500},
    # the smallest search in which GAEA's NAS-Bench-201 claims appear on a 2-core CPU (docs/reproduction.md)
    "repro": {"C": 8, "N": 1, "epochs": 50, "train_limit": 10000, "eval_limit": 500},
}
#: (profile, benchmark) -> settings applied after the profile: a DARTS-space supernet (5 cells of 14 edges x 7
#: ops at N = 1) costs ~10x an NB201 one on a CPU, so its quick runs are smaller still
PROFILE_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("quick", "nb301"): {"C": 4, "batch_size": 16, "train_limit": 256, "eval_limit": 128},
}

#: Type and valid range of every preset, profile and execution setting (methods declare theirs on their entry).
PRESET_TYPES: dict[str, Setting] = {
    "lr": number(gt=0, help="SGD learning rate of the supernet weights (cosine-annealed)"),
    "lr_min": number(ge=0, help="weight learning rate at the end of the cosine schedule"),
    "momentum": number(ge=0, lt=1, help="SGD momentum of the weights"),
    "weight_decay": number(ge=0, help="SGD weight decay of the weights"),
    "grad_clip": number(ge=0, help="gradient-norm clip of the weight step (0: no clipping)"),
    "scheduler_epochs": integer(ge=1, nullable=True, help="epochs the cosine schedule spans (null: the run's)"),
    "split_seed": integer(ge=0, help="seed of the bilevel split and of the train_limit subset"),
    "train_portion": number(gt=0, lt=1, help="bilevel: the weights' share of the training set (the rest steps the "
                                             "architecture)"),
    "train_limit": integer(ge=1, nullable=True, help="training images used (null: all)"),
    "eval_limit": integer(ge=1, nullable=True, help="held-out images for the supernet metrics (null: all)"),
    "batch_size": integer(ge=1, help="minibatch size of both streams"),
    "C": integer(ge=1, help="channels of the first cell"),
    "N": integer(ge=1, help="cells per stage"),
    "search_space": one_of(1, 2, 3, help="NAS-Bench-1Shot1 search space"),
    "channels_last": boolean(help="NHWC tensors and kernels (GPU only)"),
    "bf16": boolean(help="bfloat16 autocast of every forward pass"),
}
#: per benchmark: the training budgets its table answers for
BENCHMARK_TYPES: dict[str, dict[str, Setting]] = {
    "nb201": {"oracle_budget": one_of("hp200", "hp12", help="training budget of the oracle's numbers")},
    "nb1shot1": {"oracle_budget": one_of("e108", help="training budget of the oracle's numbers")},
    "nb301": {"oracle_budget": one_of("e98", help="epoch of the surrogate's prediction"),
              "cell_ops": one_of(*CELL_OPS, help="ops each cell type searches: every DARTS op, or NASP's "
                                                 "identity + convolutions (normal) / identity + pools (reduce)")},
}


def _check_name(kind: str, value: str, valid: Mapping[str, Any] | tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}")


def scaled_warmup(warmup: int, planned_epochs: int, epochs: int) -> int:
    """The warm-up at the same fraction of a search shortened from ``planned_epochs`` to ``epochs``: at least one
    epoch when there was one, and at most ``epochs - 1`` so that the architecture is searched at all."""
    if warmup <= 0 or epochs >= planned_epochs:
        return warmup
    return min(max(round(warmup * epochs / planned_epochs), 1), max(epochs - 1, 0))


def setting_types(method: str, benchmark: str) -> dict[str, Setting]:
    """The declaration of every setting a run of ``method`` on ``benchmark`` has."""
    return {**PRESET_TYPES, **BENCHMARK_TYPES.get(benchmark, {}), **registry.get(method).setting_types}


@dataclass(frozen=True)
class Resolved:
    """A resolved configuration, the layer that set each value, the declarations and the applied overrides."""

    config: dict[str, Any]
    origin: dict[str, str]
    types: dict[str, Setting]
    overrides: dict[str, Any]


def _layers(method: str, benchmark: str, profile: str) -> tuple[dict[str, Any], dict[str, str], int]:
    """(config, the layer that set each value, the search length before the profile) without ``--set``,
    unchecked."""
    entry = registry.get(method)
    _check_name("benchmark", benchmark, BENCHMARK_PRESETS)
    _check_name("profile", profile, PROFILES)
    config: dict[str, Any] = {}
    origin: dict[str, str] = {}

    def layer(name: str, values: Mapping[str, Any]) -> None:
        config.update(values)
        origin.update(dict.fromkeys(values, name))

    layer("execution default", EXECUTION_DEFAULTS)
    layer("benchmark preset", BENCHMARK_PRESETS[benchmark])
    layer("method default", entry.defaults)
    layer(f"method on {benchmark}", entry.per_benchmark.get(benchmark, {}))
    planned = int(config["epochs"])
    layer(f"profile {profile}", PROFILES[profile])
    layer(f"profile {profile} on {benchmark}", PROFILE_OVERRIDES.get((profile, benchmark), {}))
    return config, origin, planned


def setting_names(method: str, benchmark: str, profile: str) -> set[str]:
    """The settings a run of ``method`` on ``benchmark`` has (what ``--set`` may name)."""
    return set(_layers(method, benchmark, profile)[0])


def resolve(method: str, benchmark: str, profile: str, overrides: Mapping[str, Any] | None = None) -> Resolved:
    """Resolve the layers (module docstring), check every value against its declaration and refuse no-op
    combinations. ``overrides`` must name settings the run has; text values (``--set``) are parsed."""
    config, origin, planned = _layers(method, benchmark, profile)
    types = setting_types(method, benchmark)
    unknown = [k for k in (overrides or {}) if k not in config]
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r} for {method} on {benchmark}; "
                          f"valid: {', '.join(sorted(config))}")
    given = {k: (types.get(k) or infer(config[k])).check(k, v) for k, v in (overrides or {}).items()}
    config.update(given)
    origin.update(dict.fromkeys(given, "--set"))
    config = check_all(config, types)
    if "warmup_epochs" in config and "warmup_epochs" not in given:
        scaled = scaled_warmup(config["warmup_epochs"], planned, config["epochs"])
        if scaled != config["warmup_epochs"]:
            origin["warmup_epochs"] += (f", scaled with epochs ({config['warmup_epochs']} of {planned} -> "
                                        f"{scaled} of {config['epochs']})")
            config["warmup_epochs"] = scaled
    _refuse_no_ops(config)
    return Resolved(config, origin, types, given)


def _refuse_no_ops(config: Mapping[str, Any]) -> None:
    """Combinations of valid values that would make the search do nothing, or that contradict each other."""
    epochs = config["epochs"]
    if config.get("warmup_epochs", 0) >= epochs:
        raise ConfigError(f"warmup_epochs={config['warmup_epochs']} covers the whole search (epochs={epochs}): the "
                          "architecture would never be updated; set warmup_epochs below epochs, or leave it unset "
                          "(it is scaled with epochs)")
    if config["scheduler_epochs"] is not None and config["scheduler_epochs"] < epochs:
        raise ConfigError(
            f"scheduler_epochs={config['scheduler_epochs']} is shorter than epochs={epochs}; "
            "use a value >= epochs or leave it unset"
        )
    if "tau_min" in config and config["tau_min"] > config["tau_max"]:
        raise ConfigError(f"tau_min={config['tau_min']:g} is above tau_max={config['tau_max']:g}: the temperature "
                          "anneals from tau_max down to tau_min; set tau_min <= tau_max")


def resolve_config(method: str, benchmark: str, profile: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """The full configuration of a run (see the module docstring for the layers)."""
    return resolve(method, benchmark, profile, overrides).config


@dataclass(frozen=True)
class RunSpec:
    """One search run: method x benchmark x dataset x setting x seed under a resolved config.

    ``overrides`` are the ``--set`` values that reached this run (recorded with it); the versions are those of
    the method and benchmark that will compute it (part of the run id).
    """

    method: str
    benchmark: str
    dataset: str
    setting: str
    seed: int
    profile: str
    config: Mapping[str, Any] = field(hash=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, hash=False)
    method_version: int = 1
    benchmark_version: int = 1

    @classmethod
    def create(cls, method: str, benchmark: str, dataset: str, setting: str, seed: int, profile: str,
               overrides: Mapping[str, Any] | None = None) -> RunSpec:
        entry = registry.get(method)
        _check_name("benchmark", benchmark, BENCHMARK_PRESETS)
        bench = benchmarks.registry.get(benchmark)
        _check_name("dataset", dataset, bench.datasets)
        if setting not in entry.settings:
            raise ConfigError(f"{method} has no setting {setting!r}; it supports {', '.join(entry.settings)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed {seed!r} is not valid: seeds are integers >= 0 (--first-seed)")
        resolved = resolve(method, benchmark, profile, overrides)
        if entry.needs_supernet:
            _refuse_empty_epochs(resolved.config, setting)
        return cls(method, benchmark, dataset, setting, seed, profile, resolved.config, resolved.overrides,
                   entry.version, bench.version)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(_canonical(identity_config(self.config)).encode()).hexdigest()

    @property
    def run_id(self) -> str:
        ident = {"method": self.method, "benchmark": self.benchmark, "dataset": self.dataset,
                 "setting": self.setting, "seed": self.seed, "config": identity_config(self.config),
                 "versions": {"method": self.method_version, "benchmark": self.benchmark_version}}
        return hashlib.sha256(_canonical(ident).encode()).hexdigest()[:16]

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def label(self) -> str:
        return f"{self.method}/{self.setting} {self.benchmark}:{self.dataset} seed {self.seed}"


def _refuse_empty_epochs(config: Mapping[str, Any], setting: str) -> None:
    """A ``train_limit`` too small for one minibatch per stream, or for one architecture step of a constant
    schedule, makes the search do nothing (without a limit the datasets are large enough)."""
    if config["train_limit"] is None:
        return
    images = config["train_limit"] // 2 if setting == "bilevel" else config["train_limit"]
    steps = images // config["batch_size"]
    where = "each bilevel half" if setting == "bilevel" else "the training set"
    if steps == 0:
        raise ConfigError(f"train_limit={config['train_limit']} leaves {images} images in {where}, fewer than "
                          f"batch_size={config['batch_size']}: no step would be taken; raise train_limit or lower "
                          "batch_size")
    searched = steps * (config["epochs"] - config.get("warmup_epochs", 0))
    if config.get("schedule") == "constant" and config["arch_every"] > searched:
        raise ConfigError(f"arch_every={config['arch_every']} exceeds the {searched} weight steps of the search "
                          f"({steps} per epoch): the architecture would never be updated; lower arch_every or "
                          "raise epochs or train_limit")


def identity_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config that identifies a run: execution settings at their defaults are left out."""
    return {k: v for k, v in config.items() if not (k in EXECUTION_DEFAULTS and v == EXECUTION_DEFAULTS[k])}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)

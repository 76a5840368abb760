"""Run specifications, named profiles and the paper presets.

A run's configuration is resolved in layers, later layers winning:
benchmark preset (the paper's weight-training settings) < method defaults (the method paper's values)
< method overrides the paper states for that benchmark < profile (``paper`` changes nothing, ``quick``
shrinks everything to CPU size; a profile that shortens the search shortens a warm-up by the same
fraction, so a 3-epoch run of PC-DARTS is not all warm-up) < the user's ``--set key=value`` overrides.
The run id hashes the method, benchmark, dataset, setting, seed and the resolved config, so the same
request always maps to the same run and a changed value is a new run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import benchmarks.registry
from methods import registry
from nasbench_errors import ConfigError

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

def _check_name(kind: str, value: str, valid: Mapping[str, Any] | tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}")


def scaled_warmup(warmup: int, planned_epochs: int, epochs: int) -> int:
    """The warm-up at the same fraction of a search shortened from ``planned_epochs`` to ``epochs``: at least one
    epoch when there was one, and at most ``epochs - 1`` so that the architecture is searched at all."""
    if warmup <= 0 or epochs >= planned_epochs:
        return warmup
    return min(max(round(warmup * epochs / planned_epochs), 1), max(epochs - 1, 0))


def resolve_config(method: str, benchmark: str, profile: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """The full configuration of a run (see the module docstring for the layers)."""
    entry = registry.get(method)
    _check_name("benchmark", benchmark, BENCHMARK_PRESETS)
    _check_name("profile", profile, PROFILES)
    config: dict[str, Any] = dict(EXECUTION_DEFAULTS)
    config.update(BENCHMARK_PRESETS[benchmark])
    config.update(entry.defaults)
    config.update(entry.per_benchmark.get(benchmark, {}))
    planned = int(config["epochs"])
    config.update(PROFILES[profile])
    config.update(PROFILE_OVERRIDES.get((profile, benchmark), {}))
    if "warmup_epochs" in config:
        config["warmup_epochs"] = scaled_warmup(int(config["warmup_epochs"]), planned, int(config["epochs"]))
    for key, value in (overrides or {}).items():
        if key not in config:
            raise ConfigError(
                f"unknown setting {key!r} for {method} on {benchmark}; valid: {', '.join(sorted(config))}")
        config[key] = value
    if config["scheduler_epochs"] is not None and int(config["scheduler_epochs"]) < int(config["epochs"]):
        raise ConfigError(
            f"scheduler_epochs={config['scheduler_epochs']} is shorter than epochs={config['epochs']}; "
            "use a value >= epochs or leave it unset"
        )
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a JSON value where it parses (numbers, true/false/null, lists), else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"bad --set {text!r}; write key=value, e.g. --set epochs=10")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


@dataclass(frozen=True)
class RunSpec:
    """One search run: method x benchmark x dataset x setting x seed under a resolved config."""

    method: str
    benchmark: str
    dataset: str
    setting: str
    seed: int
    profile: str
    config: Mapping[str, Any] = field(hash=False)

    @classmethod
    def create(cls, method: str, benchmark: str, dataset: str, setting: str, seed: int, profile: str,
               overrides: Mapping[str, Any] | None = None) -> RunSpec:
        entry = registry.get(method)
        _check_name("benchmark", benchmark, BENCHMARK_PRESETS)
        _check_name("dataset", dataset, benchmarks.registry.get(benchmark).datasets)
        if setting not in entry.settings:
            raise ConfigError(f"{method} has no setting {setting!r}; it supports {', '.join(entry.settings)}")
        config = resolve_config(method, benchmark, profile, overrides)
        return cls(method, benchmark, dataset, setting, int(seed), profile, config)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(_canonical(identity_config(self.config)).encode()).hexdigest()

    @property
    def run_id(self) -> str:
        ident = {"method": self.method, "benchmark": self.benchmark, "dataset": self.dataset,
                 "setting": self.setting, "seed": self.seed, "config": identity_config(self.config)}
        return hashlib.sha256(_canonical(ident).encode()).hexdigest()[:16]

    @property
    def epochs(self) -> int:
        return int(self.config["epochs"])

    @property
    def label(self) -> str:
        return f"{self.method}/{self.setting} {self.benchmark}:{self.dataset} seed {self.seed}"


def identity_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config that identifies a run: execution settings at their defaults are left out."""
    return {k: v for k, v in config.items() if not (k in EXECUTION_DEFAULTS and v == EXECUTION_DEFAULTS[k])}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)

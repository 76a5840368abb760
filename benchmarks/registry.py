"""The one registry of benchmarks: each benchmark package is a plug-in, discovered like the methods.

Every subpackage of ``benchmarks`` whose ``__init__`` defines a module-level ``BENCHMARK`` (a
``Benchmark``) contributes it; adding a benchmark is adding a package, and nothing shared is edited.
A benchmark gives the runner its search space (from run options), its supernet, its oracle (opened from
the oracle directory for the run's options: NAS-Bench-1Shot1's regret zero depends on the space) and a
description of a derived architecture (printable form, the key the oracle is queried with, and the
skip-connection count that signals collapse). It gives the harness its preset (the weight-training
settings of a search on it, each declared with its type and range), its overrides of named profiles,
the importers behind ``harness data import NAME SOURCE [--option key=value]`` and what ``harness data
info`` prints about its tables.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from torch import nn

import benchmarks
from benchmarks.datasets import ImageData, SearchSplit, default_search_split
from benchmarks.space import SearchSpace, Selection
from nasbench_errors import ConfigError
from nasbench_settings import Setting, integer, number

#: The weight-training settings every benchmark's search shares (the DARTS family's SGD: lr 0.025 cosine-annealed
#: to 0.001, momentum 0.9, weight decay 3e-4, gradient clipping 5); a preset starts from them.
SEARCH_SGD: dict[str, Any] = {
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

#: Type and valid range of the settings every preset has (``SEARCH_SGD`` and the supernet's size); a benchmark
#: declares the rest of its preset in ``Benchmark.types``.
PRESET_TYPES: dict[str, Setting] = {
    "lr": number(gt=0, help="SGD learning rate of the supernet weights (cosine-annealed)"),
    "lr_min": number(ge=0, help="weight learning rate at the end of the cosine schedule"),
    "momentum": number(ge=0, lt=1, help="SGD momentum of the weights"),
    "weight_decay": number(ge=0, help="SGD weight decay of the weights"),
    "grad_clip": number(ge=0, help="gradient-norm clip of the weight step (0: no clipping)"),
    "scheduler_epochs": integer(ge=1, nullable=True, help="epochs the cosine schedule spans (null: the run's)"),
    "split_seed": integer(ge=0, help="seed of the bilevel split and of the train_limit subset"),
    # range (0, 1) checked by the split itself (benchmarks.datasets), whose error says what the value means
    "train_portion": number(gt=0, lt=1, help="bilevel: the weights' share of the training set (the rest steps the "
                                             "architecture)"),
    "train_limit": integer(ge=1, nullable=True, help="training images used (null: all)"),
    "eval_limit": integer(ge=1, nullable=True, help="held-out images for the supernet metrics (null: all)"),
    "batch_size": integer(ge=1, help="minibatch size of both streams"),
    "C": integer(ge=1, help="channels of the first cell"),
    "N": integer(ge=1, help="cells per stage"),
}


@dataclass(frozen=True)
class ArchRecord:
    """A derived architecture as the store records it."""

    arch: str  # the benchmark's canonical string
    key: int  # what the oracle is queried with (NB201: the official index)
    n_skip: int  # skip connections (DARTS: of the normal cell, the collapse indicator)
    #: further per-epoch counts for the row's ``extra`` (DARTS: skip connections per cell type)
    details: Mapping[str, float] = field(default_factory=dict)


class Oracle(Protocol):
    def search_metrics(self, dataset: str) -> tuple[tuple[str, str], tuple[str, str]]: ...

    def lookups(self, index: int, budget: str = "hp200") -> list[Any]: ...


#: prints a line of text or a rich renderable (a table) for the user
Say = Callable[[Any], None]


@dataclass(frozen=True)
class ImportRequest:
    """What an importer is given: the user's source, the oracle directory to write into, its options (the
    declared defaults updated by ``--option key=value``, checked against the declarations) and the command
    line's means of talking to the user."""

    source: Path
    oracle_dir: Path
    options: Mapping[str, Any]
    say: Say
    #: ``--trust-pickle``: official pickle files may be loaded without asking
    trust_pickle: bool = False
    #: asks a yes/no question at a terminal (False without one)
    confirm: Callable[[str], bool] = lambda _question: False
    #: ``bar(label, total)``: a progress bar, entered as a context manager yielding ``update(done, note)``
    bar: Callable[[str, int], AbstractContextManager[Callable[[int, str], None]]] | None = None


@dataclass(frozen=True)
class Importer:
    """``harness data import NAME SOURCE``: turns an official file into the tables a benchmark's oracle reads."""

    name: str
    #: what SOURCE is (shown by ``harness data import --help``)
    source: str
    run: Callable[[ImportRequest], None]
    #: ``--option key=value`` settings, declared like run settings, and their defaults
    options: Mapping[str, Setting] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def resolve_options(self, given: Mapping[str, str]) -> dict[str, Any]:
        """The defaults updated by the user's ``--option`` texts, each parsed to its declaration."""
        unknown = [k for k in given if k not in self.options]
        if unknown:
            valid = ", ".join(self.options) or "none"
            raise ConfigError(f"`harness data import {self.name}` has no option {unknown[0]!r}; its options: {valid}")
        out = dict(self.defaults)
        for key, text in given.items():
            try:
                out[key] = self.options[key].parse(key, text)
            except ConfigError:
                raise ConfigError(f"--option {key}={text!r} is not valid for `harness data import {self.name}` "
                                  f"(valid: {self.options[key].describe()})") from None
        return out


@dataclass(frozen=True)
class Benchmark:
    """One benchmark plug-in (module docstring); its package's ``__init__`` defines it as ``BENCHMARK``."""

    name: str
    title: str
    datasets: tuple[str, ...]
    make_space: Callable[[Mapping[str, Any]], SearchSpace]
    make_supernet: Callable[[SearchSpace, Mapping[str, Any], int], nn.Module]
    open_oracle: Callable[[Path, Mapping[str, Any]], Oracle]
    describe: Callable[[SearchSpace, Selection], ArchRecord]
    #: its table charges simulated training time per cell, so the black-box baselines can search it
    simulates_training: bool = False
    #: the weights/architecture split of a search (data, setting, config): the benchmark's protocol, by default
    #: the seeded stratified split of the training set
    search_split: Callable[[ImageData, str, Mapping[str, Any]], SearchSplit] = default_search_split
    #: bumped whenever what the benchmark computes changes (space, supernet, oracle lookups, regret): part of the
    #: run id, so runs made by an older version are superseded and rerun
    version: int = 1
    #: the weight-training settings of a search on it (the paper's; ``SEARCH_SGD`` plus its own), the first layer
    #: of a run's configuration (harness/specs.py)
    preset: Mapping[str, Any] = field(default_factory=dict)
    #: declarations of the preset's settings beyond ``PRESET_TYPES`` (an undeclared one is checked by type only)
    types: Mapping[str, Setting] = field(default_factory=dict)
    #: profile name -> settings applied after that profile on this benchmark (a smaller ``quick``, ...)
    profile_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    importers: tuple[Importer, ...] = ()
    #: ``info(oracle_dir, say)``: what ``harness data info`` shows of its tables in ``oracle_dir``
    info: Callable[[Path, Say], None] | None = None
    #: listing order (then the name)
    order: int = 100



@lru_cache(maxsize=1)
def registry() -> dict[str, Benchmark]:
    """All registered benchmarks, in listing order: the ``BENCHMARK`` of every subpackage of ``benchmarks``."""
    found: list[Benchmark] = []
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if info.ispkg:
            bench = getattr(importlib.import_module(f"benchmarks.{info.name}"), "BENCHMARK", None)
            if bench is not None:
                found.append(bench)
    found.sort(key=lambda b: (b.order, b.name))
    out: dict[str, Benchmark] = {}
    for bench in found:
        if bench.name in out:
            raise RuntimeError(f"benchmark {bench.name!r} is registered twice")
        out[bench.name] = bench
    return out


def names() -> tuple[str, ...]:
    """Every benchmark's name, in listing order."""
    return tuple(registry())


def get(name: str) -> Benchmark:
    known = registry()
    if name not in known:
        raise ConfigError(f"unknown benchmark {name!r}; valid benchmarks: {', '.join(known)}")
    return known[name]


def importers() -> dict[str, Importer]:
    """``harness data import`` names -> importer, over every benchmark, in listing order."""
    out: dict[str, Importer] = {}
    for bench in registry().values():
        for imp in bench.importers:
            if imp.name in out:
                raise RuntimeError(f"importer {imp.name!r} is registered twice")
            out[imp.name] = imp
    return out


def get_importer(name: str) -> Importer:
    known = importers()
    if name not in known:
        raise ConfigError(f"unknown benchmark {name!r} for import; valid: {', '.join(known)}")
    return known[name]

"""Benchmarks the harness can search on, each as the four things the runner needs.

A benchmark gives its search space (from run options), its supernet, its oracle (opened from the
oracle directory for the run's options: NAS-Bench-1Shot1's regret zero depends on the space) and a
description of a derived architecture (printable form, the key the oracle is queried with, and the
skip-connection count that signals collapse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from benchmarks.datasets import ImageData, SearchSplit, default_search_split
from benchmarks.space import SearchSpace, Selection
from nasbench_errors import ConfigError


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


@dataclass(frozen=True)
class Benchmark:
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


def _known() -> dict[str, Benchmark]:
    from benchmarks.nb1shot1 import BENCHMARK as NB1SHOT1
    from benchmarks.nb201 import BENCHMARK as NB201
    from benchmarks.nb301 import BENCHMARK as NB301

    return {NB201.name: NB201, NB1SHOT1.name: NB1SHOT1, NB301.name: NB301}


def names() -> tuple[str, ...]:
    """Every benchmark's name, in listing order."""
    return tuple(_known())


def get(name: str) -> Benchmark:
    known = _known()
    if name not in known:
        raise ConfigError(f"unknown benchmark {name!r}; valid benchmarks: {', '.join(known)}")
    return known[name]

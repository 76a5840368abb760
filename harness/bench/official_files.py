"""NAS-Bench-201 / NATS-Bench files in the official layouts, with synthetic values, to time the official readers.

The official files are not redistributable here, so the bench writes its own: the structure of
``tests/nb201_fixtures.py`` (``ArchResults`` / ``ResultsCount`` state dicts, ``all_results`` keyed by
``(dataset, seed)``, ``eval_acc1es`` keyed ``'x-valid@199'``, all 15,625 ``meta_archs``) with the full
per-arch payload of the real releases: 4 dataset entries (CIFAR-10 as ``cifar10-valid`` and ``cifar10``,
CIFAR-100, ImageNet16-120), 1-3 seeds, per-epoch train accuracy / top-5 / loss / time for 200 and 12
epochs, per-epoch evaluations where the real logs have them. Values are random numbers: fine for load
time, memory and query latency, meaningless as accuracies. Every key and value is a distinct object, as
in a file written by training runs, so pickle's memo cannot make the file smaller than the real one.
"""

from __future__ import annotations

import bz2
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.nb201.space import N_ARCHS, all_arch_strings

#: Evaluation sets the benchmark recorded per dataset, and the one the 200-epoch logs record every epoch.
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
PER_EPOCH_SET = {"cifar10-valid": "x-valid", "cifar10": "ori-test", "cifar100": "ori-test",
                 "ImageNet16-120": "ori-test"}
SEEDS = (777, 888, 999)


def _series(rng: np.random.Generator, epochs: int) -> OrderedDict[int, float]:
    return OrderedDict(zip(range(epochs), rng.uniform(10, 95, epochs).tolist(), strict=True))


def _result(rng: np.random.Generator, dataset: str, arch_str: str, seed: int, epochs: int,
            every_epoch: bool) -> dict[str, Any]:
    """A ``ResultsCount`` state dict."""
    keys = [f"{s}@{e}" for s in EVAL_SETS[dataset]
            for e in (range(epochs) if every_epoch or s == PER_EPOCH_SET[dataset] else (epochs - 1,))]
    return {
        "name": dataset, "net_state_dict": None, "seed": seed, "epochs": epochs,
        "train_acc1es": _series(rng, epochs), "train_acc5es": _series(rng, epochs),
        "train_losses": _series(rng, epochs), "train_times": _series(rng, epochs),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": 10},
        "params": float(rng.uniform(0.1, 1.5)), "flop": float(rng.uniform(10, 200)), "latency": [0.01],
        "eval_names": list(EVAL_SETS[dataset]),
        "eval_acc1es": dict(zip(keys, rng.uniform(10, 95, len(keys)).tolist(), strict=True)),
        "eval_times": dict(zip(list(keys), rng.uniform(0, 2, len(keys)).tolist(), strict=True)),
        "eval_losses": dict(zip(list(keys), rng.uniform(0, 3, len(keys)).tolist(), strict=True)),
    }


def _arch_results(rng: np.random.Generator, index: int, arch_str: str, epochs: int) -> dict[str, Any]:
    """An ``ArchResults`` state dict: 200 epochs with 1-3 seeds (old logs), 12 epochs once, every epoch."""
    seeds = SEEDS[: 1 + index % 3] if epochs == 200 else SEEDS[:1]
    return {
        "arch_index": index, "arch_str": arch_str, "clear_net_done": True,
        "all_results": {(d, s): _result(rng, d, arch_str, s, epochs, every_epoch=epochs != 200)
                        for d in EVAL_SETS for s in seeds},
        "dataset_seed": {d: list(seeds) for d in EVAL_SETS},
    }


def official_entries(indices: range) -> dict[int, tuple[dict[str, Any], dict[str, Any]]]:
    """Per arch index, its (12-epoch, 200-epoch) ArchResults state dicts."""
    strings = all_arch_strings()
    out = {}
    for i in indices:
        rng = np.random.default_rng(i)
        out[i] = (_arch_results(rng, i, strings[i], 12), _arch_results(rng, i, strings[i], 200))
    return out


def write_pth(directory: Path, n_archs: int) -> Path:
    """``NAS-Bench-201-v1_1-096897.pth`` with results for archs 0..n_archs-1 (torch's legacy pickle, as released)."""
    entries = official_entries(range(n_archs))
    data = {"meta_archs": all_arch_strings(), "total_archs": N_ARCHS, "evaluated_indexes": set(entries),
            "arch2infos": {i: {"less": less, "full": full} for i, (less, full) in entries.items()}}
    path = directory / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(data, path, _use_new_zipfile_serialization=False)
    return path


def write_nats_file(directory: Path, n_archs: int) -> Path:
    """The single-file NATS-tss archive (``NATS-tss-v1_0-3ffb9.pickle.pbz2``, what ``fast_mode=False`` loads)."""
    entries = official_entries(range(n_archs))
    data = {"meta_archs": all_arch_strings(), "total_archs": N_ARCHS, "evaluated_indexes": set(entries),
            "arch2infos": {i: OrderedDict([("12", less), ("200", full)]) for i, (less, full) in entries.items()}}
    path = directory / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    with bz2.BZ2File(path, "wb") as f:
        pickle.dump(data, f, protocol=4)
    return path

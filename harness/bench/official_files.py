"""NAS-Bench-201 / NATS-Bench files in the official layouts with synthetic values: the bench times the official
readers on them and the importer tests check what the importer makes of them.

The official files are not redistributable here, so the harness writes its own: the same nested state dicts
(``ArchResults`` / ``ResultsCount`` as plain dicts, ``all_results`` keyed by ``(dataset, seed)``,
``eval_acc1es`` keyed ``'x-valid@199'``...), the same containers (a ``torch.save`` pickle for the .pth,
bz2 pickles for NATS), all 15,625 ``meta_archs`` strings and the full per-arch payload of the releases (4
dataset entries, 1-3 seeds, per-epoch train accuracy / top-5 / loss / time for 200 and 12 epochs, per-epoch
evaluations where the real logs have them), for as many archs as asked. Accuracies follow ``accuracy()``, a
formula distinct per arch, set, seed and epoch, so tests can compute what the importer must produce;
meaningless as accuracies, fine for load time, memory and query latency.
"""

from __future__ import annotations

import bz2
import pickle
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from benchmarks.nb201.space import N_ARCHS, all_arch_strings

EPOCHS = {"hp200": 200, "hp12": 12}
#: Evaluation sets the benchmark recorded per dataset ('ori-test' of cifar100/ImageNet = valid + test).
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
#: The set the old (2019) training logs recorded every epoch; the others only after the last epoch.
PER_EPOCH_SET = {"cifar10-valid": "x-valid", "cifar10": "ori-test", "cifar100": "ori-test",
                 "ImageNet16-120": "ori-test"}
_DATASET_OFFSET = {"cifar10-valid": 0.1, "cifar10": 0.2, "cifar100": 0.3, "ImageNet16-120": 0.4}
_SET_OFFSET = {"train": 5.0, "x-valid": 1.0, "x-test": 2.0, "ori-test": 3.0}
DATASETS = tuple(EVAL_SETS)


@lru_cache(maxsize=1)
def arch_strings() -> tuple[str, ...]:
    return tuple(all_arch_strings())


def accuracy(index: int, dataset: str, eval_set: str, budget: str, seed: int, epoch: int) -> float:
    """The synthetic accuracy (percent) every fixture writes: distinct per arch, set, seed and epoch."""
    final = (30.0 + index % 50 + _DATASET_OFFSET[dataset] + _SET_OFFSET[eval_set] + (seed % 10) * 0.25
             - (10.0 if budget == "hp12" else 0.0))
    return final * (epoch + 1) / EPOCHS[budget]




def result_count(index: int, arch_str: str, dataset: str, budget: str, seed: int,
                 per_epoch_evals: bool) -> dict[str, Any]:
    """A ``ResultsCount`` state dict; ``per_epoch_evals=False`` mimics the old logs (see PER_EPOCH_SET)."""
    epochs = EPOCHS[budget]
    last = epochs - 1
    acc1es: dict[str, float] = {}
    for eval_set in EVAL_SETS[dataset]:
        every = per_epoch_evals or eval_set == PER_EPOCH_SET[dataset]
        for epoch in range(epochs) if every else (last,):
            acc1es[f"{eval_set}@{epoch}"] = accuracy(index, dataset, eval_set, budget, seed, epoch)
    return {
        "name": dataset,
        "net_state_dict": None,
        "train_acc1es": OrderedDict((e, accuracy(index, dataset, "train", budget, seed, e))
                                    for e in range(epochs)),
        "train_acc5es": OrderedDict((e, 99.0) for e in range(epochs)),
        "train_losses": OrderedDict((e, 1.0 / (e + 1)) for e in range(epochs)),
        "train_times": OrderedDict((e, 10.0) for e in range(epochs)),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": 10},
        "params": 0.5,
        "flop": 50.0,
        "seed": seed,
        "epochs": epochs,
        "latency": [0.01],
        "eval_names": list(EVAL_SETS[dataset]),
        "eval_acc1es": acc1es,
        "eval_times": {key: 1.0 for key in acc1es},
        "eval_losses": {key: 2.0 for key in acc1es},
    }


def arch_results(index: int, budget: str, seeds: dict[str, tuple[int, ...]],
                 per_epoch_evals: bool) -> dict[str, Any]:
    """An ``ArchResults`` state dict: ``seeds`` maps each dataset it covers to its trial seeds."""
    arch_str = arch_strings()[index]
    return {
        "arch_index": index,
        "arch_str": arch_str,
        "all_results": {
            (dataset, seed): result_count(index, arch_str, dataset, budget, seed, per_epoch_evals)
            for dataset, dataset_seeds in seeds.items() for seed in dataset_seeds
        },
        "dataset_seed": {dataset: sorted(s) for dataset, s in seeds.items()},
        "clear_net_done": True,
    }


def hp200_seeds(index: int) -> tuple[int, ...]:
    """1 to 3 trials per arch, as in the benchmark (so per-seed columns have gaps)."""
    return (777, 888, 999)[: 1 + index % 3]


def pth_seeds(index: int, budget: str, version: str) -> dict[str, tuple[int, ...]]:
    """v1_1 trains hp12 once (twice on cifar10-valid); v1_0's hp12 covers cifar10-valid only."""
    if budget == "hp200":
        return {d: hp200_seeds(index) for d in DATASETS}
    if version == "v1_0":
        return {"cifar10-valid": (777,)}
    return {d: (777, 888) if d == "cifar10-valid" else (777,) for d in DATASETS}


def nats_seeds(index: int, budget: str) -> dict[str, tuple[int, ...]]:
    return {d: hp200_seeds(index) if budget == "hp200" else (111, 777) for d in DATASETS}


def pth_data(indices: Iterable[int], version: str = "v1_1") -> dict[str, Any]:
    """The dict an official NAS-Bench-201 .pth holds."""
    indices = sorted(indices)
    return {
        "meta_archs": list(arch_strings()),
        "arch2infos": {
            i: {
                "less": arch_results(i, "hp12", pth_seeds(i, "hp12", version), per_epoch_evals=True),
                "full": arch_results(i, "hp200", pth_seeds(i, "hp200", version), per_epoch_evals=False),
            }
            for i in indices
        },
        "evaluated_indexes": set(indices),
        "total_archs": N_ARCHS,
    }


def write_pth(directory: Path, indices: Iterable[int], version: str = "v1_1", data: Any = None) -> Path:
    """``NAS-Bench-201-v1_x-<md5>.pth`` as the 2020 releases were saved (torch's legacy pickle format)."""
    name = {"v1_0": "NAS-Bench-201-v1_0-e61699.pth", "v1_1": "NAS-Bench-201-v1_1-096897.pth"}[version]
    path = directory / name
    content = pth_data(indices, version) if data is None else data
    torch.save(content, path, _use_new_zipfile_serialization=False)
    return path


def nats_entry(index: int) -> OrderedDict[str, Any]:
    """One arch's file content: hp '12' (logged every epoch) and '200' (the old logs)."""
    return OrderedDict([
        ("12", arch_results(index, "hp12", nats_seeds(index, "hp12"), per_epoch_evals=True)),
        ("200", arch_results(index, "hp200", nats_seeds(index, "hp200"), per_epoch_evals=False)),
    ])


def pickle_pbz2(obj: Any, path: Path) -> Path:
    with bz2.BZ2File(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def write_nats_dir(directory: Path, indices: Iterable[int], name: str = "NATS-tss-v1_0-3ffb9-simple") -> Path:
    """An unpacked ``NATS-tss-v1_0-3ffb9-simple`` archive: meta.pickle.pbz2 + <index:06d>.pickle.pbz2."""
    root = directory / name
    root.mkdir(parents=True)
    meta = {"meta_archs": list(arch_strings()), "total_archs": N_ARCHS, "arch2infos": None,
            "evaluated_indexes": set()}
    pickle_pbz2(meta, root / "meta.pickle.pbz2")
    for i in indices:
        pickle_pbz2(nats_entry(i), root / f"{i:06d}.pickle.pbz2")
    return root


def write_nats_file(directory: Path, indices: Iterable[int]) -> Path:
    """The single-file NATS-tss archive (``NATS-tss-v1_0-3ffb9.pickle.pbz2``)."""
    indices = sorted(indices)
    data = {"meta_archs": list(arch_strings()), "total_archs": N_ARCHS,
            "arch2infos": {i: nats_entry(i) for i in indices}, "evaluated_indexes": set(indices)}
    return pickle_pbz2(data, directory / "NATS-tss-v1_0-3ffb9.pickle.pbz2")



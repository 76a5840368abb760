"""NAS-Bench-201's search splits (Dong & Yang 2020, ICLR; AutoDL-Projects ``get_nas_search_loaders``).

Bilevel search on CIFAR-10 trains the weights on the 25,000 images of ``cifar-split.txt``'s ``train`` list and
the architecture on its 25,000 ``valid`` images, both indices into the official training-set order. On
CIFAR-100 and ImageNet16-120 the weights train on the whole training set and the architecture on ``xvalid``,
half of the test set (``cifar100-test-split.txt``, ``imagenet-16-120-test-split.txt``); the reference's loader
draws an architecture image (augmented like a training image) for every training image. The supernet's "valid"
metrics use the same architecture half (the reference's ``valid_loader``).

The files ship in ``splits/`` (MIT, AutoDL-Projects; see its README and LICENSE). Their indices refer to the
official files' image order, so they are used only when the loaded data is the official release whole
(``ImageData.official``: every file's md5 checked) and the split is 50/50 (``train_portion`` 0.5, the
protocol's); otherwise the seeded stratified split (``benchmarks.datasets.search_split``) is used and its
description says why. ERM (GAEA's single-level setting) uses the whole training set for both steps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import torch

from benchmarks.datasets import ImageData, SearchSplit, default_search_split
from nasbench_errors import DataError

SPLIT_DIR = Path(__file__).parent / "splits"
#: dataset -> (split file, weights list or None for the whole training set, architecture list, its source set)
PROTOCOL: dict[str, tuple[str, str | None, str, str]] = {
    "cifar10": ("cifar-split.txt", "train", "valid", "train"),
    "cifar100": ("cifar100-test-split.txt", None, "xvalid", "test"),
    "ImageNet16-120": ("imagenet-16-120-test-split.txt", None, "xvalid", "test"),
}


@cache
def read_split(filename: str) -> dict[str, torch.Tensor]:
    """The index lists of a split file (``{name: ["int", [index strings]]}``) as int64 tensors."""
    path = SPLIT_DIR / filename
    try:
        raw = json.loads(path.read_text())
        return {name: torch.tensor([int(i) for i in values[1]], dtype=torch.long) for name, values in raw.items()}
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise DataError(f"the packaged split file {path} is missing or unreadable ({exc}); reinstall the "
                        "harness (pip install -e .)") from exc


def search_split(data: ImageData, setting: str, config: Mapping[str, Any]) -> SearchSplit:
    """The official split of a bilevel search on the official data, else the seeded stratified fallback."""
    fallback = default_search_split(data, setting, config)
    if setting != "bilevel":
        return fallback
    portion = float(config.get("train_portion", 0.5))
    if portion != 0.5:
        return _fallback(fallback, f"train_portion {portion:g} differs from the official 50/50 protocol")
    if not data.official:
        return _fallback(fallback, f"the data is {data.provenance}")
    filename, weights_list, arch_list, source = PROTOCOL[data.name]
    lists = read_split(filename)
    weights = torch.arange(len(data.train_y)) if weights_list is None else lists[weights_list]
    arch = lists[arch_list]
    pool = data.train_y if source == "train" else data.test_y
    if int(weights.max()) >= len(data.train_y) or int(arch.max()) >= len(pool):
        raise DataError(f"{filename} indexes beyond the {data.name} images although their md5s are official; "
                        "reinstall the harness")
    what = f"{weights_list} ({len(weights)})" if weights_list else f"all {len(weights)} training images"
    text = (f"NAS-Bench-201 official split ({filename}): weights on {what}, architecture on {arch_list} "
            f"({len(arch)}, {source} set)")
    return SearchSplit(setting, weights, arch, arch_source=source, description=text)


def _fallback(split: SearchSplit, reason: str) -> SearchSplit:
    return replace(split, description=f"{split.description}; not NAS-Bench-201's official split: {reason}")

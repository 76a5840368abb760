"""Image datasets for search runs: official-format readers, the search splits and a device-side batch stream.

A NAS search touches every training image each epoch, so a whole dataset lives on the training device as
uint8 and batches are cut, augmented and normalized there with a few tensor ops (airbench-style) instead
of a DataLoader running per-image Python transforms. Randomness comes from CPU generators seeded by stable
hashes, so splits, subsets and batches are identical across processes, devices and resumed runs.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasbench_errors import ConfigError, DataError

DATA_ROOT_ENV = "HARNESS_DATA_ROOT"
# Where NAS-Bench-201's authors publish ImageNet16 (and their CIFAR copies): the NATS-Bench README's
# "Preparation and Download" section, pointing at this Google Drive folder.
NB201_DATA_DOC = "https://github.com/D-X-Y/NATS-Bench#preparation-and-download"
NB201_DATA_DRIVE = "https://drive.google.com/drive/folders/1T3UIyZXUhMmIuJLOBMIYKAsJknAtrrO4"

Progress = Callable[[int, int | None], None]
"""Download progress callback: (bytes so far, total bytes or None when the server does not say)."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives under the data root, how its pickles are keyed, and how to obtain it.

    Labels in the files run over ``label_base .. label_base + source_classes - 1``; only the first
    ``num_classes`` of them are kept and shifted to start at 0 (ImageNet16-120 keeps 1..120 of 1..1000).
    ``mean``/``std`` are the per-channel constants of NAS-Bench-201's training code (AutoDL-Projects
    ``get_datasets``), so the supernet sees inputs normalized exactly as the benchmark's networks did.
    """

    name: str
    dirnames: tuple[str, ...]  # accepted folder names under the data root; the first is canonical
    layout: str  # the expected files, as written in error messages
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    source_classes: int
    label_base: int
    size: int  # images are size x size
    pad: int  # zero padding of the random-crop augmentation, as in NAS-Bench-201
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    url: str | None = None
    md5: str | None = None
    #: (file, md5) of every file of the official release: a folder whose files all match holds the official images
    #: in the official order, the order NAS-Bench-201's split files index (CIFAR: torchvision's lists of the
    #: archive members; ImageNet16: AutoDL-Projects' ``ImageNet16`` class)
    file_md5: tuple[tuple[str, str], ...] = ()


def _per255(*values: float) -> tuple[float, float, float]:
    r, g, b = (v / 255 for v in values)
    return r, g, b


SPECS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec(
        name="cifar10",
        dirnames=("cifar-10-batches-py",),
        layout="data_batch_1..5 and test_batch",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        label_key="labels",
        num_classes=10,
        source_classes=10,
        label_base=0,
        size=32,
        pad=4,
        mean=_per255(125.3, 123.0, 113.9),
        std=_per255(63.0, 62.1, 66.7),
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        file_md5=(("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                  ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                  ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                  ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                  ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
                  ("test_batch", "40351d587109b95175f43aff81a1287e")),
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        dirnames=("cifar-100-python",),
        layout="train and test",
        train_files=("train",),
        test_files=("test",),
        label_key="fine_labels",
        num_classes=100,
        source_classes=100,
        label_base=0,
        size=32,
        pad=4,
        mean=_per255(129.3, 124.1, 112.4),
        std=_per255(68.2, 65.4, 70.4),
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        file_md5=(("train", "16019d7e3df5f24257cddd939b257f8d"), ("test", "f0ef6b0ae62326f3e7ffdfab6717acfc")),
    ),
    "ImageNet16-120": DatasetSpec(
        name="ImageNet16-120",
        dirnames=("ImageNet16", "ImageNet16-120"),
        layout="train_data_batch_1..10 and val_data",
        train_files=tuple(f"train_data_batch_{i}" for i in range(1, 11)),
        test_files=("val_data",),
        label_key="labels",
        num_classes=120,
        source_classes=1000,
        label_base=1,
        size=16,
        pad=2,
        mean=_per255(122.68, 116.66, 104.01),
        std=_per255(63.22, 61.26, 65.09),
        file_md5=(("train_data_batch_1", "27846dcaa50de8e21a7d1a35f30f0e91"),
                  ("train_data_batch_2", "c7254a054e0e795c69120a5727050e3f"),
                  ("train_data_batch_3", "4333d3df2e5ffb114b05d2ffc19b1e87"),
                  ("train_data_batch_4", "1620cdf193304f4a92677b695d70d10f"),
                  ("train_data_batch_5", "348b3c2fdbb3940c4e9e834affd3b18d"),
                  ("train_data_batch_6", "6e765307c242a1b3d7d5ef9139b48945"),
                  ("train_data_batch_7", "564926d8cbf8fc4818ba23d2faac7564"),
                  ("train_data_batch_8", "f4755871f718ccb653440b9dd0ebac66"),
                  ("train_data_batch_9", "bb6dd660c38c58552125b1a92f86b5d4"),
                  ("train_data_batch_10", "8f03f34ac4b42271a294f91bf480f29b"),
                  ("val_data", "3410e3017fdaefba8d5073aaa65e4bd6")),
    ),
}


@dataclass
class ImageData:
    """A whole dataset on its training device: uint8 images [N,3,H,W] and int64 labels 0..num_classes-1.

    ``mean``/``std`` (per channel, in 0..1 units: NAS-Bench-201's constants, see ``DatasetSpec``) and
    ``pad`` are what ``BatchStream`` and ``eval_batches`` need to augment and normalize it the benchmark's
    way. ``official`` says the images are the official release, whole and in its order (every file's md5
    matches and no subset was taken), so index files such as NAS-Bench-201's splits apply; ``provenance``
    says in a few words why or why not.
    """

    name: str
    num_classes: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad: int
    official: bool = False
    provenance: str = ""


def get_spec(name: str) -> DatasetSpec:
    """The spec of a dataset by its harness name; unknown names are a user error."""
    if name not in SPECS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(SPECS)}")
    return SPECS[name]


def resolve_data_root(cli_value: str | None, default: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``--data-root`` if given, else ``$HARNESS_DATA_ROOT``, else ``default`` (the CLI passes
    ``$HARNESS_HOME/data``, so a fresh machine needs no setting)."""
    value = cli_value or os.environ.get(DATA_ROOT_ENV) or default
    if not value:
        raise DataError(
            f"no data root: pass --data-root DIR or set {DATA_ROOT_ENV}=DIR, the folder that holds (or will "
            "hold) cifar-10-batches-py/, cifar-100-python/ or ImageNet16/"
        )
    return Path(value).expanduser()


def check_data_root(root: Path) -> Path:
    """``root`` if it can hold datasets: a missing folder is fine (each dataset then says how to get it), a file
    or a folder that cannot be listed is a DataError."""
    if not root.exists():
        return root
    if not root.is_dir():
        raise DataError(f"data root {root} is a file, not a directory; pass --data-root DIR (or set "
                        f"{DATA_ROOT_ENV}=DIR), the folder that holds cifar-10-batches-py/ and the other datasets")
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        raise DataError(f"data root {root} cannot be read ({exc.strerror or exc}); fix its permissions or pass "
                        "another --data-root") from None
    return root


def download_source(name: str) -> tuple[str, str]:
    """(URL, md5) of a dataset's archive: the official ones, unless ``HARNESS_<NAME>_URL`` names a mirror (whose
    archive must still have the official md5) and ``HARNESS_<NAME>_MD5`` another md5. Both exist for mirrors and
    for the tests, which serve a tiny archive in the official layout from 127.0.0.1."""
    spec = get_spec(name)
    if spec.url is None or spec.md5 is None:
        raise DataError(f"cannot download {spec.name}: {_how_to_get(spec, Path('<data root>'))}")
    prefix = f"HARNESS_{spec.name.upper()}"
    return os.environ.get(f"{prefix}_URL") or spec.url, os.environ.get(f"{prefix}_MD5") or spec.md5


def downloadable(name: str) -> bool:
    """Whether the harness can fetch the dataset itself (CIFAR-10/100; not ImageNet16-120)."""
    return get_spec(name).url is not None


def _how_to_get(spec: DatasetSpec, root: Path) -> str:
    if spec.url is None:
        return (
            f"{spec.name} has no public direct download: get the ImageNet16 folder that NAS-Bench-201 uses "
            f"(documented at {NB201_DATA_DOC}, Google Drive {NB201_DATA_DRIVE}) and put it in {root}"
        )
    return (
        f"run `harness data download {spec.name} --data-root {root}`, or fetch {spec.url} (md5 {spec.md5}) "
        f"and extract it in {root}"
    )


def _data_error(spec: DatasetSpec, folder: Path, problem: str) -> DataError:
    """A one-line error: what is wrong, which files are expected in which folder, and how to get them."""
    return DataError(f"{problem}; expected {spec.layout} in {folder}/; {_how_to_get(spec, folder.parent)}")


def dataset_dir(name: str, root: str | Path) -> Path:
    """The dataset's folder under the data root (ImageNet16-120 accepts either of its usual names)."""
    spec, root = get_spec(name), Path(root).expanduser()
    candidates = [root / d for d in spec.dirnames]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise _data_error(spec, candidates[0], f"{spec.name} not found: no folder {' or '.join(map(str, candidates))}")


def _missing(spec: DatasetSpec, folder: Path) -> list[str]:
    return [f for f in spec.train_files + spec.test_files if not (folder / f).is_file()]


_ARRAY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a hostile 'dataset' file cannot run code."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"it references {module}.{name}, which is not array data")
        return super().find_class(module, name)


def _unpickle(path: Path, spec: DatasetSpec) -> dict[str, object]:
    """The batch dict with str keys: Python-2 pickles (the official files) and Python-3 ones alike."""
    try:
        with path.open("rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # a truncated or corrupt pickle can fail with almost any exception type
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _data_error(spec, path.parent, f"{path} is truncated or corrupt ({reason})") from exc
    if not isinstance(entry, dict):
        raise _data_error(spec, path.parent, f"{path} holds a {type(entry).__name__}, not a batch dict")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in entry.items()}


def _read_batch(path: Path, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """One official batch file as checked (N, 3*H*W) uint8 pixels and kept, 0-based int64 labels."""
    entry = _unpickle(path, spec)
    if "data" not in entry or spec.label_key not in entry:
        raise _data_error(
            spec, path.parent, f"{path} has keys {sorted(entry)} but needs 'data' and {spec.label_key!r}"
        )
    data, labels = np.asarray(entry["data"]), np.asarray(entry[spec.label_key])
    pixels = 3 * spec.size**2
    if data.dtype != np.uint8 or data.shape[1:] != (pixels,) or labels.shape != (len(data),):
        raise _data_error(
            spec,
            path.parent,
            f"{path} holds {data.dtype} data {data.shape} with {labels.shape} labels, "
            f"expected uint8 (N, {pixels}) with N labels",
        )
    low, high = spec.label_base, spec.label_base + spec.source_classes - 1
    integral = np.issubdtype(labels.dtype, np.integer)
    if labels.size and (not integral or labels.min() < low or labels.max() > high):
        raise _data_error(spec, path.parent, f"{path} has labels outside the integers {low}..{high}")
    keep = labels < spec.label_base + spec.num_classes
    return data[keep], labels[keep].astype(np.int64) - spec.label_base


def _read_split(spec: DatasetSpec, folder: Path, files: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate batch files into uint8 [N,3,H,W] (R,G,B planes, row-major) and int64 labels."""
    parts = [_read_batch(folder / f, spec) for f in files]
    x = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return x.reshape(-1, 3, spec.size, spec.size), y


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def official_mismatch(spec: DatasetSpec, folder: Path) -> str | None:
    """None when every file has the official release's md5 (``DatasetSpec.file_md5``), else which one differs."""
    if not spec.file_md5:
        return f"no official md5 list for {spec.name}"
    for file, expected in spec.file_md5:
        if (actual := _md5(folder / file)) != expected:
            return f"{file} has md5 {actual}, not the official {expected}"
    return None


def load(
    name: str,
    root: str | Path,
    device: str | torch.device = "cpu",
    train_limit: int | None = None,
    test_limit: int | None = None,
    subset_seed: int = 0,
) -> ImageData:
    """Read a dataset from its official files and put it on ``device`` once.

    ``train_limit``/``test_limit`` keep a seeded stratified subset (class proportions preserved), which
    is what quick CPU profiles use; ``test`` is the official test set (``val_data`` for ImageNet16-120).
    Without limits the files' md5s are checked against the official release (``ImageData.official``).
    """
    spec, folder = get_spec(name), dataset_dir(name, root)
    if missing := _missing(spec, folder):
        raise _data_error(spec, folder, f"{folder} lacks {', '.join(missing)}")
    train_x, train_y = _read_split(spec, folder, spec.train_files)
    test_x, test_y = _read_split(spec, folder, spec.test_files)
    subset = any(limit is not None and limit < len(y) for limit, y in ((train_limit, train_y), (test_limit, test_y)))
    mismatch = "a stratified subset (train_limit/test_limit)" if subset else official_mismatch(spec, folder)
    if train_limit is not None:
        keep = stratified_subset(train_y, train_limit, subset_seed, "train")
        train_x, train_y = train_x[keep], train_y[keep]
    if test_limit is not None:
        keep = stratified_subset(test_y, test_limit, subset_seed, "test")
        test_x, test_y = test_x[keep], test_y[keep]
    device = torch.device(device)
    return ImageData(
        name=spec.name,
        num_classes=spec.num_classes,
        train_x=train_x.to(device),
        train_y=train_y.to(device),
        test_x=test_x.to(device),
        test_y=test_y.to(device),
        mean=spec.mean,
        std=spec.std,
        pad=spec.pad,
        official=mismatch is None,
        provenance="the official files" if mismatch is None else f"not the official files: {mismatch}",
    )


def _generator(*key: object) -> torch.Generator:
    """A CPU generator seeded by a stable hash of ``key`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def _take_per_class(labels: torch.Tensor, quota: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of ``quota[c]`` random members of each class c: one permutation, no per-class loop."""
    n = labels.numel()
    perm = torch.randperm(n, generator=generator)
    grouped = perm[torch.argsort(labels[perm], stable=True)]  # classes contiguous, random order within
    counts = torch.bincount(labels, minlength=quota.numel())
    rank = torch.arange(n) - (torch.cumsum(counts, 0) - counts).repeat_interleave(counts)
    return torch.sort(grouped[rank < quota[labels[grouped]]]).values


def stratified_subset(labels: torch.Tensor, limit: int, seed: int, tag: str = "subset") -> torch.Tensor:
    """Sorted indices of ``limit`` examples drawn per class in proportion to the class sizes.

    Each class gets floor(share); the leftover slots go to the classes with the largest remainders, so
    the subset's class histogram is as close to the full one as integers allow.
    """
    labels = labels.cpu()
    n = labels.numel()
    if limit <= 0:
        raise ConfigError(f"a subset limit must be positive, got {limit}")
    if limit >= n:
        return torch.arange(n)
    counts = torch.bincount(labels)
    exact = counts.double() * limit / n
    quota = exact.floor().long()
    leftover = limit - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:leftover]] += 1
    return _take_per_class(labels, quota, _generator("subset", seed, tag))


SETTINGS = ("bilevel", "erm")


@dataclass(frozen=True)
class SearchSplit:
    """Which images update the weights and which the architecture (int64 CPU indices).

    ``weights_idx`` index the training set; ``arch_idx`` index the set named by ``arch_source``: the training
    set, or the test set where a protocol draws the architecture batches from a held-out half of it
    (NAS-Bench-201's ``xvalid``). The supernet's "valid" metrics of a bilevel run are measured on the
    architecture images too. ``description`` says in one line which split this is, for the run's record.
    """

    setting: str
    weights_idx: torch.Tensor
    arch_idx: torch.Tensor
    arch_source: str = "train"
    description: str = ""


def _portion_text(portion: float) -> str:
    return f"{100 * portion:g}/{100 * (1 - portion):g}"


def search_split(n_or_labels: int | torch.Tensor, setting: str, split_seed: int,
                 train_portion: float = 0.5) -> SearchSplit:
    """The seeded stratified training-set split of a search setting.

    ``bilevel``: the weights on ceil(``train_portion`` x N) images of the training set and the architecture on
    the rest, stratified per class when labels are given: class c gets ceil(p x S_c) - ceil(p x S_{c-1})
    weight images, S the cumulative class counts, so every class is split as evenly as integers allow and at
    p = 1/2 a class of odd size gives its extra image alternately to either half. ``erm``: GAEA's
    single-level setting, the whole training set for both steps.
    """
    labels = torch.as_tensor(n_or_labels).cpu()
    if labels.ndim == 0:
        labels = torch.zeros(int(labels), dtype=torch.long)
    n = labels.numel()
    if setting == "erm":
        return SearchSplit(setting, torch.arange(n), torch.arange(n),
                           description=f"erm: all {n} training images for both steps")
    if setting != "bilevel":
        raise ConfigError(f"unknown search setting {setting!r}; choose one of {', '.join(SETTINGS)}")
    if not 0 < train_portion < 1:
        raise ConfigError(f"train_portion={train_portion} must lie strictly between 0 and 1 (the weights' share of "
                          "the training set in a bilevel search); set --set train_portion=0.5")
    counts = torch.bincount(labels)
    cumulative = torch.ceil(torch.cumsum(counts, 0).double() * train_portion).long()
    quota = cumulative - torch.cat([cumulative.new_zeros(1), cumulative[:-1]])
    weights = _take_per_class(labels, quota, _generator("bilevel", split_seed, *(() if train_portion == 0.5
                                                                                 else (train_portion,))))
    in_arch = torch.ones(n, dtype=torch.bool)
    in_arch[weights] = False
    arch = in_arch.nonzero().squeeze(1)
    text = (f"seeded stratified {_portion_text(train_portion)} split of the training set (split_seed "
            f"{split_seed}): weights {len(weights)}, architecture {len(arch)} images")
    return SearchSplit(setting, weights, arch, description=text)


def default_search_split(data: ImageData, setting: str, config: Mapping[str, Any]) -> SearchSplit:
    """A benchmark's search split unless it brings its own: the seeded stratified split (``search_split``)."""
    return search_split(data.train_y, setting, int(config["split_seed"]), float(config.get("train_portion", 0.5)))


def crop_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Each image's H x W window at ``offsets`` (dy, dx in 0..2*pad) of its zero-padded copy, mirrored
    where ``flips`` is True: torchvision's RandomCrop(padding=pad) + RandomHorizontalFlip as two gathers.

    ``images`` [B,C,H,W] (any dtype, padded with 0 as the uint8 image is before normalization),
    ``offsets`` int64 [2,B], ``flips`` bool [B], all on the same device.
    """
    b, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    span_h = torch.arange(h, device=images.device)
    span_w = torch.arange(w, device=images.device)
    rows = offsets[0, :, None] + span_h
    cols = offsets[1, :, None] + torch.where(flips[:, None], w - 1 - span_w, span_w)
    picked_rows = torch.gather(padded, 2, rows[:, None, :, None].expand(b, c, h, w + 2 * pad))
    return torch.gather(picked_rows, 3, cols[:, None, None, :].expand(b, c, h, w))


class Normalizer:
    """uint8 images -> (x/255 - mean) / std as one multiply-add, constants kept on the data's device."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        std_t = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1)
        self.scale = (1 / (255 * std_t)).to(device=device, dtype=dtype)
        self.shift = (-mean_t / std_t).to(device=device, dtype=dtype)
        self.dtype = dtype
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(dtype=self.dtype, memory_format=self.memory_format)
        return x.mul_(self.scale).add_(self.shift)


class BatchStream:
    """Shuffled (optionally augmented) training batches over ``indices`` of a device-resident uint8 set.

    Epoch ``e``'s order and augmentation draw from a CPU generator seeded by (seed, tag, e) alone and are
    moved to the data's device once per epoch, so a run resumed at epoch e sees exactly the batches an
    uninterrupted run would, on any device. Use distinct tags for streams that must differ (weights vs
    architecture half). ``pad`` is the crop padding (``ImageData.pad``: 4 for CIFAR, 2 for ImageNet16).
    """

    def __init__(
        self,
        x_uint8: torch.Tensor,
        y: torch.Tensor,
        indices: torch.Tensor,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool,
        seed: int,
        tag: str,
        drop_last: bool = True,
        *,
        pad: int = 4,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        self.x, self.y = x_uint8, y
        self.indices = torch.as_tensor(indices, dtype=torch.long).cpu()
        self.batch_size, self.augment, self.seed, self.tag = batch_size, augment, seed, tag
        self.drop_last, self.pad = drop_last, pad
        if len(self) == 0:
            raise ConfigError(
                f"batch size {batch_size} exceeds the {len(self.indices)} images of stream {tag!r}; "
                "lower the batch size or raise the train limit"
            )
        self.normalize = Normalizer(mean, std, x_uint8.device, dtype, channels_last)

    def __len__(self) -> int:
        n, b = len(self.indices), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def epoch(self, e: int, batches: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches (float images [B,3,H,W], int64 labels [B]) of epoch ``e``: one pass over the indices, or exactly
        ``batches`` batches taken from successive passes, each reshuffled and re-augmented (a small architecture
        split serves a long weight epoch, as NAS-Bench-201's loader draws an architecture image per training
        image). The first pass is the one-pass epoch."""
        if batches is None:
            yield from self._pass(_generator("stream", self.seed, self.tag, e))
            return
        for p in itertools.count():
            if batches <= 0:
                return
            key = ("stream", self.seed, self.tag, e) if p == 0 else ("stream", self.seed, self.tag, e, p)
            for item in itertools.islice(self._pass(_generator(*key)), batches):
                batches -= 1
                yield item

    def _pass(self, g: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, device = len(self.indices), self.x.device
        order = self.indices[torch.randperm(n, generator=g)].to(device)
        if self.augment:
            offsets = torch.randint(0, 2 * self.pad + 1, (2, n), generator=g).to(device)
            flips = (torch.rand(n, generator=g) < 0.5).to(device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = slice(start, start + self.batch_size)
            picked = order[batch]
            images = self.x.index_select(0, picked)
            if self.augment:
                images = crop_flip(images, offsets[:, batch], flips[batch], self.pad)
            yield self.normalize(images), self.y.index_select(0, picked)


def eval_batches(
    x_uint8: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    indices: torch.Tensor | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalized, unaugmented batches in order, the last one possibly smaller: every image counts once."""
    normalize = Normalizer(mean, std, x_uint8.device, dtype, channels_last)
    order = torch.arange(len(x_uint8)) if indices is None else torch.as_tensor(indices, dtype=torch.long)
    order = order.to(x_uint8.device)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        yield normalize(x_uint8.index_select(0, batch)), y.index_select(0, batch)


def download(name: str, root: str | Path, progress: Progress | None = None) -> Path:
    """Fetch, verify and unpack a dataset's archive (``download_source``) into ``root``; a no-op when it is there.

    The archive streams to a temporary file and is unpacked into a temporary folder that is renamed into
    place only after its md5 matches and every member passed the safety checks, so an interrupted or bad
    download never leaves a half dataset that ``load`` would take for a real one.
    """
    spec, root = get_spec(name), Path(root).expanduser()
    if not downloadable(name):
        raise DataError(f"cannot download {spec.name}: {_how_to_get(spec, root)}")
    url, md5 = download_source(name)
    target = root / spec.dirnames[0]
    retry = f"`harness data download {spec.name} --data-root {root}`"
    if target.exists():
        if missing := _missing(spec, target):
            raise DataError(f"{target} exists but lacks {', '.join(missing)}; remove it and rerun {retry}")
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
        archive, unpacked = Path(tmp) / "archive.tar.gz", Path(tmp) / "unpacked"
        digest = _fetch(url, archive, progress)
        if digest != md5:
            raise DataError(
                f"{url} has md5 {digest}, not the expected {md5}: the download is corrupt or not "
                f"the official archive; rerun {retry}"
            )
        _safe_extract(archive, unpacked, spec, url)
        if missing := _missing(spec, unpacked / spec.dirnames[0]):
            raise DataError(f"{url} lacks {', '.join(missing)}; it is not the official {spec.name} archive")
        os.replace(unpacked / spec.dirnames[0], target)
    return target


def _fetch(url: str, dest: Path, progress: Progress | None) -> str:
    """Stream ``url`` into ``dest`` in 1 MiB chunks; the md5 of what was written."""
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length")
            total, done = (int(length) if length else None), 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                md5.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except OSError as exc:  # URLError, timeouts and disk errors are all OSErrors
        raise DataError(
            f"could not download {url} ({exc}); check the network, or fetch it by hand and extract it in "
            "the data root"
        ) from exc
    return md5.hexdigest()


def _safe_extract(archive: Path, dest: Path, spec: DatasetSpec, url: str) -> None:
    """Unpack only plain files and folders inside the dataset's folder: no absolute paths, '..' or links."""
    top = spec.dirnames[0]
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                parts = [p for p in PurePosixPath(member.name).parts if p != "."]
                inside = bool(parts) and parts[0] == top and ".." not in parts
                if not inside or member.name.startswith("/") or not (member.isfile() or member.isdir()):
                    raise DataError(
                        f"{url}: archive member {member.name!r} is not a plain file inside {top}/; "
                        "refusing to extract it, fetch the official archive instead"
                    )
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(f"{url} is not a readable tar.gz archive ({exc}); rerun the download") from exc

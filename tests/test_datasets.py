"""Tests of benchmarks/datasets.py: loaders, splits, batch streams, augmentation and the downloader."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import datasets
from nasbench_errors import ConfigError, DataError
from tests.conftest import SHARED_DATA
from tests.dataset_fixtures import (
    cifar10_archive,
    make_evil_tarball,
    make_tarball,
    serve_directory,
    write_cifar10,
    write_cifar100,
    write_imagenet16,
)

CANONICAL_CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)

needs_real_cifar10 = pytest.mark.skipif(
    not (SHARED_DATA / "cifar-10-batches-py").is_dir(),
    reason=f"real CIFAR-10 subset not found at {SHARED_DATA / 'cifar-10-batches-py'}",
)


@pytest.fixture(scope="module")
def cifar10() -> datasets.ImageData:
    return datasets.load("cifar10", SHARED_DATA)


# --- loaders --------------------------------------------------------------------------------------------


@needs_real_cifar10
def test_real_cifar10_subset_shapes_counts_and_mean(cifar10: datasets.ImageData) -> None:
    assert cifar10.num_classes == 10 and cifar10.pad == 4
    assert cifar10.train_x.shape == (10_000, 3, 32, 32) and cifar10.train_x.dtype == torch.uint8
    assert cifar10.test_x.shape == (2_000, 3, 32, 32)
    assert cifar10.train_y.dtype == torch.int64
    assert cifar10.train_y.bincount().tolist() == [1_000] * 10
    assert cifar10.test_y.bincount().tolist() == [200] * 10
    mean = cifar10.train_x.double().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(mean, torch.tensor(CANONICAL_CIFAR10_MEAN, dtype=torch.double), atol=0.01)
    assert torch.allclose(mean.float(), torch.tensor(cifar10.mean), atol=0.01)


@needs_real_cifar10
def test_real_cifar10_keeps_the_rgb_plane_layout(cifar10: datasets.ImageData) -> None:
    with (SHARED_DATA / "cifar-10-batches-py" / "data_batch_1").open("rb") as f:
        raw = pickle.load(f, encoding="bytes")
    first = torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32))
    assert torch.equal(cifar10.train_x[0], first)
    assert int(cifar10.train_y[0]) == raw[b"labels"][0]


def test_cifar10_fixture_keeps_the_rgb_plane_layout_and_the_file_order(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    data = datasets.load("cifar10", tmp_path)
    assert torch.equal(data.train_x, torch.from_numpy(written["train_x"].reshape(-1, 3, 32, 32)))
    assert torch.equal(data.train_y, torch.from_numpy(written["train_y"]))
    assert torch.equal(data.test_x[3, 1], torch.from_numpy(written["test_x"][3, 1024:2048].reshape(32, 32)))  # G


def test_limits_take_seeded_stratified_subsets(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train_per_class=40, test_per_class=10)
    small = datasets.load("cifar10", tmp_path, train_limit=200, test_limit=50, subset_seed=1)
    assert small.train_y.bincount().tolist() == [20] * 10
    assert small.test_y.bincount().tolist() == [5] * 10
    again = datasets.load("cifar10", tmp_path, train_limit=200, test_limit=50, subset_seed=1)
    other = datasets.load("cifar10", tmp_path, train_limit=200, test_limit=50, subset_seed=2)
    assert torch.equal(small.train_x, again.train_x) and torch.equal(small.test_x, again.test_x)
    assert not torch.equal(small.train_x, other.train_x)


def test_stratified_subset_keeps_class_proportions() -> None:
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    picked = datasets.stratified_subset(labels, 10, seed=0)
    assert labels[picked].bincount().tolist() == [6, 3, 1]
    assert len(set(picked.tolist())) == 10
    uneven = datasets.stratified_subset(labels, 7, seed=0)  # 4.2, 2.1, 0.7: the leftover goes to class 2
    assert labels[uneven].bincount().tolist() == [4, 2, 1]
    assert torch.equal(datasets.stratified_subset(labels, 500, seed=0), torch.arange(100))
    with pytest.raises(ConfigError, match="positive"):
        datasets.stratified_subset(labels, 0, seed=0)


def test_cifar100_fixture_loads_fine_labels(tmp_path: Path) -> None:
    written = write_cifar100(tmp_path)
    data = datasets.load("cifar100", tmp_path)
    assert data.num_classes == 100
    assert data.train_x.shape == (200, 3, 32, 32) and data.test_x.shape == (100, 3, 32, 32)
    assert torch.equal(data.train_y, torch.from_numpy(written["train_y"]))
    assert torch.equal(data.test_x[7], torch.from_numpy(written["test_x"][7].reshape(3, 32, 32)))
    assert data.mean == datasets.SPECS["cifar100"].mean


@pytest.mark.parametrize("dirname", ["ImageNet16", "ImageNet16-120"])
def test_imagenet16_120_keeps_the_first_120_classes_zero_based(tmp_path: Path, dirname: str) -> None:
    written = write_imagenet16(tmp_path, dirname=dirname)
    data = datasets.load("ImageNet16-120", tmp_path)
    assert data.num_classes == 120 and data.pad == 2
    kept = written["train_y"] <= 120
    assert data.train_x.shape == (int(kept.sum()), 3, 16, 16)
    assert torch.equal(data.train_y, torch.from_numpy(written["train_y"][kept] - 1))
    assert data.train_y.bincount().tolist() == [2] * 120
    expected = torch.from_numpy(written["train_x"][kept].reshape(-1, 3, 16, 16))
    assert torch.equal(data.train_x, expected)
    assert data.test_y.min() == 0 and data.test_y.max() == 119 and len(data.test_y) == 120


def test_load_moves_everything_to_the_device(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    data = datasets.load("cifar10", tmp_path, device=torch.device("cpu"))
    tensors = [data.train_x, data.train_y, data.test_x, data.test_y]
    assert all(t.device.type == "cpu" for t in tensors)


# --- errors ---------------------------------------------------------------------------------------------


def test_missing_folder_says_where_and_how_to_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        datasets.load("cifar10", tmp_path)
    message = str(err.value)
    assert "\n" not in message
    for piece in (
        str(tmp_path / "cifar-10-batches-py"),
        "data_batch_1..5",
        "test_batch",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "harness data download cifar10",
    ):
        assert piece in message


def test_missing_cifar100_mentions_its_archive(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="eb9058c3a382ffc7106e4002c42a8d85"):
        datasets.load("cifar100", tmp_path)


def test_missing_imagenet16_points_to_the_nas_bench_201_data(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        datasets.load("ImageNet16-120", tmp_path)
    message = str(err.value)
    for piece in ("ImageNet16", "train_data_batch_1..10", "val_data", datasets.NB201_DATA_DOC, "no public"):
        assert piece in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    (written["folder"] / "data_batch_3").unlink()
    with pytest.raises(DataError, match="lacks data_batch_3;.*harness data download cifar10"):
        datasets.load("cifar10", tmp_path)


def test_truncated_pickle_is_a_data_error(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    batch = written["folder"] / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_2 is truncated or corrupt.*data download cifar10"):
        datasets.load("cifar10", tmp_path)


def test_wrong_keys_are_named(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    entry = {b"pixels": written["test_x"], b"labels": [0] * len(written["test_x"])}
    (written["folder"] / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    with pytest.raises(DataError, match=r"test_batch has keys \['labels', 'pixels'\] but needs 'data'"):
        datasets.load("cifar10", tmp_path)


def test_wrong_shape_and_labels_are_data_errors(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    bad_shape = {b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}
    (written["folder"] / "test_batch").write_bytes(pickle.dumps(bad_shape, protocol=2))
    with pytest.raises(DataError, match=r"expected uint8 \(N, 3072\)"):
        datasets.load("cifar10", tmp_path)
    bad_labels = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}
    (written["folder"] / "test_batch").write_bytes(pickle.dumps(bad_labels, protocol=2))
    with pytest.raises(DataError, match=r"labels outside the integers 0..9"):
        datasets.load("cifar10", tmp_path)


class _Sneaky:
    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def test_pickles_cannot_run_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = write_cifar10(tmp_path)
    (written["folder"] / "test_batch").write_bytes(pickle.dumps({b"data": _Sneaky()}))
    with pytest.raises(DataError, match="builtins.print, which is not array data"):
        datasets.load("cifar10", tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_resolve_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datasets.DATA_ROOT_ENV, str(tmp_path / "env"))
    assert datasets.resolve_data_root(str(tmp_path / "cli")) == tmp_path / "cli"
    assert datasets.resolve_data_root(None) == tmp_path / "env"
    assert datasets.resolve_data_root(None, default=tmp_path / "home") == tmp_path / "env"  # the env wins
    monkeypatch.delenv(datasets.DATA_ROOT_ENV)
    assert datasets.resolve_data_root(None, default=tmp_path / "home") == tmp_path / "home"
    assert datasets.resolve_data_root(str(tmp_path / "cli"), default=tmp_path / "home") == tmp_path / "cli"
    with pytest.raises(DataError, match="--data-root DIR or set HARNESS_DATA_ROOT=DIR"):
        datasets.resolve_data_root(None)


def test_unknown_dataset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cifar10, cifar100, ImageNet16-120"):
        datasets.load("mnist", tmp_path)


# --- splits ---------------------------------------------------------------------------------------------


def _labels(per_class: int = 40, classes: int = 10) -> torch.Tensor:
    shuffle = torch.randperm(per_class * classes, generator=torch.Generator().manual_seed(0))
    return torch.arange(classes).repeat_interleave(per_class)[shuffle]


def test_bilevel_split_is_a_stratified_half_and_half_partition() -> None:
    labels = _labels()
    split = datasets.search_split(labels, "bilevel", split_seed=0)
    assert labels[split.weights_idx].bincount().tolist() == [20] * 10
    assert labels[split.arch_idx].bincount().tolist() == [20] * 10
    both = torch.cat([split.weights_idx, split.arch_idx])
    assert torch.equal(both.sort().values, torch.arange(len(labels)))  # disjoint and covering
    again = datasets.search_split(labels, "bilevel", split_seed=0)
    assert torch.equal(split.weights_idx, again.weights_idx) and torch.equal(split.arch_idx, again.arch_idx)
    other = datasets.search_split(labels, "bilevel", split_seed=1)
    assert not torch.equal(split.weights_idx, other.weights_idx)


def test_bilevel_split_of_odd_classes_stays_balanced() -> None:
    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 4 + [3] * 3)
    split = datasets.search_split(labels, "bilevel", split_seed=3)
    assert abs(len(split.weights_idx) - len(split.arch_idx)) <= 1
    per_class = labels[split.weights_idx].bincount(minlength=4) - labels[split.arch_idx].bincount(minlength=4)
    assert per_class.abs().max() <= 1


def test_bilevel_split_of_a_count_is_a_seeded_half() -> None:
    split = datasets.search_split(11, "bilevel", split_seed=0)
    assert {len(split.weights_idx), len(split.arch_idx)} == {5, 6}
    assert torch.equal(torch.cat([split.weights_idx, split.arch_idx]).sort().values, torch.arange(11))


def test_bilevel_split_at_one_half_is_unchanged_by_train_portion() -> None:
    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 4 + [3] * 3)
    # the split runs made before train_portion existed (the alternating odd-class rule), pinned
    weights = datasets.search_split(labels, "bilevel", split_seed=3).weights_idx
    assert weights.tolist() == [0, 1, 2, 5, 6, 10, 13, 15, 16]


def test_bilevel_split_of_a_portion_is_stratified_by_cumulative_ceilings() -> None:
    labels = _labels()  # 10 classes x 40
    split = datasets.search_split(labels, "bilevel", split_seed=0, train_portion=0.9091)
    # weights per class: ceil(0.9091 * 40 c) - ceil(0.9091 * 40 (c - 1)): ceilings 37, 73, 110, 146, 182, 219, ...
    assert labels[split.weights_idx].bincount().tolist() == [37, 36, 37, 36, 36, 37, 36, 36, 37, 36]
    assert len(split.weights_idx) == 364 and len(split.arch_idx) == 36  # ceil(363.64); DARTS-PRIME's 90.91/9.09
    assert torch.equal(torch.cat([split.weights_idx, split.arch_idx]).sort().values, torch.arange(400))
    assert split.description.startswith("seeded stratified 90.91/9.09 split of the training set (split_seed 0)")
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match=f"train_portion={bad} must lie strictly between 0 and 1"):
            datasets.search_split(labels, "bilevel", 0, train_portion=bad)


def test_erm_uses_everything_for_both_steps() -> None:
    split = datasets.search_split(_labels(), "erm", split_seed=0)
    everything = torch.arange(400)
    assert torch.equal(split.weights_idx, everything) and torch.equal(split.arch_idx, everything)
    with pytest.raises(ConfigError, match="bilevel, erm"):
        datasets.search_split(10, "trilevel", split_seed=0)


# --- batch streams and augmentation ---------------------------------------------------------------------

MEAN, STD = (0.5, 0.25, 0.125), (0.5, 0.25, 0.2)


def _stream(x: torch.Tensor, y: torch.Tensor, **kwargs: object) -> datasets.BatchStream:
    options = {"batch_size": 8, "augment": True, "seed": 0, "tag": "w", **kwargs}
    return datasets.BatchStream(x, y, torch.arange(len(x)), mean=MEAN, std=STD, **options)


@pytest.fixture
def tiny() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (30, 3, 8, 8), dtype=torch.uint8, generator=gen), torch.arange(30)


def _epoch(stream: datasets.BatchStream, e: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(stream.epoch(e))


def test_stream_batches_depend_only_on_seed_tag_and_epoch(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    uninterrupted = _stream(x, y)
    for e in range(3):
        _epoch(uninterrupted, e)
    resumed = _stream(x, y)  # a fresh process resuming at epoch 3
    for (xa, ya), (xb, yb) in zip(_epoch(uninterrupted, 3), _epoch(resumed, 3), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    order = [torch.cat([yb for _, yb in _epoch(s, e)]) for s, e in ((resumed, 3), (resumed, 4))]
    assert not torch.equal(order[0], order[1])
    other_tag = torch.cat([yb for _, yb in _epoch(_stream(x, y, tag="a"), 3)])
    assert not torch.equal(order[0], other_tag)


def test_stream_length_and_coverage(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    dropping = _stream(x, y)
    assert len(dropping) == 3 and len(_epoch(dropping, 0)) == 3
    assert all(len(yb) == 8 for _, yb in _epoch(dropping, 0))
    keeping = _stream(x, y, drop_last=False, augment=False)
    assert len(keeping) == 4
    seen = torch.cat([yb for _, yb in _epoch(keeping, 0)])
    assert torch.equal(seen.sort().values, torch.arange(30))
    with pytest.raises(ConfigError, match="batch size 64 exceeds the 30 images"):
        _stream(x, y, batch_size=64)


def test_stream_of_more_batches_takes_further_passes(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    stream = _stream(x, y, batch_size=8)
    one_pass = list(stream.epoch(2))
    longer = list(stream.epoch(2, batches=len(one_pass) * 2 + 1))
    assert len(longer) == 2 * len(one_pass) + 1
    for (a, la), (b, lb) in zip(one_pass, longer, strict=False):  # the first pass is the one-pass epoch
        assert torch.equal(a, b) and torch.equal(la, lb)
    second = torch.cat([b for _, b in longer[len(one_pass): 2 * len(one_pass)]])
    first = torch.cat([b for _, b in one_pass])
    assert len(set(second.tolist())) == len(second) and not torch.equal(second, first)  # a reshuffled pass
    assert [len(b) for _, b in stream.epoch(2, batches=1)] == [8]


def test_stream_over_a_subset_yields_only_that_subset(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    subset = torch.tensor([1, 4, 9, 16, 25])
    stream = datasets.BatchStream(x, y, subset, 5, MEAN, STD, augment=False, seed=0, tag="a")
    [(images, labels)] = _epoch(stream, 0)
    assert sorted(labels.tolist()) == subset.tolist()
    assert torch.equal(images, datasets.Normalizer(MEAN, STD)(x[labels]))


def test_augmentation_keeps_the_order_and_changes_pixels(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    plain, augmented = _epoch(_stream(x, y, augment=False), 2), _epoch(_stream(x, y, pad=2), 2)
    assert all(torch.equal(ya, yb) for (_, ya), (_, yb) in zip(plain, augmented, strict=True))
    assert not all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(plain, augmented, strict=True))


def test_crop_is_a_window_of_the_zero_padded_image_and_flip_mirrors_it() -> None:
    image = torch.arange(1, 10, dtype=torch.uint8).view(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    offsets = torch.tensor([[0], [2]])  # dy=0, dx=2 with pad=1: up one row, right one column
    cropped = datasets.crop_flip(image, offsets, torch.tensor([False]), pad=1)
    assert cropped[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    flipped = datasets.crop_flip(image, offsets, torch.tensor([True]), pad=1)
    assert flipped[0, 0].tolist() == [[0, 0, 0], [0, 3, 2], [0, 6, 5]]
    centred = datasets.crop_flip(image, torch.tensor([[1], [1]]), torch.tensor([False]), pad=1)
    assert torch.equal(centred, image)


def test_crop_flip_matches_a_per_image_reference(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = tiny
    pad, gen = 4, torch.Generator().manual_seed(1)
    offsets = torch.randint(0, 2 * pad + 1, (2, len(x)), generator=gen)
    flips = torch.rand(len(x), generator=gen) < 0.5
    fast = datasets.crop_flip(x, offsets, flips, pad)
    for i in range(len(x)):
        padded = torch.nn.functional.pad(x[i], (pad, pad, pad, pad))
        dy, dx = offsets[:, i].tolist()
        window = padded[:, dy : dy + 8, dx : dx + 8]
        assert torch.equal(fast[i], window.flip(-1) if flips[i] else window)


def test_normalization_uses_mean_and_std() -> None:
    images = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    out = datasets.Normalizer(MEAN, STD)(images)
    expected = (torch.tensor([0, 255, 128]) / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    assert out.dtype == torch.float32
    assert torch.allclose(out[1, :, 2, 3], expected.float(), atol=1e-6)


@needs_real_cifar10
def test_normalized_real_data_is_roughly_standard(cifar10: datasets.ImageData) -> None:
    batches = datasets.eval_batches(cifar10.test_x, cifar10.test_y, 500, cifar10.mean, cifar10.std)
    images = torch.cat([xb for xb, _ in batches])
    assert torch.allclose(images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=0.05)
    assert torch.allclose(images.std(dim=(0, 2, 3)), torch.ones(3), atol=0.05)


def test_eval_batches_cover_everything_in_order(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    batches = list(datasets.eval_batches(x, y, 8, MEAN, STD))
    assert [len(yb) for _, yb in batches] == [8, 8, 8, 6]
    assert torch.equal(torch.cat([yb for _, yb in batches]), y)
    assert torch.equal(torch.cat([xb for xb, _ in batches]), datasets.Normalizer(MEAN, STD)(x))
    picked = list(datasets.eval_batches(x, y, 8, MEAN, STD, indices=torch.tensor([3, 1])))
    assert picked[0][1].tolist() == [3, 1]


def test_stream_dtype_and_channels_last(tiny: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = tiny
    images, _ = next(_stream(x, y, dtype=torch.bfloat16, channels_last=True).epoch(0))
    assert images.dtype == torch.bfloat16
    assert images.is_contiguous(memory_format=torch.channels_last)


# --- download -------------------------------------------------------------------------------------------


def _serve(monkeypatch: pytest.MonkeyPatch, tarball: Path, md5: str | None = None) -> None:
    """Point the cifar10 spec at a local tarball (file:// URL), with its own md5 unless one is given."""
    digest = md5 or hashlib.md5(tarball.read_bytes()).hexdigest()
    spec = dataclasses.replace(datasets.SPECS["cifar10"], url=tarball.as_uri(), md5=digest)
    monkeypatch.setitem(datasets.SPECS, "cifar10", spec)


def test_download_verifies_extracts_and_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = write_cifar10(tmp_path / "source")
    _serve(monkeypatch, make_tarball(source["folder"], tmp_path / "cifar-10-python.tar.gz"))
    calls: list[tuple[int, int | None]] = []
    root = tmp_path / "data"
    folder = datasets.download("cifar10", root, progress=lambda done, total: calls.append((done, total)))
    assert folder == root / "cifar-10-batches-py"
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py"]  # no temporary leftovers
    assert calls and calls[-1][0] == calls[-1][1]
    data = datasets.load("cifar10", root)
    assert torch.equal(data.train_y, torch.from_numpy(source["train_y"]))
    assert datasets.download("cifar10", root) == folder  # already there: nothing fetched


def test_download_over_http_from_the_url_and_md5_the_environment_names(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    tarball, md5 = cifar10_archive(tmp_path / "served", train_per_class=3, test_per_class=1)
    root = tmp_path / "data"
    with serve_directory(tarball.parent) as (url, requested):
        monkeypatch.setenv("HARNESS_CIFAR10_URL", f"{url}/{tarball.name}")
        monkeypatch.setenv("HARNESS_CIFAR10_MD5", md5)
        assert datasets.download_source("cifar10") == (f"{url}/{tarball.name}", md5)
        calls: list[tuple[int, int | None]] = []
        folder = datasets.download("cifar10", root, progress=lambda done, total: calls.append((done, total)))
        assert requested == [f"/{tarball.name}"]
        assert calls[-1] == (tarball.stat().st_size, tarball.stat().st_size)  # the server sends Content-Length
        assert datasets.load("cifar10", root).train_x.shape == (30, 3, 32, 32)
        assert folder == root / "cifar-10-batches-py" and sorted(p.name for p in root.iterdir()) == [folder.name]
        monkeypatch.delenv("HARNESS_CIFAR10_MD5")  # a mirror alone must serve the official archive
        with pytest.raises(DataError, match=r"not the expected c58f30108f718f92721af3b95e74349a.*rerun `harness data"):
            datasets.download("cifar10", tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


def test_download_with_a_wrong_md5_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = write_cifar10(tmp_path / "source")
    tarball = make_tarball(source["folder"], tmp_path / "cifar-10-python.tar.gz")
    _serve(monkeypatch, tarball, md5="c58f30108f718f92721af3b95e74349a")
    root = tmp_path / "data"
    with pytest.raises(DataError, match="not the expected c58f30108f718f92721af3b95e74349a"):
        datasets.download("cifar10", root)
    assert list(root.iterdir()) == []


def test_download_refuses_path_traversal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _serve(monkeypatch, make_evil_tarball(tmp_path / "evil.tar.gz", "cifar-10-batches-py"))
    root = tmp_path / "a" / "b" / "data"
    with pytest.raises(DataError, match="refusing to extract"):
        datasets.download("cifar10", root)
    assert list(root.iterdir()) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_download_of_a_missing_url_is_a_data_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _serve(monkeypatch, tmp_path / "nowhere.tar.gz", md5="0" * 32)
    with pytest.raises(DataError, match="could not download file://"):
        datasets.download("cifar10", tmp_path / "data")


def test_download_does_not_overwrite_an_incomplete_folder(tmp_path: Path) -> None:
    written = write_cifar10(tmp_path)
    (written["folder"] / "test_batch").unlink()
    with pytest.raises(DataError, match="exists but lacks test_batch; remove it"):
        datasets.download("cifar10", tmp_path)


def test_imagenet16_cannot_be_downloaded(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot download ImageNet16-120: .*no public direct download"):
        datasets.download("ImageNet16-120", tmp_path)

"""NAS-Bench-201's search splits (issue 14, item 1): the packaged split files, the official split on the official
data (checked by md5), the seeded stratified fallback otherwise, and what the runner trains, evaluates and
records with each."""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from pathlib import Path

import pytest
import torch

from benchmarks import datasets
from benchmarks.nb201 import BENCHMARK
from benchmarks.nb201.splits import SPLIT_DIR, read_split
from harness.runner import RunEnvironment, SearchRun, execute
from harness.specs import RunSpec
from results.store import Store
from tests.conftest import SHARED_DATA
from tests.dataset_fixtures import write_imagenet16
from tests.smoke import nb201_oracle_dir, run_tiny

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"split_seed": 0, "train_portion": 0.5}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _image_data(name: str, n_train: int, n_test: int, official: bool = True) -> datasets.ImageData:
    """An in-memory dataset of the official sizes (1x1 images: the split only reads labels and sizes)."""
    classes = datasets.get_spec(name).num_classes
    train_y, test_y = torch.arange(n_train) % classes, torch.arange(n_test) % classes
    return datasets.ImageData(name, classes, torch.zeros(n_train, 3, 1, 1, dtype=torch.uint8), train_y,
                              torch.zeros(n_test, 3, 1, 1, dtype=torch.uint8), test_y, (0.5,) * 3, (0.5,) * 3, 4,
                              official=official, provenance="the official files" if official else "not official")


# -- the packaged files -----------------------------------------------------------------------------------

def test_split_files_ship_with_the_package_and_their_licence():
    names = {"cifar-split.txt", "cifar100-test-split.txt", "imagenet-16-120-test-split.txt",
             "ImageNet16-120-split.txt"}
    assert names <= {p.name for p in SPLIT_DIR.iterdir()}
    assert "MIT License" in (SPLIT_DIR / "LICENSE").read_text() and "Xuanyi Dong" in (SPLIT_DIR / "LICENSE").read_text()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = package_data["benchmarks.nb201"]
    shipped = {p.name for g in globs for p in (ROOT / "benchmarks" / "nb201").glob(g)}
    assert names | {"LICENSE", "README.md"} <= shipped


def test_split_files_are_the_reference_halves():
    cifar = read_split("cifar-split.txt")
    assert cifar["train"][:3].tolist() == [0, 5, 7] and cifar["valid"][:3].tolist() == [1, 2, 3]
    assert torch.equal(torch.cat([cifar["train"], cifar["valid"]]).sort().values, torch.arange(50_000))
    c100, in16 = read_split("cifar100-test-split.txt"), read_split("imagenet-16-120-test-split.txt")
    assert len(c100["xvalid"]) == 5_000 and c100["xvalid"][:3].tolist() == [1, 3, 4]
    assert torch.equal(torch.cat([c100["xvalid"], c100["xtest"]]).sort().values, torch.arange(10_000))
    assert len(in16["xvalid"]) == 3_000 and in16["xvalid"][:3].tolist() == [1, 2, 3]
    assert torch.equal(torch.cat([in16["xvalid"], in16["xtest"]]).sort().values, torch.arange(6_000))
    shared = SHARED_DATA / "nb201-splits"
    if shared.is_dir():  # the packaged copies are the shared files, unchanged
        for name in ("cifar-split.txt", "cifar100-test-split.txt", "imagenet-16-120-test-split.txt"):
            assert _md5(SPLIT_DIR / name) == _md5(shared / name)


# -- which split -----------------------------------------------------------------------------------------

def test_official_cifar10_trains_weights_on_train_and_architecture_on_valid():
    split = BENCHMARK.search_split(_image_data("cifar10", 50_000, 10_000), "bilevel", CONFIG)
    cifar = read_split("cifar-split.txt")
    assert torch.equal(split.weights_idx, cifar["train"]) and torch.equal(split.arch_idx, cifar["valid"])
    assert split.arch_source == "train"
    assert split.description.startswith("NAS-Bench-201 official split (cifar-split.txt): weights on train (25000)")


@pytest.mark.parametrize("name, n_train, n_test, filename", [
    ("cifar100", 50_000, 10_000, "cifar100-test-split.txt"),
    ("ImageNet16-120", 151_700, 6_000, "imagenet-16-120-test-split.txt"),
])
def test_official_cifar100_and_imagenet16_use_all_training_images_and_xvalid(name, n_train, n_test, filename):
    split = BENCHMARK.search_split(_image_data(name, n_train, n_test), "bilevel", CONFIG)
    assert torch.equal(split.weights_idx, torch.arange(n_train))
    assert torch.equal(split.arch_idx, read_split(filename)["xvalid"]) and split.arch_source == "test"
    assert f"weights on all {n_train} training images, architecture on xvalid" in split.description


def test_fallbacks_are_the_seeded_stratified_split_and_say_why():
    data = _image_data("cifar10", 50_000, 10_000, official=False)
    split = BENCHMARK.search_split(data, "bilevel", CONFIG)
    stratified = datasets.search_split(data.train_y, "bilevel", 0)
    assert torch.equal(split.weights_idx, stratified.weights_idx) and split.arch_source == "train"
    assert "seeded stratified 50/50" in split.description
    assert split.description.endswith("not NAS-Bench-201's official split: the data is not official")
    portion = BENCHMARK.search_split(_image_data("cifar10", 50_000, 10_000), "bilevel",
                                     {**CONFIG, "train_portion": 0.9091})
    assert len(portion.weights_idx) == 45_455 and "differs from the official 50/50 protocol" in portion.description
    erm = BENCHMARK.search_split(_image_data("cifar10", 50_000, 10_000), "erm", CONFIG)
    assert torch.equal(erm.arch_idx, torch.arange(50_000)) and erm.description.startswith("erm: all 50000")


# -- the md5 check on files ------------------------------------------------------------------------------

def _official_imagenet16(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """An ImageNet16 folder with NB201's 6,000 validation images of classes 1..120 (the xvalid indices need them),
    declared official by giving the spec the fixture's md5s: what the check sees with the real release."""
    written = write_imagenet16(root, train_per_class=2, test_per_class=50)
    spec = datasets.get_spec("ImageNet16-120")
    md5s = tuple((f, _md5(written["folder"] / f)) for f, _ in spec.file_md5)
    monkeypatch.setitem(datasets.SPECS, "ImageNet16-120", dataclasses.replace(spec, file_md5=md5s))
    return written


def test_md5_check_decides_whether_the_official_split_applies(tmp_path, monkeypatch):
    write_imagenet16(tmp_path, train_per_class=2, test_per_class=50)
    data = datasets.load("ImageNet16-120", tmp_path)
    assert not data.official and "train_data_batch_1 has md5" in data.provenance  # the real release's md5s
    assert "not the official 27846dcaa50de8e21a7d1a35f30f0e91" in data.provenance
    fallback = BENCHMARK.search_split(data, "bilevel", CONFIG)
    assert fallback.arch_source == "train" and "seeded stratified" in fallback.description
    _official_imagenet16(tmp_path, monkeypatch)
    official = datasets.load("ImageNet16-120", tmp_path)
    assert official.official and len(official.test_y) == 6_000
    split = BENCHMARK.search_split(official, "bilevel", CONFIG)
    assert split.arch_source == "test" and torch.equal(split.arch_idx, read_split("imagenet-16-120-test-split.txt")
                                                       ["xvalid"])
    assert not datasets.load("ImageNet16-120", tmp_path, train_limit=100).official  # a subset is not the order


@pytest.mark.skipif(not (SHARED_DATA / "cifar-10-batches-py").is_dir(), reason="real CIFAR-10 subset not present")
def test_the_shared_cifar10_subset_is_not_the_official_order():
    data = datasets.load("cifar10", SHARED_DATA)
    assert not data.official and "data_batch_1 has md5" in data.provenance
    split = BENCHMARK.search_split(data, "bilevel", CONFIG)
    assert torch.equal(split.weights_idx, datasets.search_split(data.train_y, "bilevel", 0).weights_idx)
    assert "not NAS-Bench-201's official split: the data is not the official files" in split.description


# -- what the runner does with it -------------------------------------------------------------------------

def test_runner_trains_on_all_images_draws_architecture_batches_from_xvalid_and_records_the_split(
        tmp_path, monkeypatch):
    _official_imagenet16(tmp_path / "data", monkeypatch)
    oracle_dir = nb201_oracle_dir(tmp_path / "oracles")
    spec = RunSpec.create("darts", "nb201", "ImageNet16-120", "bilevel", 0, "quick",
                          {"C": 4, "N": 1, "epochs": 1, "batch_size": 32, "train_limit": None, "eval_limit": None})
    env = RunEnvironment(store=Store(tmp_path / "r.db"), data_root=tmp_path / "data", oracle_dir=oracle_dir,
                         checkpoint_dir=tmp_path / "ckpt", device=torch.device("cpu"))
    run = SearchRun(spec, env)
    assert run.steps_per_epoch == 240 // 32  # the weights' epoch: all 240 training images
    xvalid = read_split("imagenet-16-120-test-split.txt")["xvalid"]
    assert torch.equal(run.eval_set[1], run.data.test_y[xvalid])  # supernet "valid" metrics on xvalid
    assert torch.equal(run.arch_stream.indices, xvalid) and run.arch_stream.x is run.data.test_x
    assert execute(spec, env).status == "finished"
    split = env.store.runs_df().iloc[0]["split"]  # the provenance column (schema 2)
    assert split["description"].startswith("NAS-Bench-201 official split (imagenet-16-120-test-split.txt)")
    assert split["arch_source"] == "test" and split["arch_images"] == len(xvalid) and split["weights_images"] == 240


def test_runner_records_the_fallback_on_a_subset(tmp_path):
    outcome, _ = run_tiny("darts", tmp_path, epochs=1)  # train_limit=256 of the tiny CIFAR-10
    assert outcome.status == "finished", outcome.error
    split = Store(tmp_path / "results.db").runs_df().iloc[0]["split"]
    assert split["description"].startswith("seeded stratified 50/50 split of the training set (split_seed 0)")
    assert "not NAS-Bench-201's official split: the data is not the official files: a stratified subset" in \
        split["description"]
    assert split["arch_source"] == "train"


"""Writers of tiny dataset folders in the official formats, for tests of the loaders, the downloader and runs.

The CIFAR writers use bytes keys and pickle protocol 2, like the official Python-2 batches; the
ImageNet16 writer uses str keys, as the NAS-Bench-201 files read with ``encoding='latin1'``. Each writer
returns the arrays it wrote, so tests can compare pixels and labels with what the loader returns.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _images(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)


def _balanced_labels(rng: np.random.Generator, classes: list[int], per_class: int) -> np.ndarray:
    return rng.permutation(np.repeat(np.asarray(classes, dtype=np.int64), per_class))


def _dump(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(entry, protocol=2))


def _cifar_entry(data: np.ndarray, label_key: bytes, labels: np.ndarray, name: str) -> dict:
    return {
        b"batch_label": name.encode(),
        label_key: [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(data))],
    }


def write_cifar10(root: Path, train_per_class: int = 5, test_per_class: int = 2, seed: int = 0) -> dict:
    """``root/cifar-10-batches-py`` with 5 training batches and a test batch, classes balanced."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    train_y = _balanced_labels(rng, list(range(10)), train_per_class)
    train_x = _images(rng, len(train_y), 32)
    for i, (xs, ys) in enumerate(zip(np.array_split(train_x, 5), np.array_split(train_y, 5), strict=True), 1):
        _dump(folder / f"data_batch_{i}", _cifar_entry(xs, b"labels", ys, f"training batch {i} of 5"))
    test_y = _balanced_labels(rng, list(range(10)), test_per_class)
    test_x = _images(rng, len(test_y), 32)
    _dump(folder / "test_batch", _cifar_entry(test_x, b"labels", test_y, "testing batch 1 of 1"))
    return {"folder": folder, "train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def write_cifar100(root: Path, train_per_class: int = 2, test_per_class: int = 1, seed: int = 0) -> dict:
    """``root/cifar-100-python`` with ``train`` and ``test`` (fine and coarse labels) and ``meta``."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    written: dict = {"folder": folder}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _balanced_labels(rng, list(range(100)), per_class)
        data = _images(rng, len(labels), 32)
        entry = _cifar_entry(data, b"fine_labels", labels, split)
        entry[b"coarse_labels"] = [int(v) // 5 for v in labels]
        _dump(folder / split, entry)
        written[f"{split}_x"], written[f"{split}_y"] = data, labels
    _dump(folder / "meta", {b"fine_label_names": [], b"coarse_label_names": []})
    return written


def write_imagenet16(
    root: Path, dirname: str = "ImageNet16", train_per_class: int = 2, test_per_class: int = 1, seed: int = 0
) -> dict:
    """``root/<dirname>`` with ``train_data_batch_1..10`` and ``val_data``: 1-based labels over 1000 classes.

    Classes 1..120 are balanced (they make ImageNet16-120); a few images of classes 121..1000 are mixed in,
    which the loader must drop.
    """
    rng = np.random.default_rng(seed)
    folder = root / dirname
    extra = [121, 500, 1000]
    written: dict = {"folder": folder}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _balanced_labels(rng, list(range(1, 121)) + extra, per_class)
        data = _images(rng, len(labels), 16)
        written[f"{split}_x"], written[f"{split}_y"] = data, labels
    chunks = zip(np.array_split(written["train_x"], 10), np.array_split(written["train_y"], 10), strict=True)
    for i, (xs, ys) in enumerate(chunks, 1):
        mean = xs.mean(axis=0) if len(xs) else np.zeros(768)
        _dump(folder / f"train_data_batch_{i}", {"data": xs, "labels": [int(v) for v in ys], "mean": mean})
    _dump(folder / "val_data", {"data": written["test_x"], "labels": [int(v) for v in written["test_y"]]})
    return written


def make_tarball(folder: Path, tar_path: Path) -> Path:
    """A .tar.gz of ``folder`` whose members start with the folder's name, as the official archives do."""
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return tar_path


def make_evil_tarball(tar_path: Path, top: str) -> Path:
    """A .tar.gz with one member under ``top/`` and one that escapes upwards with '..'."""
    with tarfile.open(tar_path, "w:gz") as tar:
        for name in (f"{top}/data_batch_1", f"{top}/../../escaped.txt"):
            payload = b"x"
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return tar_path


#: the synthetic CIFAR-10 every test search runs on: 32 training and 10 test images per class (320 and 100)
TINY_CIFAR10 = {"train_per_class": 32, "test_per_class": 10, "seed": 0}
_ROOTS: dict[str, tempfile.TemporaryDirectory] = {}


def tiny_cifar10_root() -> Path:
    """A data root holding the tiny synthetic CIFAR-10 (``TINY_CIFAR10``), written once per test process.

    Random pixels in the official layout: searches run, learn nothing meaningful, and give the same numbers in
    every clone; the real CIFAR-10 subset stays for the loader checks that need real images.
    """
    if "cifar10" not in _ROOTS:
        _ROOTS["cifar10"] = tempfile.TemporaryDirectory(prefix="harness-tiny-cifar10-")
        write_cifar10(Path(_ROOTS["cifar10"].name), **TINY_CIFAR10)
    return Path(_ROOTS["cifar10"].name)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_directory(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` over HTTP on 127.0.0.1 from a thread: yields (base URL, the paths requested so far)."""
    requested: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            requested.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def cifar10_archive(directory: Path, **sizes: int) -> tuple[Path, str]:
    """``directory/cifar-10-python.tar.gz`` in the official layout (a tiny ``cifar-10-batches-py/``) and its md5."""
    source = write_cifar10(directory / "source", **sizes)
    tarball = make_tarball(source["folder"], directory / "cifar-10-python.tar.gz")
    return tarball, hashlib.md5(tarball.read_bytes()).hexdigest()

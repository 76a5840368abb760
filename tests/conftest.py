"""Shared test fixtures: paths to the real benchmark data beside the project (never copied into it).

Every test runs without it on synthesized data (tiny CIFAR-format sets, tables exported from the bundled
NAS-Bench-201 table, a stand-in NB301 surrogate); the checks against the real files are an extra layer that
skips when ``../shared/data`` is absent. ``HARNESS_TEST_SHARED_DATA=DIR`` points the tests at another copy (or at
an empty folder, to check that the suite is whole without the data).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(os.environ.get("HARNESS_TEST_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")

# Set before any fixture runs: module- and session-scoped fixtures (tiny runs that build stores) start
# before the autouse fixture below and must reduce in the same order as every test.
torch.set_num_threads(1)

# A suite started in the background by a non-interactive shell (`pytest ... &`, nohup) inherits SIGINT ignored,
# and so would every CLI process it spawns: Python keeps an inherited SIG_IGN, so Ctrl-C tests could not
# interrupt anything. The interrupt tests need Ctrl-C's normal disposition (KeyboardInterrupt) here and in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Same thread count in every test, so CPU kernels reduce in the same order."""
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True, scope="session")
def _harness_home(tmp_path_factory):
    """$HARNESS_HOME in a temporary folder: `harness run`'s time estimates cache there, never in the user's home."""
    import os

    previous = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(tmp_path_factory.mktemp("harness-home"))
    yield
    if previous is None:
        os.environ.pop("HARNESS_HOME", None)
    else:
        os.environ["HARNESS_HOME"] = previous


def shared_file(name: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real benchmark data {path} not present")
    return path

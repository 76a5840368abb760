"""Epoch 0 of a search: a tied ranking (GAEA's uniform simplex) is not a derived architecture.

Index order would break the tie to the all-skip cell on NB201 without ``none`` (54.30 % on CIFAR-10), which
the figures used to plot as GAEA DARTS's first derived cell.
"""

import pandas as pd
import torch

from benchmarks.nb201.space import NB201Space
from benchmarks.space import tied_decisions
from methods.relaxations import Simplex, SoftmaxLogits
from tests.smoke import run_tiny


def test_tied_decisions_counts_rows_without_a_strict_top_k():
    group = NB201Space(include_none=True).groups[0]
    scores = torch.full((group.rows, group.width), 0.2)
    assert tied_decisions(group, scores) == 6  # uniform: every row ties
    scores[0] = torch.tensor([0.1, 0.5, 0.2, 0.1, 0.1])  # strict maximum
    scores[1] = torch.tensor([0.3, 0.3, 0.2, 0.1, 0.1])  # the best two tie
    scores[2] = torch.tensor([0.1, 0.1, 0.6, 0.1, 0.1])  # ties below the top do not matter (k = 1)
    assert tied_decisions(group, scores) == 4


def test_uniform_simplex_is_tied_and_random_logits_are_not():
    space = NB201Space(include_none=False)
    assert Simplex(space).tied_decisions() == 6
    assert SoftmaxLogits(space, torch.Generator().manual_seed(0)).tied_decisions() == 0


def test_gaea_epoch0_row_has_no_architecture_and_later_rows_do(tmp_path):
    outcome, epochs = run_tiny("gaea-darts", tmp_path)
    assert outcome.status == "finished", outcome.error
    first, later = epochs.iloc[0], epochs.iloc[1:]
    assert first["epoch"] == 0
    for column in ("arch", "test_acc", "regret_test", "n_skip", "supernet_valid_acc_discrete"):
        assert pd.isna(first[column]), column
    assert first["extra"]["tied_decisions"] == 6
    assert pd.notna(first["supernet_valid_acc"]) and pd.notna(first["entropy_ops"])  # the mixture is still measured
    assert later["arch"].map(lambda a: isinstance(a, str) and a.startswith("|")).all()
    assert later["test_acc"].notna().all()


def test_darts_epoch0_row_keeps_its_architecture(tmp_path):
    """DARTS starts from 1e-3 N(0, 1) logits: its epoch-0 ranking is strict, so the cell is recorded."""
    _, epochs = run_tiny("darts", tmp_path)
    assert isinstance(epochs.iloc[0]["arch"], str)
    assert "tied_decisions" not in epochs.iloc[0]["extra"]

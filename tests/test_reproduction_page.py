"""docs/reproduction.md is a function of the committed reproduction stores: rebuilding it gives the same page,
and the claims it states are the ones `results.reports.claims` computes from those stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from results.reports.claims import nb201_claims
from results.reports.reproduction import build_page, open_read_only, read_manifest

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "results" / "reproduction" / "manifest.json"
PAGE = ROOT / "docs" / "reproduction.md"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> str:
    if not MANIFEST.exists():
        pytest.fail(f"{MANIFEST} is missing: the reproduction stores are committed with the page")
    out = tmp_path_factory.mktemp("page") / "reproduction.md"
    return build_page(MANIFEST, out, (MANIFEST.parent / "intro.md").read_text(encoding="utf-8"))


def test_the_committed_page_is_what_the_committed_stores_give(rebuilt):
    assert rebuilt == PAGE.read_text(encoding="utf-8"), "regenerate it with `harness reproduction`"


def test_every_claim_and_its_per_seed_numbers_are_on_the_page(rebuilt):
    for entry in read_manifest(MANIFEST):
        store = open_read_only(entry.store)
        for claim in nb201_claims(store.runs_df(), store.epochs_df(with_runs=False)):
            assert f"**{claim.verdict}**" in rebuilt
            for result in claim.seeds:
                assert f"seed {result.seed}: " in rebuilt

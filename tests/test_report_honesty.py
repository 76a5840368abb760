"""What reports, status and progress must never suggest: a difference from a paper for runs that did not follow
its protocol, simulated and measured seconds on one axis, a band outside the quantity's range, two series drawn
on top of each other without saying so, or a long phase of a run without any progress."""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from typer.testing import CliRunner

from benchmarks.nb201.oracle import NB201Oracle
from benchmarks.nb301.evolution import regularized_evolution
from harness.cli import app
from harness.progress import NullProgress
from harness.runner import RunEnvironment, execute
from harness.specs import RunSpec
from nasbench_errors import ConfigError
from results.reports import build_report
from results.reports.data import Variant
from results.reports.figures import AXIS_FLOORS, Series, coinciding, draw_panel
from results.reports.paper import TABLE2
from results.reports.protocol import protocol_gap
from results.store import Store
from results.summary import MEASURED, SIMULATED, final_rows, seconds_kind, time_label
from tests.dataset_fixtures import tiny_cifar10_root
from tests.report_fixtures import small_store
from tests.smoke import TINY, nb201_oracle_dir

REA_PAPER = next(r for r in TABLE2 if r.label == "REA")
DATASETS = ("CIFAR-10", "CIFAR-100", "ImageNet-16-120")


def _variant(profile: str = "paper", overrides: tuple[str, ...] = (), budget: str = "hp200",
             benchmark: str = "nb201") -> Variant:
    return Variant(benchmark, "darts", "bilevel", profile, "hash", method_version=1, benchmark_version=1, epochs=50,
                   budget=budget, overrides=overrides)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- 1. a difference from the paper only for the paper's protocol ------------------------------------
def test_the_protocol_rule_names_every_departure():
    assert protocol_gap(_variant()) is None
    assert protocol_gap(_variant("quick")) == "quick profile"
    assert protocol_gap(_variant("quick", ("epochs=10",))) == "quick+set profile"
    assert protocol_gap(_variant(overrides=("epochs=10", "train_limit=2000"))) == "--set epochs, train_limit"
    assert protocol_gap(_variant(overrides=("bf16=true",))) == "--set bf16"  # bfloat16 changes the numbers
    assert protocol_gap(_variant(overrides=("channels_last=true",))) is None  # memory layout only
    assert protocol_gap(_variant(budget="hp12")) == "12-epoch table"
    assert protocol_gap(_variant("quick", budget="hp12")) == "quick profile, 12-epoch table"
    assert protocol_gap(_variant(benchmark="nb1shot1", budget="e108")) is None  # its only table


@pytest.fixture(scope="module")
def blackbox_store(tmp_path_factory) -> Path:
    """REA on NB201 CIFAR-10: the paper profile (seeds 0, 1), the quick profile and the paper profile with a
    changed time budget (seed 0 each). Seconds per run: black-box runs read the tables alone."""
    root = tmp_path_factory.mktemp("blackbox")
    oracle_dir = nb201_oracle_dir(root / "oracles")  # the bundled table holds the 12-epoch and cost tables
    store = Store(root / "results.db")
    env = RunEnvironment(store, tiny_cifar10_root(), oracle_dir, root / "ckpt", torch.device("cpu"))
    for seed, profile, overrides in ((0, "paper", {}), (1, "paper", {}), (0, "quick", {}),
                                     (0, "paper", {"time_budget": 24000})):
        spec = RunSpec.create("rea", "nb201", "cifar10", "bilevel", seed, profile, overrides)
        assert execute(spec, env).status == "finished"
    return root


@pytest.fixture(scope="module")
def blackbox_report(blackbox_store, tmp_path_factory):
    oracle = NB201Oracle.open(NB201Oracle.default_path(blackbox_store / "oracles"))
    return build_report(Store(blackbox_store / "results.db", create=False), tmp_path_factory.mktemp("bb"), oracle)


def test_table2_shows_a_difference_only_for_the_papers_protocol(blackbox_store, blackbox_report):
    rows = [r for r in _csv(blackbox_report.out / "tables" / "gaea_table2_nb201.csv") if r["Method"] == "REA"]
    by_runs = {r["Ours: runs"].split(" · ")[0]: r for r in rows}
    assert set(by_runs) == {"paper", "quick", "paper+set"}
    store = Store(blackbox_store / "results.db", create=False)
    runs = store.runs_df()
    paper_ids = set(runs[(runs["profile"] == "paper") & runs["config"].map(lambda c: c["time_budget"] == 12000)]
                    ["run_id"])
    lookups = store.lookups_df(run_ids=sorted(paper_ids))
    last = lookups[(lookups["epoch"] == lookups["epoch"].max()) & (lookups["split"] == "test")
                   & (lookups["budget"] == "hp200") & (lookups["stat"] == "mean")]
    for ds, title, quoted in zip(("cifar10", "cifar100", "ImageNet16-120"), DATASETS, REA_PAPER.acc, strict=True):
        ours = last[last["dataset"] == ds]["value"].to_numpy()
        assert len(ours) == 2
        assert float(by_runs["paper"][f"{title} Δ"]) == pytest.approx(ours.mean() - quoted.mean, abs=1e-5)
        assert by_runs["quick"][f"{title} Δ"] == "not comparable: quick profile"
        assert by_runs["paper+set"][f"{title} Δ"] == "not comparable: --set time_budget"
    markdown = (blackbox_report.out / "tables" / "gaea_table2_nb201.md").read_text(encoding="utf-8")
    assert markdown.count("not comparable: quick profile") == 3


def test_the_overview_says_which_runs_follow_the_papers_protocol(blackbox_report):
    rows = _csv(blackbox_report.out / "tables" / "overview.csv")
    ours = [r for r in rows if r["Runs"] != "quoted"]
    assert sorted(r["Paper protocol"] for r in ours) == ["no: --set time_budget", "no: quick profile", "paper"]
    # the paper's own number is a reference row beside them, not a run that followed or left its protocol
    (quoted,) = [r for r in rows if r["Runs"] == "quoted"]
    assert "(quoted: GAEA" in quoted["Method"] and quoted["Paper protocol"] == ""


# -- 2. simulated and measured seconds never share a column or an axis --------------------------------
def test_seconds_kinds_and_their_labels():
    assert seconds_kind({"simulated_seconds": 12.0, "evaluations": 3.0}) == SIMULATED
    assert seconds_kind({"lr_w": 0.025}) == MEASURED and seconds_kind(None) == MEASURED
    assert time_label(SIMULATED).startswith("simulated training seconds")
    assert time_label(MEASURED, ["cpu (x86_64, 1 threads)", "cpu (x86_64, 1 threads)"]) == \
        "measured wall-clock seconds on cpu (x86_64, 1 threads)"


def test_status_keeps_simulated_and_measured_seconds_apart(tmp_path_factory):
    small = small_store(tmp_path_factory)
    result = CliRunner().invoke(app, ["status", "--store", str(small.store)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "method" in line and "wall s" in line)
    columns = [c.strip() for c in re.split(r"[┃│]", header)[1:-1]]
    assert columns[4] == "profile" and columns[-2:] == ["wall s", "sim. s"]
    final = final_rows(Store(small.store, create=False)).set_index(["method", "seed"])
    for line in result.output.splitlines():
        cells = [c.strip() for c in re.split(r"[┃│]", line)[1:-1]]
        if len(cells) != len(columns) or cells[0] not in ("darts", "gaea-darts", "rea"):
            continue
        seconds = final.loc[(cells[0], int(cells[3])), "search_seconds"]
        measured, simulated = cells[-2:]
        assert cells[4] == "quick+set"
        if cells[0] == "rea":
            assert measured == "-" and simulated == f"{seconds:.0f}" and float(simulated) > 1000
        else:
            assert simulated == "-" and measured == f"{seconds:.0f}"
    devices = ", ".join(sorted(set(final.loc[["darts", "gaea-darts"], "device"])))
    assert f"wall s: measured wall-clock seconds on {devices}" in result.output
    assert "sim. s: simulated training seconds" in result.output


def test_status_says_why_a_run_stopped_after_epoch_0_has_no_cell(tmp_path_factory, tmp_path):
    """A search stopped after its epoch 0 has no cell to show yet: "-" in the table, the reason in place of the
    architecture, never "nan"."""
    small = small_store(tmp_path_factory)
    with closing(sqlite3.connect(small.store)) as src, closing(sqlite3.connect(tmp_path / "results.db")) as dst:
        src.backup(dst)  # the rows still in the source's write-ahead log too
    store = Store(tmp_path / "results.db")
    runs = store.runs_df().set_index(["method", "seed"])["run_id"]
    stopped = {"gaea-darts": "no cell derived: 6 tied decisions before any architecture step",
               "rea": "no cell evaluated yet"}
    for method in stopped:
        store.set_status(runs[(method, 0)], "running")
        store.delete_epochs_after(runs[(method, 0)], 0)
    final = final_rows(store).set_index(["method", "seed"])
    assert final["no_cell"].dropna().to_dict() == {(m, 0): why for m, why in stopped.items()}
    assert final["arch"].isna().sum() == 2 and final["arch"].map(lambda a: a is None or isinstance(a, str)).all()
    result = CliRunner().invoke(app, ["status", "--store", str(tmp_path / "results.db"), "-v"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output.lower()
    header = next(line for line in result.output.splitlines() if "method" in line and "wall s" in line)
    columns = [c.strip() for c in re.split(r"[┃│]", header)[1:-1]]
    for method, why in stopped.items():
        run_id = runs[(method, 0)]
        assert f"{run_id}  {why}" in result.output
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("│ " + run_id[:8])]
        cells = dict(zip(columns, (c.strip() for c in re.split(r"[┃│]", line)[1:-1]), strict=True))
        assert cells["epoch"] == "0" and cells["test acc"] == cells["regret"] == cells["skip"] == "-"


def test_the_overview_puts_simulated_and_measured_seconds_in_separate_columns(tmp_path_factory, tmp_path):
    small = small_store(tmp_path_factory)
    report = build_report(Store(small.store, create=False), tmp_path / "report")
    rows = {r["Method"]: r for r in _csv(report.out / "tables" / "overview.csv")}
    rea, darts = rows["REA (regularized evolution, black-box)"], rows["DARTS (bilevel)"]
    assert rea["Search wall-clock (s) mean"] == "" and float(rea["Simulated training (s) mean"]) > 1000
    assert darts["Simulated training (s) mean"] == "" and float(darts["Search wall-clock (s) mean"]) > 0
    assert darts["Device"].startswith("cpu (") and rea["Device"] == ""


# -- 3. bands stay inside the quantity's range; 4. coinciding series are visible -----------------------
def _band_limits(ax) -> tuple[float, float]:
    ys = np.concatenate([p.vertices[:, 1] for c in ax.collections for p in c.get_paths()])
    return float(ys.min()), float(ys.max())


def test_bands_span_the_seeds_and_never_leave_the_range():
    # entropies near 0 with a large spread: mean - std would be -0.17 nats at epoch 1
    rows = pd.DataFrame({"run_id": list("abcabc"), "epoch": [0, 0, 0, 1, 1, 1],
                         "entropy_ops": [1.386, 1.386, 1.386, 0.0, 0.0, 1.2]})
    at_1 = rows[rows.epoch == 1].entropy_ops
    assert at_1.mean() - at_1.std(ddof=0) == pytest.approx(-0.166, abs=1e-3)
    ax = Figure().subplots()
    draw_panel(ax, [Series("GAEA", rows)], "entropy_ops", "t", "entropy")
    low, high = _band_limits(ax)
    assert low == pytest.approx(0.0) and high == pytest.approx(1.386)
    assert ax.get_ylim()[0] == AXIS_FLOORS["entropy_ops"] == 0.0
    assert ax.get_legend().get_title().get_text() == "line: mean over seeds; band: min-max over seeds"
    # a surrogate's regret can be negative (a cell better than the optimum the import found): not cut off
    below = pd.DataFrame({"run_id": ["a", "b"], "epoch": [0, 0], "regret_valid": [-0.5, 1.0]})
    ax = Figure().subplots()
    draw_panel(ax, [Series("PC-DARTS", below)], "regret_valid", "t", "regret")
    assert ax.get_ylim()[0] < -0.5


def test_the_figures_of_a_store_keep_every_band_in_range(tmp_path_factory):
    small = small_store(tmp_path_factory)
    from results.reports.data import ReportData
    from results.reports.figures import SPECS, _series

    data = ReportData(Store(small.store, create=False))
    checked = 0
    for spec in SPECS:
        for panel in spec.panels(data):
            series = _series(data, spec, panel)
            if not series:
                continue
            ax = Figure().subplots()
            draw_panel(ax, series, spec.column, panel.title, spec.ylabel)
            values = pd.concat([s.rows[spec.column] for s in series]).dropna()
            low, high = _band_limits(ax)
            assert low >= max(0.0, values.min()) - 1e-9 and high <= values.max() + 1e-9
            checked += 1
    assert checked >= 2


def test_coinciding_curves_are_detected_within_the_tolerance():
    def c(means):
        return pd.DataFrame({"epoch": range(len(means)), "mean": means})

    curves = [c([1.0, 0.5]), c([1.0, 0.5]), c([1.0, 0.505]), c([1.0, 0.9]), c([1.0, 0.9]), c([1.0])]
    assert coinciding(curves, tolerance=0.01) == [[0, 1, 2], [3, 4]]
    assert coinciding(curves, tolerance=0.001) == [[0, 1], [3, 4]]
    assert coinciding([c([1.0, 0.5]), c([1.0])], tolerance=1.0) == []  # different epochs: both visible


def test_coinciding_series_are_drawn_apart_and_named_in_the_legend():
    same = pd.DataFrame({"run_id": ["a", "a"], "epoch": [0, 1], "entropy_ops": [1.386, 1.386]})
    other = same.assign(entropy_ops=[1.386, 0.7])
    ax = Figure().subplots()
    draw_panel(ax, [Series("DARTS · quick · n=1", same), Series("GAEA DARTS · quick · n=1", same),
                    Series("XNAS · quick · n=1", other)], "entropy_ops", "t", "entropy")
    lines = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert lines[0].get_linestyle() == "-" and lines[1].get_linestyle() != "-"  # dashes show the one below
    assert lines[2].get_linestyle() == "-"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "same curve: DARTS = GAEA DARTS" in texts


# -- 5. progress for every long phase -------------------------------------------------------------------
class Recorder(NullProgress):
    """What a run shows: when its bar starts, and each phase with its total and the ticks it received."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.ticks: list[int] = []

    def start_run(self, label: str, total_steps: int, completed: int = 0) -> None:
        self.events.append("start_run")

    @contextmanager
    def phase(self, text: str, total: int | None = None) -> Iterator[Callable[[], None]]:
        self.events.append(f"phase {text} / {total}")
        count = [0]
        yield lambda: count.__setitem__(0, count[0] + 1)
        self.ticks.append(count[0])


def test_a_run_shows_progress_while_it_loads_data_and_evaluates(tmp_path):
    recorder = Recorder()
    oracle_dir = nb201_oracle_dir(tmp_path / "oracles")
    env = RunEnvironment(Store(tmp_path / "r.db"), tiny_cifar10_root(), oracle_dir, tmp_path / "ckpt",
                         torch.device("cpu"), progress=recorder)
    spec = RunSpec.create("darts", "nb201", "cifar10", "bilevel", 0, "quick", {**TINY, "epochs": 1})
    assert execute(spec, env).status == "finished"
    passes = 2 * -(-TINY["eval_limit"] // TINY["batch_size"])  # two passes over the held-out images
    evaluating = "phase epoch {}: evaluating the supernet (mixture, then derived cell) / " + str(passes)
    # the run's bar starts before epoch 0's evaluation, which alone can take many minutes at the paper profile
    assert recorder.events == [f"phase {spec.label}: loading cifar10 / None", "start_run", evaluating.format(0),
                               evaluating.format(1)]
    assert recorder.ticks == [0, passes, passes]  # every evaluation batch advances its bar


def test_the_nb301_evolution_reports_its_progress():
    seen: list[tuple[int, float]] = []
    found = regularized_evolution(lambda gs: np.arange(len(gs), dtype=float), budget=300, seed=0, population=50,
                                  sample=10, children=25, on_queries=lambda done, best: seen.append((done, best)))
    assert [d for d, _ in seen] == list(range(50, 301, 25)) and found.queries == 300
    assert all(b1 <= b2 for (_, b1), (_, b2) in zip(seen, seen[1:], strict=False))


def test_report_building_reports_each_step(tmp_path_factory, tmp_path):
    small = small_store(tmp_path_factory)
    steps: list[tuple[str, int, int]] = []
    build_report(Store(small.store, create=False), tmp_path / "r", progress=lambda *a: steps.append(a))
    assert steps[0] == ("reading the store", 0, 7) and steps[-1] == ("done", 7, 7)
    assert [d for _, d, _ in steps] == list(range(8))


# -- 6. reports restricted to a profile and methods -------------------------------------------------------
def test_a_report_restricted_to_a_profile_and_methods(blackbox_store, tmp_path):
    store = Store(blackbox_store / "results.db", create=False)
    report = build_report(store, tmp_path / "r", profile="quick", methods=["rea"])
    rows = _csv(report.out / "tables" / "overview.csv")
    assert [r["Runs"].split(" · ")[0] for r in rows] == ["quick", "quoted"]  # REA's runs and its paper's number
    assert report.missing == []  # the quick REA run is all that REA's items need
    page = report.index.read_text(encoding="utf-8")
    assert "<th>selection</th><td>profile quick; methods rea</td>" in page
    # no run of another method: nothing but REA is asked for
    nothing = build_report(store, tmp_path / "none", methods=["darts"])
    assert _csv(nothing.out / "tables" / "overview.csv") == []
    assert {m.command.split("--methods ")[1].split()[0] for m in nothing.missing if m.command} == {"darts"}
    assert all(m.cpu_command and "--profile quick" in m.cpu_command for m in nothing.missing if m.command)


def test_the_report_command_filters_and_rejects_unknown_names(blackbox_store, tmp_path):
    cli = CliRunner()
    store = str(blackbox_store / "results.db")
    ok = cli.invoke(app, ["report", "--store", store, "--out", str(tmp_path / "r"), "--profile", "paper",
                          "--methods", "rea", "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert {r["Runs"].split(" · ")[0] for r in _csv(tmp_path / "r" / "tables" / "overview.csv")} == {
        "paper", "paper+set", "quoted"}  # no quick run; REA's paper number as its reference row
    bad_profile = cli.invoke(app, ["report", "--store", store, "--out", str(tmp_path / "x"), "--profile", "fast"])
    assert isinstance(bad_profile.exception, ConfigError) and "unknown profile 'fast'" in str(bad_profile.exception)
    bad_method = cli.invoke(app, ["report", "--store", store, "--out", str(tmp_path / "x"), "--methods", "nope"])
    assert isinstance(bad_method.exception, ConfigError)

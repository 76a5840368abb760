"""Reports from a store of real quick-profile runs (tests/report_fixtures.py).

Every number the report shows is recomputed here straight from the SQLite file (not through the
report's pandas code), the quoted paper numbers are compared with the spec's verbatim transcription,
and index.html is rendered in headless Chromium.
"""

from __future__ import annotations

import contextlib
import csv
import html
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from typer.testing import CliRunner

from benchmarks.nb201.oracle import BUNDLED, NB201Oracle
from benchmarks.nb201.space import NB201Arch
from harness.cli import app
from methods.registry import registry
from nasbench_errors import OracleError, StoreError
from results.reports import build_report
from results.reports.data import ReportData, Stat, curve, value_at_time
from results.reports.figures import Series, draw_panel
from results.reports.labels import method_label
from results.reports.paper import OPTIMAL, RESNET, RESNET_LIKE_CELL, TABLE2
from results.reports.render import Column, ReportTable, to_csv, to_latex, to_markdown
from results.store import Store
from tests.conftest import SHARED_DATA
from tests.report_fixtures import small_store

SPEC = SHARED_DATA.parent / "spec" / "seeds-spec.md"
TRANSFER = "Weight sharing, search on CIFAR-10 (transfer)"
DIRECT = "Weight sharing, direct search"
DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "ImageNet16-120": "ImageNet-16-120"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return small_store(tmp_path_factory)


@pytest.fixture(scope="module")
def report(small, tmp_path_factory):
    oracle = NB201Oracle.open(NB201Oracle.default_path(small.oracle_dir))
    return build_report(Store(small.store, create=False), tmp_path_factory.mktemp("report"), oracle)


# -- independent readers: plain SQL on the SQLite file ----------------------------------------------
FINAL = "(SELECT MAX(e2.epoch) FROM epochs e2 WHERE e2.run_id = r.run_id)"


def _sql(db: Path, query: str, *args) -> np.ndarray:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return np.array([row[0] for row in con.execute(query, args)], dtype=np.float64)


def _transfer(db: Path, method: str, setting: str, target: str) -> np.ndarray:
    return _sql(db, "SELECT l.value FROM runs r JOIN lookups l ON l.run_id = r.run_id WHERE r.method = ? AND "
                f"r.setting = ? AND r.dataset = 'cifar10' AND r.status = 'finished' AND l.epoch = {FINAL} AND "
                "l.dataset = ? AND l.split = 'test' AND l.budget = 'hp200' AND l.stat = 'mean' ORDER BY r.seed",
                method, setting, target)


def _final(db: Path, method: str, setting: str, column: str) -> np.ndarray:
    return _sql(db, f"SELECT e.{column} FROM runs r JOIN epochs e ON e.run_id = r.run_id WHERE r.method = ? AND "
                f"r.setting = ? AND r.status = 'finished' AND e.epoch = {FINAL} ORDER BY r.seed", method, setting)


def _run_column(db: Path, method: str, setting: str, column: str) -> np.ndarray:
    return _sql(db, f"SELECT {column} FROM runs r WHERE method = ? AND setting = ? AND status = 'finished' "
                "ORDER BY seed", method, setting)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _row(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def _approx_stat(row: dict[str, str], header: str, values: np.ndarray, abs_tol: float = 1e-5) -> None:
    assert float(row[f"{header} mean"]) == pytest.approx(values.mean(), abs=abs_tol)
    assert float(row[f"{header} std"]) == pytest.approx(values.std(), abs=abs_tol)


# -- GAEA Table 2 -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("label", "method", "setting", "paper"), [
    ("DARTS [†] (bilevel)", "darts", "bilevel", (54.30, 15.32, 16.38)),
    ("GAEA DARTS (ERM)", "gaea-darts", "erm", (94.10, 72.60, 45.81)),
])
def test_table2_transfer_rows_recompute_from_the_store(small, report, label, method, setting, paper):
    row = _row(_csv(report.out / "tables" / "gaea_table2_nb201.csv"), block=TRANSFER, Method=label)
    assert row["Ours: runs"] == "quick+set · 2 ep · hp200" and row["Seeds"] == "2"
    for (dataset, title), quoted in zip(DATASETS.items(), paper, strict=True):
        values = _transfer(small.store, method, setting, dataset)
        assert len(values) == 2
        _approx_stat(row, f"{title} (test)", values)
        assert float(row[f"{title}, paper mean"]) == quoted
        # tiny quick-profile searches: no difference from the paper but the reason
        # (tests/test_report_honesty.py checks the number for paper-profile runs)
        assert row[f"{title} Δ"] == "not comparable: quick+set profile"
    _approx_stat(row, "Search (s)", _run_column(small.store, method, setting, "search_seconds"), abs_tol=1e-3)
    markdown = (report.out / "tables" / "gaea_table2_nb201.md").read_text()
    c10 = _transfer(small.store, method, setting, "cifar10")
    assert f"{c10.mean():.2f} ± {c10.std():.2f}" in markdown


def test_table2_direct_block_uses_each_runs_own_dataset(small, report):
    row = _row(_csv(report.out / "tables" / "gaea_table2_nb201.csv"), block=DIRECT, Method="DARTS [‡] (bilevel)")
    _approx_stat(row, "CIFAR-10 (test)", _final(small.store, "darts", "bilevel", "test_acc"))
    assert row["Seeds"] == "2 / – / –"  # searched on CIFAR-10 only: the other columns are missing, not zero
    assert row["CIFAR-100 (test) mean"] == "" and row["CIFAR-100, paper mean"] == "15.320000"


def test_table2_rows_without_runs_keep_the_paper_numbers(report):
    rows = _csv(report.out / "tables" / "gaea_table2_nb201.csv")
    row = _row(rows, block=TRANSFER, Method="GAEA DARTS (bilevel)")
    assert row["Ours: runs"] == "" and row["CIFAR-10 (test) mean"] == "" and row["CIFAR-10 Δ"] == ""
    assert row["CIFAR-10, paper mean"] == "91.630000" and row["Search (s), paper"] == "7930 †"
    assert _row(rows, Method="REA")["block"] == "Regular HO, search on CIFAR-10"


def test_table2_reference_rows_come_from_the_oracle_and_the_paper(report):
    rows = _csv(report.out / "tables" / "gaea_table2_nb201.csv")
    optimal = _row(rows, Method="Optimal (ours: oracle)")
    for title, quoted in zip(DATASETS.values(), (94.37, 73.51, 47.31), strict=True):
        assert float(optimal[f"{title} (test) mean"]) == pytest.approx(quoted, abs=0.005)
        assert float(optimal[f"{title}, paper mean"]) == quoted
    # the ResNet-like cell's values, read from the benchmark table itself
    table, cell = NB201Oracle.open(BUNDLED), NB201Arch.from_string(RESNET_LIKE_CELL).index
    resnet = _row(rows, Method="ResNet (quoted; ours: ResNet-like cell, oracle)")
    for ds, title in DATASETS.items():
        assert float(resnet[f"{title} (test) mean"]) == pytest.approx(table.query(cell, ds, "test"), abs=1e-3)
        assert resnet[f"{title} Δ"] == ""  # a hand-designed network and a cell are not compared
    assert [float(resnet[f"{t}, paper mean"]) for t in DATASETS.values()] == [93.97, 70.86, 43.63]


def _spec_table2() -> list[list[str]]:
    """Rows of GAEA Table 2 as the spec transcribes it (block carried down), bold marks removed."""
    if not SPEC.exists():
        pytest.skip(f"spec {SPEC} not present")
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("#### Table 2 [P]"):text.index("Notes for the harness")]
    rows, block = [], ""
    for line in section.splitlines():
        cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or cells[0] == "block":
            continue  # the separator line starts with "|---", the header with "| block"
        block = cells[0] or block
        rows.append([block, *cells[1:]])
    return rows


def test_quoted_table2_matches_the_spec_transcription():
    ours = [*TABLE2, RESNET, OPTIMAL]
    spec = _spec_table2()
    assert len(spec) == len(ours) == 20
    blocks = {"Regular HO, search on CIFAR-10": "hpo", "Weight sharing, search on CIFAR-10": "transfer",
              "Weight sharing, direct search": "direct", "reference": "reference"}
    for (block, label, search, *accs), row in zip(spec, ours, strict=True):
        assert (blocks[block], label) == (row.block, row.label)
        assert search.replace("[", "").replace("]", "") == row.search_seconds
        for text, quoted in zip(accs, row.acc, strict=True):
            mean, _, std = text.partition(" ± ")
            assert (float(mean), float(std) if std else None) == (quoted.mean, quoted.std)


# -- the overview table -----------------------------------------------------------------------------
@pytest.mark.parametrize(("label", "method", "setting"), [("DARTS (bilevel)", "darts", "bilevel"),
                                                          ("GAEA DARTS (ERM)", "gaea-darts", "erm")])
def test_overview_recomputes_from_the_store(small, report, label, method, setting):
    row = _row(_csv(report.out / "tables" / "overview.csv"), Method=label, Dataset="cifar10")
    assert (row["Benchmark"], row["Seeds"], row["Failed"]) == ("nb201", "0, 1", "0")
    for header, column in (("Final test regret (pp)", "regret_test"), ("Final test acc. (%)", "test_acc"),
                           ("Final entropy (nats)", "entropy_ops"), ("Skip connections", "n_skip")):
        _approx_stat(row, header, _final(small.store, method, setting, column))
    _approx_stat(row, "Search wall-clock (s)", _run_column(small.store, method, setting, "search_seconds"),
                 abs_tol=1e-3)
    assert row["Simulated training (s) mean"] == "" and row["Paper protocol"] == "no: quick+set profile"


def test_overview_shows_the_quoted_numbers_beside_ours(report):
    rows = _csv(report.out / "tables" / "overview.csv")
    methods = [r["Method"] for r in rows]
    # GAEA Table 2's direct-search rows follow our runs of the same method and setting, dataset by dataset
    ours = methods.index("DARTS (bilevel)")
    quoted = _row(rows, Method="DARTS (bilevel) (quoted: GAEA (Li et al., ICLR 2021), Table 2, DARTS [‡] "
                               "(bilevel): Weight sharing, direct search)", Dataset="cifar10")
    assert methods.index(quoted["Method"]) == ours + 1
    assert (quoted["Runs"], quoted["Final test acc. (%) mean"], quoted["Final test acc. (%) std"]) == (
        "quoted", "54.300000", "0.000000")
    assert quoted["Seeds"] == quoted["Final test regret (pp) mean"] == ""  # nothing of ours in a quoted row
    gaea = _row(rows, Method="GAEA DARTS (ERM) (quoted: GAEA (Li et al., ICLR 2021), Table 2, GAEA DARTS (ERM): "
                             "Weight sharing, direct search)", Dataset="cifar10")
    assert float(gaea["Final test acc. (%) mean"]) == next(r for r in TABLE2 if r.label == "GAEA DARTS (ERM)"
                                                         and r.block == "direct").acc[0].mean
    assert all("quoted: " in m for m in methods if "quoted" in m)
    page = report.index.read_text(encoding="utf-8")
    assert html.escape("GAEA DARTS (ERM) (quoted: GAEA (Li et al., ICLR 2021), Table 2") in page


def test_a_methods_own_paper_numbers_are_reference_rows():
    from methods.enas import NB201_SOURCE
    from results.reports.data import Variant
    from results.reports.overview import _quoted_rows
    from results.reports.paper import reference_quotes

    quotes = reference_quotes("enas", "bilevel", "nb201", "cifar100")
    assert [(q.mean, q.std, q.source) for q in quotes] == [(15.61, None, NB201_SOURCE)]
    assert reference_quotes("enas", "bilevel", "nb301", "cifar10") == []
    variant = Variant("nb201", "enas", "bilevel", "quick", "h", method_version=1, benchmark_version=1, epochs=3,
                      budget="hp200")
    (row,) = _quoted_rows(variant, "ImageNet16-120")
    assert row["method"] == f"ENAS (LSTM controller + shared weights) (quoted: {NB201_SOURCE})"
    assert row["acc"].mean == 16.32 and row["runs"] == "quoted"
    # a baseline's Table 2 rows come from TABLE2 itself (one source): RSPS only has a transfer row
    (rsps,) = reference_quotes("rs-ws", "bilevel", "nb201", "cifar100")
    assert rsps.mean == 58.33 and "search on CIFAR-10 (transfer)" in rsps.source


def test_learning_curves_are_per_epoch_means_over_seeds(small):
    data = ReportData(Store(small.store, create=False))
    rows = data.epochs[data.epochs["variant"].map(lambda v: (v.method, v.setting)) == ("gaea-darts", "erm")]
    got = curve(rows, "test_acc")
    assert 0 not in set(got["epoch"])  # GAEA's uniform start derives no cell: its curve starts at epoch 1
    for epoch in (1, 2):
        values = _sql(small.store, "SELECT e.test_acc FROM runs r JOIN epochs e ON e.run_id = r.run_id "
                      "WHERE r.method = 'gaea-darts' AND e.epoch = ?", epoch)
        at = got[got["epoch"] == epoch].iloc[0]
        assert (at["mean"], at["std"], at["n"]) == (pytest.approx(values.mean()), pytest.approx(values.std()), 2)


# -- figures, missing items, determinism, the page --------------------------------------------------
def test_figures_with_runs_are_written_as_png_and_pdf(report):
    for name in ("fig1_entropy", "fig4_nb201_darts_gaea"):
        png, pdf = report.figures[name]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    # no 1Shot1 or XNAS runs in this store: no empty figure, an entry under the missing items instead
    assert report.figures["fig2_1shot1_regret"] == [] and report.figures["fig5_nb201_xnas"] == []
    items = {m.item for m in report.missing}
    assert {"Figure 2, search space 1", "Figure 5"} <= items
    assert not (report.out / "figures" / "fig5_nb201_xnas.png").exists()


def _command(store: Path, methods: str, datasets: str, setting: str | None = None) -> str:
    setting_part = f" --setting {setting}" if setting else ""
    return (f"harness run --methods {methods} --benchmark nb201 --dataset {datasets}{setting_part} --seeds 4 "
            f"--profile paper --store {shlex.quote(str(store))}")


def test_missing_items_carry_the_exact_run_command(small, report):
    commands = {m.item: m.command for m in report.missing}
    expected = {
        "Table 2: DARTS (bilevel)": _command(small.store, "darts", "cifar100,ImageNet16-120", "bilevel"),
        "Table 2: GAEA DARTS (bilevel)": _command(small.store, "gaea-darts", "cifar10,cifar100,ImageNet16-120",
                                                  "bilevel"),
        "Figure 1, NB201 panel": _command(small.store, "gaea-darts", "cifar10", "bilevel"),
        "Figure 4": _command(small.store, "darts,gaea-darts", "cifar100,ImageNet16-120"),
    }
    for item, command in expected.items():
        assert commands[item] == command
    if "xnas" in registry():
        assert commands["Figure 5"] == _command(small.store, "xnas", "cifar10,cifar100,ImageNet16-120")
    page = report.index.read_text(encoding="utf-8")
    listing = (report.out / "missing.md").read_text(encoding="utf-8")
    for command in expected.values():
        assert html.escape(command) in page and command in listing
    # the command is one the CLI accepts: a dry run lists the 2 datasets x 4 seeds it would search
    result = CliRunner().invoke(app, [*shlex.split(expected["Table 2: DARTS (bilevel)"])[1:], "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "8 runs requested" in result.output


def test_the_report_is_deterministic(small, report, tmp_path):
    oracle = NB201Oracle.open(NB201Oracle.default_path(small.oracle_dir))
    again = build_report(Store(small.store, create=False), tmp_path / "again", oracle)
    files = [p.relative_to(report.out) for p in sorted(report.out.rglob("*")) if p.suffix in {".md", ".tex", ".csv"}]
    assert len(files) == 7  # two tables x 3 formats, and missing.md
    for rel in [*files, Path("index.html")]:
        assert (again.out / rel).read_bytes() == (report.out / rel).read_bytes(), rel
    assert all(p.stat().st_size > 0 for files in again.figures.values() for p in files)


def test_index_html_links_every_item_and_shows_run_metadata(report):
    page = report.index.read_text(encoding="utf-8")
    for table in ("gaea_table2_nb201", "overview"):
        assert f'<table id="{table}"' in page
        for suffix in (".md", ".tex", ".csv"):
            assert f'href="tables/{table}{suffix}"' in page
    for files in report.figures.values():
        for path in files:
            assert f'"{path.relative_to(report.out).as_posix()}"' in page
    assert 'class="sortable"' in page and "profiles</th><td>quick" in page
    assert "seeds</th><td>DARTS (bilevel) · nb201 · quick+set · 2 ep · hp200: 0, 1;" in page
    assert '"torch": "' in html.unescape(page) and "cpu" in page


def test_index_html_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install -y chromium)")
    shot = tmp_path / "page.png"
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                             "--window-size=1400,4000", f"--screenshot={shot}", report.index.as_uri()],
                            capture_output=True, text=True, timeout=120)
    assert shot.exists(), result.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert (pixels.min(axis=2) < 0.9).mean() > 0.02  # text and tables, not a blank page
    # the figures were loaded: seaborn's colorblind orange (GAEA DARTS's line) only occurs in them
    orange = np.abs(pixels - np.array([0.871, 0.561, 0.020])).max(axis=2) < 0.06
    assert orange.sum() > 200


def test_an_empty_store_gives_the_paper_table_and_every_command(tmp_path):
    empty = build_report(Store(tmp_path / "empty.db"), tmp_path / "report")
    assert all(files == [] for files in empty.figures.values())
    commands = {m.item: m.command for m in empty.missing}
    assert commands["Table 2: GAEA DARTS (ERM)"] == _command(tmp_path / "empty.db", "gaea-darts",
                                                             "cifar10,cifar100,ImageNet16-120", "erm")
    rows = _csv(empty.out / "tables" / "gaea_table2_nb201.csv")
    optimal = _row(rows, Method="Optimal (ours: oracle)")  # no oracle and no run: nothing to show
    assert optimal["CIFAR-10 (test) mean"] == "" and optimal["CIFAR-10, paper mean"] == "94.370000"
    assert _csv(empty.out / "tables" / "overview.csv") == []
    assert "<th>runs</th><td>none</td>" in empty.index.read_text(encoding="utf-8")


# -- the command ------------------------------------------------------------------------------------
def test_report_command_writes_the_report(small, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--store", str(small.store), "--out", str(out),
                                      "--oracle-dir", str(small.oracle_dir)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").exists() and "report written to" in result.output
    assert "harness run --methods darts --benchmark nb201 --dataset cifar100,ImageNet16-120" in result.output


def test_report_command_rejects_a_missing_store_or_oracle(small, tmp_path):
    cli = CliRunner()
    missing_store = cli.invoke(app, ["report", "--store", str(tmp_path / "none.db"), "--out", str(tmp_path / "r")])
    assert isinstance(missing_store.exception, StoreError) and "no results store" in str(missing_store.exception)
    missing_oracle = cli.invoke(app, ["report", "--store", str(small.store), "--out", str(tmp_path / "r"),
                                      "--oracle-dir", str(tmp_path / "no-oracles")])
    assert isinstance(missing_oracle.exception, OracleError)


# -- units ------------------------------------------------------------------------------------------
def test_method_labels_follow_the_papers():
    assert method_label("darts", "bilevel") == "DARTS (bilevel)"
    assert method_label("darts", "erm") == "DARTS (ERM)"
    assert method_label("gaea-darts", "erm") == "GAEA DARTS (ERM)"
    assert method_label("gaea-darts", "bilevel") == "GAEA DARTS (bilevel)"
    assert method_label("not-registered", "erm") == "not-registered (ERM)"
    single = next((e for e in registry().values() if len(e.settings) == 1), None)
    if single is not None:  # a one-setting method is named by its title alone
        assert method_label(single.name, single.settings[0]) == single.title


def test_stat_is_mean_and_population_std_of_the_finite_values():
    assert Stat.of([1.0, 3.0, float("nan"), None]) == Stat(2.0, 1.0, 2)
    assert Stat.of([5.0]) == Stat(5.0, 0.0, 1)
    assert Stat.of([float("nan")]) is None


def test_value_at_time_is_the_last_epoch_finished_by_then():
    epochs = pd.DataFrame({"run_id": ["a", "a", "a", "b", "b"], "epoch": [0, 1, 2, 0, 1],
                           "seconds_total": [0.5, 2.0, 4.0, 1.5, 3.0], "regret_test": [9.0, 5.0, 1.0, 8.0, 2.0]})
    early = value_at_time(epochs, "regret_test", 1.0)
    assert early["a"] == 9.0 and np.isnan(early["b"])  # run b had not finished epoch 0 by then
    assert value_at_time(epochs, "regret_test", 3.0).to_dict() == {"a": 5.0, "b": 2.0}
    assert value_at_time(epochs, "regret_test", 10.0).to_dict() == {"a": 1.0, "b": 2.0}


def test_renderings_escape_what_their_format_needs():
    table = ReportTable("t", "A & B", [Column("name", "Name"), Column("acc", "Acc. (%)", 2),
                                       Column("d", "Δ", 2, signed=True, spread=False)],
                        rows=[{"name": "|a~0|_x", "acc": Stat(93.456, 0.1, 2), "d": -0.5}, {"name": "none"}])
    assert "| \\|a~0\\|_x | 93.46 ± 0.10 | -0.50 |" in to_markdown(table)
    assert "\\textbackslash{}" not in to_latex(table)
    assert "|a\\textasciitilde{}0|\\_x & 93.46 $\\pm$ 0.10 & -0.50 \\\\" in to_latex(table)
    assert "\\caption{A \\& B}" in to_latex(table)
    assert to_csv(table).splitlines() == ["Name,Acc. (%) mean,Acc. (%) std,Δ", "|a~0|_x,93.456000,0.100000,-0.500000",
                                          "none,,,"]


def test_panels_draw_a_dashed_reference_line_when_a_value_is_given():
    rows = pd.DataFrame({"run_id": ["a", "a", "b", "b"], "epoch": [0, 1, 0, 1], "regret_test": [3.0, 1.0, 5.0, 2.0]})
    ax = Figure().subplots()
    draw_panel(ax, [Series("PC-DARTS", rows)], "regret_test", "space 1", "regret", reference=(0.4, "best final"))
    mean_line, ref = ax.get_lines()
    assert list(mean_line.get_ydata()) == [4.0, 1.5]
    assert ref.get_linestyle() == "--" and list(ref.get_ydata()) == [0.4, 0.4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["PC-DARTS", "best final"]

"""The ``harness`` command line: run, methods, status, data, report."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.bench.command import bench
from harness.report_cli import report
from nasbench_errors import ConfigError, DataError, HarnessError

app = typer.Typer(
    help="Benchmark weight-sharing NAS methods on tabular benchmarks (NAS-Bench-201, ...).\n\n"
    "Typical session: `harness run --methods all --seeds 4 --download` (the NAS-Bench-201 table ships with "
    "the package; `harness data import nb201 FILE` replaces it with an official file), then `harness status`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Datasets and benchmark tables: download, import, inspect.", no_args_is_help=True)
app.add_typer(data_app, name="data")
# piped output (logs, CI) gets wide lines instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 160)

StoreOpt = Annotated[str, typer.Option("--store", help="Results store: a SQLite file path or a SQLAlchemy URL.")]
OracleDirOpt = Annotated[
    Path | None,
    typer.Option("--oracle-dir", help="Where imported benchmark tables live [env HARNESS_ORACLE_DIR; "
                 "default $HARNESS_HOME/oracles, HARNESS_HOME defaulting to ~/.nasbench-harness]; without an "
                 "imported NAS-Bench-201 table, the one bundled with the package is used."),
]
DataRootOpt = Annotated[
    str | None,
    typer.Option("--data-root",
                 help="Directory holding the datasets (cifar-10-batches-py, ...) [env HARNESS_DATA_ROOT; default "
                 "$HARNESS_HOME/data, HARNESS_HOME defaulting to ~/.nasbench-harness]."),
]


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "~/.nasbench-harness")).expanduser()


def data_root_path(option: str | None) -> Path:
    """``--data-root``, else ``$HARNESS_DATA_ROOT``, else ``$HARNESS_HOME/data``."""
    from benchmarks.datasets import resolve_data_root

    return resolve_data_root(option, default=harness_home() / "data")


def oracle_dir(option: Path | None) -> Path:
    if option is not None:
        return option.expanduser()
    env = os.environ.get("HARNESS_ORACLE_DIR")
    return Path(env).expanduser() if env else harness_home() / "oracles"


def checkpoint_dir(option: Path | None, store_path: Path | None) -> Path:
    """Next to a SQLite store (``results.db`` -> ``results.db.checkpoints/``), else under HARNESS_HOME."""
    if option is not None:
        return option.expanduser()
    if store_path is not None:
        return store_path.with_name(store_path.name + ".checkpoints")
    return harness_home() / "checkpoints"


def _seeds(count: int, first: int) -> list[int]:
    if count < 1:
        raise ConfigError(f"--seeds must be at least 1, got {count}")
    return list(range(first, first + count))


def _space_overrides(space: str | None, benchmark: str, overrides: dict) -> list[dict[str, int]]:
    """One ``search_space`` override per space named by ``--space`` (none without it)."""
    if space is None:
        return [{}]
    if benchmark != "nb1shot1":
        raise ConfigError(f"--space applies to --benchmark nb1shot1 only, not {benchmark}; drop --space")
    if "search_space" in overrides:
        raise ConfigError("--space and --set search_space=... conflict; give one of them")
    names = ["1", "2", "3"] if space.strip() == "all" else [p.strip() for p in space.split(",") if p.strip()]
    bad = [n for n in names if n not in ("1", "2", "3")]
    if bad or not names:
        raise ConfigError(f"--space {space!r}: NAS-Bench-1Shot1 has spaces 1, 2 and 3; give e.g. --space 1,2,3")
    return [{"search_space": int(n)} for n in dict.fromkeys(names)]


@app.command()
def run(
    methods: Annotated[str, typer.Option("--methods", "-m", help="Comma list of method names, families "
                                         "(e.g. gaea, darts) or 'all'; see `harness methods`.")],
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark to search on.")] = "nb201",
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Comma list of datasets, or 'all'.")] = "cifar10",
    setting: Annotated[str, typer.Option("--setting", help="default (each method's paper setting), bilevel, "
                                         "erm, both, or a comma list.")] = "default",
    seeds: Annotated[int, typer.Option("--seeds", help="Number of seeds per configuration.")] = 1,
    first_seed: Annotated[int, typer.Option("--first-seed", help="Seeds are first-seed, first-seed+1, ...")] = 0,
    profile: Annotated[str, typer.Option("--profile", help="paper: the papers' settings; quick: a CPU-sized "
                                         "search (C=8, N=1, 2000 images, 3 epochs).")] = "paper",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting: key=value (repeatable), "
                                                   "e.g. --set epochs=10 --set eg_floor=1e-5. Speed: --set bf16=true "
                                                   "(bfloat16 autocast), --set channels_last=true (GPU only).")] = None,
    space: Annotated[str | None, typer.Option("--space", help="NAS-Bench-1Shot1 search spaces: a comma list of "
                                              "1, 2, 3 or 'all' (same as --set search_space=N per space).")] = None,
    store: StoreOpt = "results.db",
    data_root: DataRootOpt = None,
    download: Annotated[bool, typer.Option("--download", help="Download a dataset the data root lacks (CIFAR-10, "
                                           "CIFAR-100; md5-checked) without asking.")] = False,
    oracle_dir_: OracleDirOpt = None,
    checkpoint_dir_: Annotated[Path | None, typer.Option("--checkpoint-dir", help="Per-run checkpoints "
                                                        "[default: next to the store].")] = None,
    device: Annotated[str, typer.Option("--device", help="auto (GPU when there is one), cpu, cuda, cuda:1.")] = "auto",
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Rerun runs that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run",
                                          help="List the runs and what the store holds; run nothing.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar per run.")] = True,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Runs in parallel in local worker processes "
                                             "[default 1: in this process; with --gpus, one per GPU slot].")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="Comma list of CUDA devices the local workers use, "
                                             "assigned round-robin (e.g. 0,1).")] = None,
    runs_per_gpu: Annotated[int | None, typer.Option("--runs-per-gpu", help="Runs sharing one GPU at a time "
                                                     "(local workers; fractional GPUs on Ray).")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (this machine), dask (an existing Dask "
                                          "cluster, with --scheduler) or ray.")] = "local",
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Cluster address: tcp://HOST:8786 for "
                                                  "Dask, ray://HOST:10001 or auto for Ray.")] = None,
) -> None:
    """Search: every method x dataset x setting x seed, skipping runs the store already finished.

    Each run trains a weight-sharing supernet and, after every epoch, looks up the derived
    architecture in the benchmark table, writing regret, entropy and supernet metrics to the store.
    An interrupted command resumes each unfinished run from its last finished epoch.
    """
    from harness.executors import RunTask, plan, run_grid
    from harness.grid import expand, parse_datasets, parse_settings, runnable_methods
    from harness.monitor import StoreProgress
    from harness.progress import NullProgress, RichProgress
    from harness.specs import parse_override
    from methods.registry import get as get_method
    from methods.registry import resolve_methods
    from results.store import Store

    overrides = dict(parse_override(s) for s in (set_ or []))
    names = runnable_methods(resolve_methods(methods), benchmark, methods)
    specs = [spec for extra in _space_overrides(space, benchmark, overrides)
             for spec in expand(names, benchmark, parse_datasets(dataset, benchmark), parse_settings(setting),
                                _seeds(seeds, first_seed), profile, {**overrides, **extra})]
    step_bars = RichProgress() if progress else NullProgress()
    chosen = plan(executor, jobs, gpus, runs_per_gpu, scheduler, device, progress=step_bars)
    st = Store(store)
    status = st.run_status([s.run_id for s in specs])
    skip = {"finished"} | (set() if retry_failed else {"failed"})
    todo = [s for s in specs if status.get(s.run_id) not in skip]
    console.print(f"{len(specs)} runs requested; {len(specs) - len(todo)} already in {store} "
                  f"({sum(status.get(s.run_id) == 'finished' for s in specs)} finished, "
                  f"{sum(status.get(s.run_id) == 'failed' for s in specs)} failed); {len(todo)} to run"
                  + (f" with the {chosen.executor.name} executor." if todo else "."))
    if dry_run:
        for s in specs:
            console.print(f"  {s.run_id}  {s.label:<50} {status.get(s.run_id, 'new')}")
        return
    if not todo:
        _print_final(st, [s.run_id for s in specs])
        return
    # black-box runs (rea, rs, reinforce) read the benchmark table alone: no data root needed for them
    image_datasets = {s.dataset for s in todo if get_method(s.method).needs_supernet}
    root, oracles = str(data_root_path(data_root)) if image_datasets else "", str(oracle_dir(oracle_dir_))
    if image_datasets and (download or chosen.executor.name not in ("dask", "ray")):  # cluster workers: their root
        _ensure_datasets(image_datasets, Path(root), download)
    ckpt = str(checkpoint_dir(checkpoint_dir_, st.path))
    tasks = [RunTask(s, st.url, root, oracles, ckpt, chosen.device) for s in todo]
    parallel = chosen.executor.name != "in-process"
    display = (StoreProgress() if progress else NullProgress()) if parallel else step_bars
    try:
        with display:
            outcomes = run_grid(tasks, chosen.executor, st, display)
    except KeyboardInterrupt:  # typer would turn it into a silent exit 130
        Console(stderr=True).print("interrupted: rerun the same command to resume unfinished runs")
        raise typer.Exit(130) from None
    _print_final(st, [s.run_id for s in specs])
    unfinished = [o for o in outcomes if o.status in ("died", "busy", "interrupted")]
    if unfinished:
        console.print(f"{len(unfinished)} run(s) did not finish ({', '.join(sorted({o.status for o in unfinished}))}"
                      "); rerun the same command to resume them")
        raise typer.Exit(1)


def _ensure_datasets(names: set[str], root: Path, download: bool) -> None:
    """Fetch each dataset the runs need that ``root`` lacks: with ``--download``, or after a yes at a terminal;
    otherwise a one-line error with the command that fetches it."""
    from benchmarks.datasets import dataset_dir, downloadable, get_spec

    for name in sorted(names):
        try:
            dataset_dir(name, root)
            continue
        except DataError:
            if not downloadable(name):
                raise
        where = f"{name} is not in {root} (no {get_spec(name).dirnames[0]}/)"
        if not download and not (_interactive() and typer.confirm(f"{where}. Download it now?", default=False)):
            raise DataError(f"{where}: rerun with --download, or fetch it first with "
                            f"`harness data download {name} --data-root {root}`")
        _download(name, root)


def _interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def _download(dataset: str, root: Path) -> Path:
    """Download with a progress bar (bytes, speed) and the md5 check."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from benchmarks.datasets import download, download_source

    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        task = bar.add_task(f"downloading {dataset}", total=None)
        path = download(dataset, root, progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"{dataset} ready in {path} (from {download_source(dataset)[0]}, md5 verified)")
    return path


def _print_final(store, run_ids: list[str], verbose: bool = False) -> None:  # noqa: ANN001 - a Store
    from results.summary import final_rows

    df = final_rows(store, run_ids)
    table = Table(title="Last recorded epoch per run (accuracies and regrets in %, from the oracle; a surrogate "
                  "oracle gives validation only)")
    cols = ("method", "setting", "dataset", "seed", "status", "epoch", "test acc", "regret", "valid acc",
            "valid regret", "entropy", "skip", "s")
    for col in (("run", *cols) if verbose else cols):
        table.add_column(col)
    for r in df.itertuples():
        cells = [r.method, r.setting, r.dataset, str(r.seed), r.status, _fmt(r.epoch, "d"), _fmt(r.test_acc),
                 _fmt(r.regret_test), _fmt(r.valid_acc), _fmt(r.regret_valid), _fmt(r.entropy_ops, ".3f"),
                 _fmt(r.n_skip, "d"), _fmt(r.search_seconds, ".0f")]
        table.add_row(*([r.run_id, *cells] if verbose else cells))
    console.print(table)
    if verbose:
        for r in df.itertuples():
            console.print(f"{r.run_id}  {r.arch or '-'}", highlight=False)
    failed = df[df["status"] == "failed"]
    for r in failed.itertuples():
        console.print(f"[red]failed[/red] {r.method} {r.dataset} seed {r.seed}: {r.error}")


def _fmt(value: object, spec: str = ".2f") -> str:
    try:
        if value is None or value != value:  # None or NaN
            return "-"
        return format(int(value) if spec == "d" else float(value), spec)
    except (TypeError, ValueError):
        return str(value)


@app.command()
def methods(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show each method's paper preset and "
                                          "the documented choices where the papers are ambiguous.")] = False,
) -> None:
    """List the search methods: paper, relaxation, update rule and default setting."""
    from methods.registry import families, registry

    table = Table(title="Search methods", show_lines=verbose)
    for col in ("name", "method", "relaxation", "update rule", "setting", "paper"):
        table.add_column(col, overflow="fold")
    for e in registry().values():
        table.add_row(e.name, e.title, e.relaxation, e.update_rule, e.default_setting, e.paper)
        if verbose:
            preset = ", ".join(f"{k}={v}" for k, v in e.defaults.items())
            per_bench = "; ".join(f"{b}: {', '.join(f'{k}={v}' for k, v in o.items())}"
                                  for b, o in e.per_benchmark.items())
            choices = "\n".join(f"{k}: {v}" for k, v in e.choices.items())
            table.add_row("", "preset", preset, per_bench, "", choices)
    console.print(table)
    console.print("families: " + "; ".join(f"{f} = {', '.join(n)}" for f, n in families().items()))


@app.command()
def status(
    store: StoreOpt = "results.db",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show run ids and architectures.")] = False,
) -> None:
    """What the store holds: every run, its status, progress and final numbers."""
    from results.store import Store

    st = Store(store, create=False)
    runs = st.runs_df()
    if runs.empty:
        console.print(f"{store} holds no runs yet.")
        return
    counts = runs["status"].value_counts().to_dict()
    console.print(f"{store}: {len(runs)} runs (" + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ")")
    _print_final(st, list(runs["run_id"]), verbose)


@data_app.command("download")
def data_download(
    dataset: Annotated[str, typer.Argument(help="cifar10 or cifar100.")],
    data_root: DataRootOpt = None,
) -> None:
    """Download a dataset from its official URL and verify the official md5 (HARNESS_CIFAR10_URL /
    HARNESS_CIFAR10_MD5, and the same for CIFAR100, name a mirror or a test server instead)."""
    _download(dataset, data_root_path(data_root))


@data_app.command("import")
def data_import(
    benchmark: Annotated[str, typer.Argument(help="Benchmark the file belongs to: nb201, nb101 (which also "
                                             "builds the NAS-Bench-1Shot1 tables), or nb301 (a folder holding "
                                             "the YAHPO Gym surrogate's model_v2.onnx and encoding_v2.json).")],
    source: Annotated[Path, typer.Argument(help="Official file (NAS-Bench-201 .pth, NATS-Bench topology "
                                           "archive directory, NAS-Bench-101 tfrecord) or a per-architecture CSV.")],
    budget: Annotated[str | None, typer.Option("--budget", help="Training budget of a CSV's numbers "
                                               "(hp200 or hp12); inferred from the file name if absent.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Load official pickle files without "
                                               "asking (only for files from the official source).")] = False,
    verify_hashes: Annotated[bool, typer.Option("--verify-hashes/--no-verify-hashes", help="NAS-Bench-101: "
                                                "recompute every cell's hash and compare it with the file's.")] = True,
    spaces: Annotated[str, typer.Option("--spaces", help="NAS-Bench-101: the NAS-Bench-1Shot1 spaces to enumerate "
                                        "(comma list of 1, 2, 3).")] = "1,2,3",
    evolution_budget: Annotated[int, typer.Option("--evolution-budget", min=100, help="NAS-Bench-301: surrogate "
                                                  "queries of the regularized evolution that finds the regret "
                                                  "optimum.")] = 50_000,
    oracle_dir_: OracleDirOpt = None,
) -> None:
    """Import a benchmark file into the compact table the oracle memory-maps."""
    from benchmarks.nb201.importers import import_nb201, needs_pickle
    from benchmarks.nb201.oracle import NB201Oracle

    if benchmark == "nb101":
        from benchmarks.nb1shot1.oracle import import_nb101_tables

        try:
            numbers = tuple(sorted({int(n) for n in spaces.split(",") if n.strip()}))
        except ValueError:
            numbers = ()
        if not numbers or not set(numbers) <= {1, 2, 3}:
            raise ConfigError(f"--spaces {spaces!r}: give a comma list of 1, 2, 3 (NAS-Bench-1Shot1 spaces)")
        import_nb101_tables(source, oracle_dir(oracle_dir_), verify_hashes=verify_hashes, progress=console.print,
                            numbers=numbers)
        return
    if benchmark == "nb301":
        from benchmarks.nb301.oracle import import_nb301

        import_nb301(source, oracle_dir(oracle_dir_), {"budget": evolution_budget}, progress=console.print)
        return
    if benchmark != "nb201":
        raise ConfigError(f"unknown benchmark {benchmark!r} for import; valid: nb201, nb101, nb301")
    if needs_pickle(source) and not trust_pickle:
        console.print(f"[yellow]{source} is a Python pickle: loading it can run arbitrary code.[/yellow] "
                      "Only continue for files from the official NAS-Bench-201 / NATS-Bench release.")
        if not sys.stdin.isatty() or not typer.confirm("Load it?", default=False):
            raise HarnessError(f"not loading the pickle {source}; rerun with --trust-pickle to import it")
    target = NB201Oracle.default_path(oracle_dir(oracle_dir_))
    summary = _import_over_bundle(target, lambda path: import_nb201(source, path, budget=budget,
                                                                    progress=console.print, trust_pickle=True))
    console.print(str(summary))
    console.print(f"oracle table: {target}")


def _import_over_bundle(target: Path, do_import):  # noqa: ANN001, ANN202 - (Path -> ImportSummary) -> ImportSummary
    """The first import into an oracle directory starts from the bundled NAS-Bench-201 table, so what the import
    lacks (the cost table, the 12-epoch means, ...) stays available; every metric it brings replaces the bundled
    one. The table appears at ``target`` only once the import succeeded."""
    import shutil

    from benchmarks.nb201.oracle import BUNDLED

    if target.exists():
        return do_import(target)
    staged = target.with_name(f".{target.name}.staged")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BUNDLED, staged)
    console.print(f"starting from the bundled table ({BUNDLED.name}): metrics this import brings replace its own")
    try:
        summary = do_import(staged)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return dataclasses.replace(summary, oracle_path=target)


@data_app.command("info")
def data_info(oracle_dir_: OracleDirOpt = None) -> None:
    """Show the NAS-Bench-201 table runs use (imported, else the bundled one): metrics, optima and provenance."""
    from benchmarks.nb201.oracle import NB201Oracle

    directory = oracle_dir(oracle_dir_)
    path = NB201Oracle.locate(directory)
    oracle = NB201Oracle.open(path)
    bundle = oracle.bundle_info
    console.print(f"NAS-Bench-201 table: {path}" + (" (bundled with the package)" if bundle else ""), highlight=False,
                  soft_wrap=True)
    table = Table(title="metrics (accuracy in %)")
    for col in ("dataset", "split", "budget", "stat", "optimum"):
        table.add_column(col)
    for key in oracle.metrics():
        table.add_row(key.dataset, key.split, key.budget, key.stat,
                      f"{oracle.optimum(key.dataset, key.split, key.budget, key.stat):.2f}")
    console.print(table)
    for src in oracle.sources:
        what = ", ".join([*src.get("metrics", []), *(f"curve {c}" for c in src.get("curves", [])),
                          *(f"cost {c}" for c in src.get("costs", []))])
        licence = f", licence: {src['licence']}" if src.get("licence") else ""
        console.print(f"source: {src['source']} ({src['importer']}, {src['release']}, sha256 {src['sha256']}, "
                      f"imported {src['date']}{licence}): {what}", highlight=False, soft_wrap=True)
        if src.get("note"):
            console.print(f"  {src['note']}", highlight=False, soft_wrap=True)
    if bundle:
        console.print(f"holds: {bundle['holds']}", highlight=False, soft_wrap=True)
        console.print(f"lacks: {bundle['lacks']}", highlight=False, soft_wrap=True)
        console.print(f"rebuilt from the source CSVs by `{bundle['rebuild']}`. No table imported in {directory}: "
                      "`harness data import nb201 NAS-Bench-201-v1_1-096897.pth --trust-pickle` writes "
                      f"{NB201Oracle.default_path(directory)}, which runs then use: it starts from this table and "
                      "every metric the import brings replaces the bundled one", highlight=False, soft_wrap=True)


app.command()(report)  # implemented in harness/report_cli.py
app.command()(bench)  # implemented in harness/bench/command.py


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 2; SIGTERM (a batch system's
    time limit) stops like Ctrl-C, so every unfinished run is left resumable."""
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        app()
    except HarnessError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: rerun the same command to resume unfinished runs")
        sys.exit(130)

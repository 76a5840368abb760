"""The ``harness`` command line: run, methods, config, status, data, report."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.bench.command import bench
from harness.report_cli import report, reproduction
from nasbench_errors import ConfigError, DataError, HarnessError, mask_credentials

if TYPE_CHECKING:
    from harness.overrides import Override
    from methods.base import MethodEntry

app = typer.Typer(
    help="Benchmark weight-sharing NAS methods on tabular benchmarks (NAS-Bench-201, ...).\n\n"
    "Typical session: `harness run --methods all --seeds 4 --download` (the NAS-Bench-201 table ships with "
    "the package; `harness data import nb201 FILE` replaces it with an official file), then `harness status`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich markup would eat "[env HARNESS_...; default ...]" hints as tags
)
data_app = typer.Typer(help="Datasets and benchmark tables: download, import, inspect.", no_args_is_help=True,
                       rich_markup_mode=None)
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
CheckpointDirOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint-dir", help="Per-run checkpoints and run locks [default: next to the store]."),
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


def run_threads(option: int | None) -> int:
    """torch CPU threads per run: ``--threads``, else HARNESS_THREADS, else OMP_NUM_THREADS, else 1.

    1 by default: on a shared 2-core machine (load 6-14) a quick-profile DARTS epoch took 11-20x longer with
    2 threads than with 1 (OpenMP threads wait for cores other processes hold), while on a quiet one 2 threads
    gain about 1.7x (docs/performance.md); runs scale across cores with ``--jobs`` instead.
    """
    if option is not None:
        if option < 1:
            raise ConfigError(f"--threads {option}: give a whole number >= 1")
        return option
    for name in ("HARNESS_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"{name}={value!r} is not a thread count; set it to a whole number >= 1 "
                                  "(or pass --threads N)")
            return int(value)
    return 1


def checkpoint_dir(option: Path | None, store_path: Path | None) -> Path:
    """Next to a SQLite store (``results.db`` -> ``results.db.checkpoints/``), else under HARNESS_HOME."""
    if option is not None:
        return option.expanduser()
    if store_path is not None:
        return store_path.with_name(store_path.name + ".checkpoints")
    return harness_home() / "checkpoints"


def _status(text: str, shown: bool = True) -> AbstractContextManager[object]:
    """A spinner on stderr while a silent step (imports, a table search) runs; nothing when not ``shown``."""
    return Console(stderr=True).status(text) if shown else nullcontext()


def _seeds(count: int, first: int) -> list[int]:
    if count < 1:
        raise ConfigError(f"--seeds must be at least 1, got {count}")
    if first < 0:
        raise ConfigError(f"--first-seed must be at least 0, got {first} (seeds are integers >= 0)")
    return list(range(first, first + count))


def directory_option(option: str, path: Path | None) -> Path | None:
    """A directory option's path; one that names an existing file is an error (checked before any write)."""
    if path is not None and path.expanduser().exists() and not path.expanduser().is_dir():
        raise ConfigError(f"{option} {path} is a file, not a directory; name a directory (created if absent)")
    return path


def _space_overrides(space: str | None, benchmark: str, overrides: list[Override]) -> list[list[Override]]:
    """One ``search_space`` override per space named by ``--space`` (none without it)."""
    from harness.overrides import Override

    if space is None:
        return [[]]
    if benchmark != "nb1shot1":
        raise ConfigError(f"--space applies to --benchmark nb1shot1 only, not {benchmark}; drop --space")
    if any(o.key == "search_space" for o in overrides):
        raise ConfigError("--space and --set search_space=... conflict; give one of them")
    names = ["1", "2", "3"] if space.strip() == "all" else [p.strip() for p in space.split(",") if p.strip()]
    bad = [n for n in names if n not in ("1", "2", "3")]
    if bad or not names:
        raise ConfigError(f"--space {space!r}: NAS-Bench-1Shot1 has spaces 1, 2 and 3; give e.g. --space 1,2,3")
    return [[Override("search_space", int(n))] for n in dict.fromkeys(names)]


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
                                                   "e.g. --set epochs=10 --set eg_floor=1e-5; it reaches the methods "
                                                   "that have the setting. Scoped: --set gaea-darts.arch_lr=0.05 (a "
                                                   "method) or --set gaea.eg_floor=1e-5 (a family). Speed: --set "
                                                   "bf16=true (bfloat16 autocast), --set channels_last=true (GPU "
                                                   "only). `harness config METHOD` shows every setting.")] = None,
    space: Annotated[str | None, typer.Option("--space", help="NAS-Bench-1Shot1 search spaces: a comma list of "
                                              "1, 2, 3 or 'all' (same as --set search_space=N per space).")] = None,
    store: StoreOpt = "results.db",
    data_root: DataRootOpt = None,
    download: Annotated[bool, typer.Option("--download", help="Download a dataset the data root lacks (CIFAR-10, "
                                           "CIFAR-100; md5-checked) without asking.")] = False,
    oracle_dir_: OracleDirOpt = None,
    checkpoint_dir_: CheckpointDirOpt = None,
    device: Annotated[str, typer.Option("--device", help="auto (GPU when there is one), cpu, cuda, cuda:1.")] = "auto",
    threads: Annotated[int | None, typer.Option("--threads", help="torch CPU threads per run [env "
                                                "HARNESS_THREADS, else OMP_NUM_THREADS; default 1]. More threads "
                                                "than idle cores make steps several times slower; with 1 the "
                                                "numbers do not depend on the machine's core count.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Rerun runs that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs, what the store holds and the "
                                          "time estimate; run nothing.")] = False,
    estimate: Annotated[bool, typer.Option("--estimate/--no-estimate", help="Before starting, time a few steps of "
                                           "each configuration on this device and print the expected wall time "
                                           "per run and for the grid (cached in $HARNESS_HOME/estimates.json)."
                                           )] = True,
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
    An interrupted command resumes each unfinished run from its last finished epoch. Finished runs made
    by an older version of their method or benchmark are shown as superseded and run again (their rows
    stay in the store, marked). Every option and setting is checked before the store is opened.
    """
    with _status("loading torch and the search methods", progress):  # seconds on a busy machine
        from benchmarks.datasets import check_data_root
        from harness.estimate import format_duration
        from harness.executors import RunTask, plan, run_grid
        from harness.grid import expand, parse_datasets, parse_settings, runnable_methods, superseded_runs
        from harness.monitor import StoreProgress
        from harness.overrides import parse_set
        from harness.progress import LineProgress, RichProgress
        from methods.registry import get as get_method
        from methods.registry import resolve_methods
        from results.store import Store, sqlite_file, store_url

    overrides = [parse_set(s) for s in (set_ or [])]
    names = runnable_methods(resolve_methods(methods), benchmark, methods)
    seed_list = _seeds(seeds, first_seed)
    specs = [spec for extra in _space_overrides(space, benchmark, overrides)
             for spec in expand(names, benchmark, parse_datasets(dataset, benchmark), parse_settings(setting),
                                seed_list, profile, [*overrides, *extra])]
    cpu_threads = run_threads(threads)
    step_bars = RichProgress() if progress else LineProgress()
    chosen = plan(executor, jobs, gpus, runs_per_gpu, scheduler, device, progress=step_bars)
    if data_root is not None or os.environ.get("HARNESS_DATA_ROOT"):
        check_data_root(data_root_path(data_root))
    ckpt = checkpoint_dir(checkpoint_dir_, sqlite_file(store_url(store)))
    directory_option("--checkpoint-dir", ckpt)
    st = Store(store)
    status = st.run_status([s.run_id for s in specs])
    replaced = superseded_runs(st, specs)
    skip = {"finished"} | (set() if retry_failed else {"failed"})
    todo = [s for s in specs if status.get(s.run_id) not in skip]
    console.print(f"{len(specs)} runs requested; {len(specs) - len(todo)} already in {mask_credentials(store)} "
                  f"({sum(status.get(s.run_id) == 'finished' for s in specs)} finished, "
                  f"{sum(status.get(s.run_id) == 'failed' for s in specs)} failed); {len(todo)} to run"
                  + (f" with the {chosen.executor.name} executor, {cpu_threads} torch CPU thread(s) per run."
                     if todo else "."))
    if replaced:
        console.print(f"{sum(map(len, replaced.values()))} stored run(s) were made by an older version of their "
                      "method or benchmark: superseded (kept in the store, left out of reports) and run again:")
        for s in specs:
            for old in replaced.get(s.run_id, []):
                console.print(f"  {old.run_id} -> {s.run_id}  {s.label}: {old.why}", highlight=False)
    estimates = _print_estimate(todo, specs, profile, chosen, cpu_threads, data_root, overrides, space, benchmark,
                                dataset, setting, seeds, first_seed, names) if estimate and todo else {}
    if dry_run:
        shown = shown_statuses(status, ckpt)
        for s in specs:
            guess = estimates.get(s.run_id)
            console.print(f"  {s.run_id}  {s.label:<50} {shown.get(s.run_id, 'new'):<9} "
                          + ("" if guess is None else guess.basis if guess.seconds is None
                             else f"~{format_duration(guess.seconds)} ({guess.basis})"),
                          highlight=False)
        _print_legend(set(shown.values()), ckpt)
        return
    for new_id, olds in replaced.items():
        st.mark_superseded([o.run_id for o in olds], new_id)
    if not todo:
        _print_final(st, [s.run_id for s in specs], ckpt)
        return
    # black-box runs (rea, rs, reinforce) read the benchmark table alone: no data root needed for them
    image_datasets = {s.dataset for s in todo if get_method(s.method).needs_supernet}
    root, oracles = str(data_root_path(data_root)) if image_datasets else "", str(oracle_dir(oracle_dir_))
    if image_datasets and (download or chosen.executor.name not in ("dask", "ray")):  # cluster workers: their root
        _ensure_datasets(image_datasets, Path(root), download)
    tasks = [RunTask(s, st.url, root, oracles, str(ckpt), chosen.device, cpu_threads, retry_failed=retry_failed)
             for s in todo]
    parallel = chosen.executor.name != "in-process"
    display = (StoreProgress() if progress else LineProgress()) if parallel else step_bars
    try:
        with display:
            outcomes = run_grid(tasks, chosen.executor, st, display)
    except KeyboardInterrupt:  # typer would turn it into a silent exit 130
        Console(stderr=True).print("interrupted: rerun the same command to resume unfinished runs")
        raise typer.Exit(130) from None
    _print_final(st, [s.run_id for s in specs], ckpt)
    unfinished = [o for o in outcomes if o.status in ("died", "busy", "interrupted")]
    if unfinished:
        console.print(f"{len(unfinished)} run(s) did not finish ({', '.join(sorted({o.status for o in unfinished}))}"
                      "); rerun the same command to resume them")
        raise typer.Exit(1)



#: what the CPU warning for the paper profile offers instead, fastest last
FASTER_PROFILES = ("repro", "quick")


def _print_estimate(todo, specs, profile, chosen, threads, data_root, overrides, space, benchmark,  # noqa: ANN001
                    dataset, setting, seeds, first_seed, names) -> dict:  # noqa: ANN001 - the run command's values
    """Print the run count and the measured time estimate of the runs to do (harness/estimate.py); on a CPU
    with the paper profile also what the faster profiles would take and the other ways to go faster."""
    from harness.estimate import Estimator, format_duration, summarize
    from harness.grid import expand, parse_datasets, parse_settings

    slots = chosen.executor.slots
    try:
        root = data_root_path(data_root)
    except DataError:
        root = None
    estimator = Estimator(root, chosen.device, threads, harness_home())
    with Console(stderr=True).status("estimating run times (a few timed steps per configuration)") as shown:
        estimates = estimator.estimate(todo, lambda what: shown.update(f"estimating run times: timing {what}"))
    total, unknown = summarize(todo, estimates, slots)
    per_run = [e.seconds for e in estimates.values() if e.seconds is not None]
    where = f"{estimator.device.type} ({estimator.threads} torch thread{'s' if estimator.threads > 1 else ''} per run"
    where += f", {slots} in parallel)" if slots > 1 else ")"
    if per_run:
        span = (format_duration(min(per_run)) if min(per_run) == max(per_run)
                else f"{format_duration(min(per_run))} to {format_duration(max(per_run))}")
        about = f"at least {format_duration(total)}" if unknown else f"about {format_duration(total)}"
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        busy = (f"; the machine is busy (load {load:.1f} on {cores} cores), so this is pessimistic"
                if estimator.device.type == "cpu" and load > cores else "")
        console.print(f"estimate on {where}: {span} per run, {about} for the {len(todo)} runs to do"
                      + (f" ({unknown} not timed; --dry-run lists why)" if unknown else "") + busy, highlight=False)
    elif unknown:
        reason = next(e.basis for e in estimates.values() if e.seconds is None and e.basis != "table only")
        console.print(f"no time estimate: {reason.removeprefix('no estimate: ')}", highlight=False)
    if profile == "paper" and estimator.device.type == "cpu" and per_run and total > 3600:
        faster = []
        for other in FASTER_PROFILES:
            alt = [x for extra in _space_overrides(space, benchmark, overrides)
                   for x in expand(names, benchmark, parse_datasets(dataset, benchmark), parse_settings(setting),
                                   _seeds(seeds, first_seed), other, [*overrides, *extra])]
            alt_total, _ = summarize(alt, estimator.estimate(alt), slots)
            faster.append(f"--profile {other} (~{format_duration(alt_total)})")
        console.print(f"[yellow]the paper profile on a CPU takes about {format_duration(total)} for this "
                      f"grid.[/yellow] Faster: {', '.join(faster)}; a GPU (--device cuda, with --runs-per-gpu K "
                      "to share it); or more parallel runs (--jobs N) on a machine with more cores. "
                      "docs/reproduction.md says what each profile shows.", highlight=False)
    return estimates


#: how a state is shown when the store says ``running``: by whether a live process holds the run's lock
LIVENESS = {"held": "running", "free": "stale", "absent": "running?"}


def shown_statuses(statuses: dict[str, str], checkpoints: Path) -> dict[str, str]:
    """Run id -> the state to show: the stored status, except that a run marked ``running`` shows
    ``stale`` when no process holds its lock any more (killed: SIGKILL, SIGBUS, a lost node) and
    ``running?`` when its lock is not in ``checkpoints`` (it keeps its checkpoints elsewhere)."""
    from harness.checkpoint import lock_state

    return {run_id: LIVENESS[lock_state(checkpoints, run_id)] if status == "running" else status
            for run_id, status in statuses.items()}


def _print_legend(shown: set[str], checkpoints: Path) -> None:
    if "stale" in shown:
        console.print("stale: marked running, but no process holds its lock (it was killed or its machine went "
                      "down); rerun the same command to resume it")
    if "running?" in shown:
        console.print(f"running?: no run lock in {checkpoints}; pass --checkpoint-dir (where those runs keep their "
                      "checkpoints) to tell a live run from a dead one")


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


def _print_final(store, run_ids: list[str], checkpoints: Path, verbose: bool = False) -> None:  # noqa: ANN001
    from results.reports.data import overrides_of
    from results.summary import MEASURED, SIMULATED, final_rows, time_label

    df = final_rows(store, run_ids)
    df["status"] = df["run_id"].map(shown_statuses(dict(zip(df["run_id"], df["status"], strict=True)), checkpoints))
    table = Table(title="Last recorded epoch per run (accuracies and regrets in %, from the oracle; a surrogate "
                  "oracle gives validation only)")
    cols = ("method", "setting", "dataset", "seed", "profile", "status", "epoch", "test acc", "regret", "valid acc",
            "valid regret", "entropy", "skip", "wall s", "sim. s")
    for col in (("run", *cols) if verbose else cols):
        table.add_column(col)
    changed = False
    for r in df.itertuples():
        measured, simulated = (_fmt(r.search_seconds, ".0f") if r.seconds_kind == kind else "-"
                               for kind in (MEASURED, SIMULATED))
        profile = r.profile + ("+set" if overrides_of(r.overrides) else "")
        changed |= profile.endswith("+set")
        cells = [r.method, r.setting, r.dataset, str(r.seed), profile, r.status, _fmt(r.epoch, "d"),
                 _fmt(r.test_acc), _fmt(r.regret_test), _fmt(r.valid_acc), _fmt(r.regret_valid),
                 _fmt(r.entropy_ops, ".3f"), _fmt(r.n_skip, "d"), measured, simulated]
        table.add_row(*([r.run_id, *cells] if verbose else cells))
    console.print(table)
    _print_legend(set(df["status"]), checkpoints)
    if changed:
        console.print("profile+set: settings changed with --set (harness report lists them)")
    kinds = set(df["seconds_kind"].dropna())
    if MEASURED in kinds:
        devices = df.loc[df["seconds_kind"] == MEASURED, "device"]
        console.print(f"wall s: {time_label(MEASURED, devices)}", highlight=False, soft_wrap=True)
    if SIMULATED in kinds:
        console.print(f"sim. s: {time_label(SIMULATED)}", highlight=False, soft_wrap=True)
    if verbose:
        for r in df.itertuples():
            console.print(f"{r.run_id}  {r.arch or r.no_cell or '-'}", highlight=False)
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show each method's version, relaxation, "
                                          "update rule, paper preset with each setting's type and range, and the "
                                          "documented choices where the papers are ambiguous.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the whole registry as the Markdown page "
                                           "docs/methods.md instead (a test checks the committed page).")] = False,
) -> None:
    """List the search methods by family: paper, the benchmarks each runs on, default setting (and with -v the
    relaxation, update rule and preset). --methods takes a name, a family or 'all'."""
    from harness.grid import runs_on
    from methods.registry import families, registry

    if markdown:
        from harness.methods_doc import methods_markdown

        sys.stdout.write(methods_markdown())
        return
    grouped: dict[str, list] = {}
    for e in registry().values():  # each method under its first family, families in registry order
        grouped.setdefault(e.families[0], []).append(e)
    for family, entries in grouped.items():
        table = Table(title=f"family {family}: --methods {family}", title_justify="left", show_lines=verbose)
        for col in ("name", "method", "runs on", "setting", "families", "paper"):
            table.add_column(col, overflow="fold")
        for e in entries:
            table.add_row(f"{e.name} v{e.version}" if verbose else e.name, e.title, ", ".join(runs_on(e.name)),
                          e.default_setting, ", ".join(e.families), e.paper)
            if verbose:
                per_bench = "; ".join(f"{b}: {', '.join(f'{k}={_shown(v)}' for k, v in o.items())}"
                                      for b, o in e.per_benchmark.items())
                choices = "\n".join(f"{k}: {v}" for k, v in e.choices.items())
                table.add_row("", "rule", f"{e.relaxation}; {e.update_rule}", "", "", "")
                table.add_row("", "preset", preset_text(e), per_bench, "", choices)
        console.print(table)
    console.print("families (--methods FAMILY): " + "; ".join(f"{f} = {', '.join(n)}" for f, n in families().items()))
    if verbose:
        console.print("Settings that mean different things in different methods (`harness config METHOD` shows "
                      "one method's):")
        for key, meanings in differing_meanings().items():
            console.print(f"  {key}: " + "; ".join(f"{', '.join(names)}: {text}" for text, names in meanings.items()),
                          highlight=False, soft_wrap=True)


def preset_text(entry: MethodEntry) -> str:
    """A method's defaults with each setting's type and range: ``arch_lr=0.0003 (float > 0), ...``."""
    types = entry.setting_types
    return ", ".join(f"{k}={_shown(v)} ({types[k].describe() if k in types else 'undeclared'})"
                     for k, v in entry.defaults.items())


def _shown(value: object) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def differing_meanings() -> dict[str, dict[str, list[str]]]:
    """setting -> {meaning: methods} for the settings whose declared meaning differs between methods."""
    from methods.registry import registry

    by_key: dict[str, dict[str, list[str]]] = {}
    for e in registry().values():
        for key, setting in e.setting_types.items():
            if key in e.defaults:
                by_key.setdefault(key, {}).setdefault(setting.help or setting.describe(), []).append(e.name)
    return {k: v for k, v in sorted(by_key.items()) if len(v) > 1}


@app.command("config")
def config_(
    method: Annotated[str, typer.Argument(help="Method name (see `harness methods`).")],
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark.")] = "nb201",
    profile: Annotated[str, typer.Option("--profile", help="paper or quick.")] = "paper",
    set_: Annotated[list[str] | None, typer.Option("--set", help="key=value, METHOD.key=value or "
                                                   "FAMILY.key=value, as for `harness run`.")] = None,
    space: Annotated[str | None, typer.Option("--space", help="NAS-Bench-1Shot1 search space (1, 2 or 3).")] = None,
) -> None:
    """Every setting of a run of METHOD: its resolved value, type and range, and the layer that set it
    (benchmark preset, method default, the method's per-benchmark value, profile, --set)."""
    import benchmarks.registry
    from harness.overrides import assign, parse_set
    from harness.specs import resolve
    from methods.registry import get

    entry = get(method)
    items = [parse_set(s) for s in (set_ or [])]
    extra = _space_overrides(space, benchmark, items)
    if len(extra) > 1:
        raise ConfigError(f"--space {space!r}: harness config shows one space; give one of 1, 2, 3")
    given = assign([*items, *extra[0]], [method], benchmark, profile)[method]
    resolved = resolve(method, benchmark, profile, given)
    table = Table(title=f"{method} v{entry.version} on {benchmark} v{benchmarks.registry.get(benchmark).version}, "
                  f"profile {profile}")
    for col in ("setting", "value", "type and range", "set by", "meaning"):
        table.add_column(col, overflow="fold")
    for key in sorted(resolved.config, key=str.lower):
        setting = resolved.types.get(key)
        table.add_row(key, _shown(resolved.config[key]), setting.describe() if setting else "undeclared",
                      resolved.origin[key], setting.help if setting else "")
    console.print(table)


@app.command()
def status(
    store: StoreOpt = "results.db",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show run ids and architectures.")] = False,
    checkpoint_dir_: CheckpointDirOpt = None,
) -> None:
    """What the store holds: every run, its status, progress and final numbers.

    A run marked running whose process is gone (its lock is free: killed, out of memory, a lost node)
    shows as ``stale``; rerunning the same command resumes it.
    """
    from results.store import Store

    st = Store(store, create=False)
    if st.note:
        Console(stderr=True).print(f"note: {st.note}", highlight=False, soft_wrap=True)
    runs = st.runs_df()
    if runs.empty:
        console.print(f"{mask_credentials(store)} holds no runs yet.")
        return
    ckpt = checkpoint_dir(checkpoint_dir_, st.path)
    shown = shown_statuses(dict(zip(runs["run_id"], runs["status"], strict=True)), ckpt)
    counts = Counter(shown.values())
    superseded = int(runs["superseded_by"].notna().sum())
    console.print(f"{mask_credentials(store)}: {len(runs)} runs ("
                  + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ")"
                  + (f"; {superseded} superseded by a newer method or benchmark version" if superseded else ""))
    _print_final(st, list(runs["run_id"]), ckpt, verbose)


@data_app.command("download")
def data_download(
    dataset: Annotated[str, typer.Argument(help="cifar10 or cifar100.")],
    data_root: DataRootOpt = None,
) -> None:
    """Download a dataset from its official URL and verify the official md5 (HARNESS_CIFAR10_URL /
    HARNESS_CIFAR10_MD5, and the same for CIFAR100, name a mirror or a test server instead)."""
    _download(dataset, data_root_path(data_root))


#: The flags ``harness data import`` had before ``--option`` (kept, documented): each is the option of that name of
#: the importer it is given to. A new importer's options are passed as ``--option key=value`` only.
IMPORT_FLAGS = ("budget", "verify_hashes", "spaces", "evolution_budget")


@data_app.command("import")
def data_import(
    benchmark: Annotated[str, typer.Argument(help="Benchmark the file belongs to: nb201, nb101 (which also "
                                             "builds the NAS-Bench-1Shot1 tables), nb301 (a folder holding "
                                             "the YAHPO Gym surrogate's model_v2.onnx and encoding_v2.json), or "
                                             "the importer of another benchmark plug-in (`harness data info` "
                                             "lists them).")],
    source: Annotated[Path, typer.Argument(help="Official file (NAS-Bench-201 .pth, NATS-Bench topology "
                                           "archive directory, NAS-Bench-101 tfrecord) or a per-architecture CSV.")],
    option: Annotated[list[str] | None, typer.Option("--option", help="An option of the benchmark's importer: "
                                                     "key=value (repeatable); `harness data info BENCHMARK` lists "
                                                     "them.")] = None,
    budget: Annotated[str | None, typer.Option("--budget", help="nb201: training budget of a CSV's numbers "
                                               "(hp200 or hp12); inferred from the file name if absent.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Load official pickle files without "
                                               "asking (only for files from the official source).")] = False,
    verify_hashes: Annotated[bool | None, typer.Option("--verify-hashes/--no-verify-hashes", help="nb101: "
                                                       "recompute every cell's hash and compare it with the "
                                                       "file's [default: on].")] = None,
    spaces: Annotated[str | None, typer.Option("--spaces", help="nb101: the NAS-Bench-1Shot1 spaces to enumerate "
                                               "(comma list of 1, 2, 3) [default: 1,2,3].")] = None,
    evolution_budget: Annotated[int | None, typer.Option("--evolution-budget", min=100, help="nb301: surrogate "
                                                         "queries of the regularized evolution that finds the "
                                                         "regret optimum [default: 50000].")] = None,
    oracle_dir_: OracleDirOpt = None,
) -> None:
    """Import a benchmark file into the compact table the oracle reads (the benchmark plug-in's importer)."""
    import benchmarks.registry

    importer = benchmarks.registry.get_importer(benchmark)
    flags = dict(zip(IMPORT_FLAGS, (budget, verify_hashes, spaces, evolution_budget), strict=True))
    given = {key: str(value).lower() if isinstance(value, bool) else str(value)
             for key, value in flags.items() if value is not None}
    for text in option or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {text!r}: give key=value")
        if key.strip() in given:
            raise ConfigError(f"--option {key.strip()} is given twice; give it once")
        given[key.strip()] = value
    request = benchmarks.registry.ImportRequest(
        source=source, oracle_dir=oracle_dir(oracle_dir_), options=importer.resolve_options(given),
        say=console.print, trust_pickle=trust_pickle,
        confirm=lambda question: sys.stdin.isatty() and typer.confirm(question, default=False), bar=_bar)
    importer.run(request)


@contextmanager
def _bar(label: str, total: int) -> Iterator[Callable[[int, str], None]]:
    """A progress bar on the console for an importer: yields ``update(done, note)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[note]}"), console=console, transient=True)
    with bar:
        task = bar.add_task(label, total=total, note="")
        yield lambda done, note: bar.update(task, completed=done, note=note)


@data_app.command("info")
def data_info(
    benchmark: Annotated[str | None, typer.Argument(help="Benchmark to show [default: every benchmark].")] = None,
    oracle_dir_: OracleDirOpt = None,
) -> None:
    """Show the tables runs use, per benchmark (NAS-Bench-201: the imported table, else the bundled one, with its
    metrics, optima and provenance), and each benchmark's importers with their options."""
    import benchmarks.registry

    def say(what: object) -> None:  # long lines (paths, hashes) unbroken; a table as rich lays it out
        console.print(what, highlight=False, soft_wrap=isinstance(what, str))

    directory = oracle_dir(oracle_dir_)
    shown = [benchmarks.registry.get(benchmark)] if benchmark else list(benchmarks.registry.registry().values())
    for i, plugin in enumerate(shown):
        if i:
            console.print()
        if plugin.info is not None:
            plugin.info(directory, say)
        for imp in plugin.importers:
            options = ", ".join(f"{k} ({s.describe()}, default {_shown(imp.defaults.get(k))}): {s.help}"
                                for k, s in imp.options.items())
            console.print(f"{plugin.name} import: `harness data import {imp.name} SOURCE`, SOURCE {imp.source}"
                          + (f"; --option {options}" if options else ""), highlight=False, soft_wrap=True)


app.command()(report)  # implemented in harness/report_cli.py
app.command()(reproduction)  # implemented in harness/report_cli.py
app.command()(bench)  # implemented in harness/bench/command.py


def main() -> None:
    """Entry point: user errors (bad options included) become one line on stderr and exit status 2, with
    any password of a store URL masked; SIGTERM (a batch system's time limit) stops like Ctrl-C, so every
    unfinished run is left resumable."""
    import signal

    click = _click_exceptions()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        code = app(standalone_mode=False, prog_name="harness")
    except getattr(click, "NoArgsIsHelpError", ()) as exc:
        if exc.format_message().strip():  # recent typer has printed the help already
            exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # a bad or missing option: one line, not a usage box
        where = exc.ctx.command_path if exc.ctx is not None else "harness"
        _error(f"{exc.format_message()} (see `{where} --help`)")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        _error(exc.format_message())
        sys.exit(exc.exit_code)
    except typer.Abort:  # end of input at a prompt
        Console(stderr=True).print("aborted")
        sys.exit(1)
    except HarnessError as exc:
        _error(str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted: rerun the same command to resume unfinished runs")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions():  # noqa: ANN202 - a module
    """The exceptions of the click that typer runs on (vendored as ``typer._click`` by recent typer)."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def _error(text: str) -> None:
    from rich.markup import escape

    # escaped: "pip install 'nasbench-harness[postgres]'" must not lose its extra as a markup tag
    Console(stderr=True).print(f"[red]error:[/red] {escape(mask_credentials(text))}", highlight=False,
                               soft_wrap=True)

"""Where runs execute: in this process, in local worker processes (loky), or on a Dask or Ray cluster.

Every executor takes picklable ``RunTask``s (a RunSpec plus paths and the store's URL; never an engine
or a tensor) and yields each run's ``RunOutcome`` as it ends, or None on a poll tick so the grid loop
can refresh its display. Workers open the store themselves from its URL, so a run writes its epochs
from wherever it executes, and the store is the one place that knows what is done.

A worker that dies (kill -9, out of memory, node loss) costs only its own run: the local executor
gives every slot its own single-process loky executor (a shared pool is torn down whole when one of
its workers dies), Dask and Ray reschedule the task or report it; the run's checkpoint and stored
epochs stay, so rerunning the command resumes it.
"""

from __future__ import annotations

import os
import re
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import nasbench_errors
from harness.monitor import StoreProgress
from harness.progress import NullProgress
from harness.runner import INTERRUPTED, RunEnvironment, RunOutcome, execute, resolve_device
from harness.specs import RunSpec
from nasbench_errors import ConfigError, HarnessError
from results.store import Store

#: seconds between poll ticks of the grid loop (display refresh, Ctrl-C responsiveness)
POLL_SECONDS = 0.5
EXECUTORS = ("local", "dask", "ray")


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to execute one run, as plain picklable values. The store URL (it may
    hold a password) is left out of the repr, which cluster logs and dashboards show."""

    spec: RunSpec
    store_url: str = field(repr=False)
    data_root: str
    oracle_dir: str
    checkpoint_dir: str
    device: str = "auto"  # resolved on the worker: "auto" means that machine's GPU when it has one
    threads: int | None = None  # torch CPU threads in the worker (`harness run --threads`); None: the executor's
    retry_failed: bool = False  # execute a run the store holds as failed (else its stored outcome is returned)


Step = tuple[RunTask, RunOutcome] | None


class Executor(Protocol):
    name: str
    #: runs executing at once (the grid estimate's parallel slots; a cluster's is unknown here: 1)
    slots: int

    def outcomes(self, tasks: Sequence[RunTask]) -> Iterator[Step]:
        """Run the tasks; yield (task, outcome) as runs end and None on poll ticks. Closing the
        iterator stops the runs still in flight (they stay resumable)."""
        ...


def _run(task: RunTask, progress: NullProgress) -> RunOutcome:
    """Execute one task; bad input becomes an ``error`` outcome that the grid loop raises again."""
    import torch

    if task.threads is not None:
        torch.set_num_threads(task.threads)
    try:
        store = Store(task.store_url)
    except HarnessError as exc:
        return RunOutcome(task.spec.run_id, "error", str(exc), error_type=type(exc).__name__)
    try:
        env = RunEnvironment(store=store, data_root=Path(task.data_root), oracle_dir=Path(task.oracle_dir),
                             checkpoint_dir=Path(task.checkpoint_dir), device=resolve_device(task.device),
                             progress=progress)
        return execute(task.spec, env, retry_failed=task.retry_failed)
    except HarnessError as exc:
        return RunOutcome(task.spec.run_id, "error", str(exc), error_type=type(exc).__name__)
    finally:
        store.close()


def run_task(task: RunTask) -> RunOutcome:
    """Worker entry point: Ctrl-C (SIGINT) interrupts the run cleanly and is reported as an outcome."""
    with _interruptible():
        try:
            return _run(task, NullProgress())
        except KeyboardInterrupt:
            return RunOutcome(task.spec.run_id, "interrupted", INTERRUPTED)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt during a run, even in a worker that ignores it while idle."""
    if threading.current_thread() is not threading.main_thread():
        yield  # a Dask worker thread: stop requests arrive through the store instead
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_sigint() -> None:
    """Initializer of local workers: an idle worker ignores the terminal's Ctrl-C (the parent handles it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _died(task: RunTask, exc: BaseException) -> RunOutcome:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RunOutcome(task.spec.run_id, "died",
                      f"its worker process died ({reason}); the run stays resumable: rerun the same command")


class InProcessExecutor:
    """One run after another in this process, with the step-level progress display."""

    name = "in-process"
    slots = 1

    def __init__(self, progress: NullProgress | None = None) -> None:
        self.progress = progress or NullProgress()

    def outcomes(self, tasks: Sequence[RunTask]) -> Iterator[Step]:
        for task in tasks:
            yield task, _run(task, self.progress)


class LocalExecutor:
    """Parallel runs in worker processes on this machine, one slot per entry of ``devices``.

    Each slot is a single-process loky executor, so a slot's worker (and the dataset it has loaded)
    is reused by its next run, and a worker that dies is replaced without touching other slots.
    """

    name = "local"

    def __init__(self, devices: Sequence[str], threads: int | None = None, grace_seconds: float = 15.0) -> None:
        if not devices:
            raise ConfigError("the local executor needs at least one slot; use --jobs 1 or more")
        self.devices, self.threads, self.grace_seconds = list(devices), threads, grace_seconds

    @property
    def slots(self) -> int:
        return len(self.devices)

    def outcomes(self, tasks: Sequence[RunTask]) -> Iterator[Step]:
        from concurrent.futures import FIRST_COMPLETED, wait

        from joblib.externals.loky.process_executor import BrokenProcessPool, ProcessPoolExecutor

        queue = deque(tasks)
        pools: list[ProcessPoolExecutor | None] = [None] * len(self.devices)
        running: dict = {}  # future -> (slot, task)
        try:
            while queue or running:
                busy = {slot for slot, _ in running.values()}
                for slot, device in enumerate(self.devices):
                    if queue and slot not in busy:
                        if pools[slot] is None:
                            pools[slot] = ProcessPoolExecutor(max_workers=1, initializer=_ignore_sigint)
                        task = queue.popleft()
                        task = replace(task, device=device, threads=task.threads or self.threads)
                        running[pools[slot].submit(run_task, task)] = (slot, task)
                done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                if not done:
                    yield None
                for future in done:
                    slot, task = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as exc:
                        pools[slot].shutdown(wait=False)
                        pools[slot] = None
                        outcome = _died(task, exc)
                    yield task, outcome
        finally:
            try:
                if running:  # interrupted: the workers got the Ctrl-C or a stop request; let them record
                    wait(running, timeout=self.grace_seconds)
            finally:
                for pool in pools:
                    if pool is not None:
                        pool.shutdown(wait=True, kill_workers=True)


class DaskExecutor:
    """Runs as tasks on an existing Dask cluster (``dask scheduler`` + workers, or dask-jobqueue on SLURM).

    Dask reschedules a task whose worker died (up to its ``allowed-failures``); a task that keeps
    killing workers is reported as died. Cancelled tasks cannot be interrupted in a worker thread, so
    the grid loop's stop request goes through the store (see ``harness.runner``).
    """

    name = "dask"
    slots = 1

    def __init__(self, scheduler: str, connect_timeout: float = 15.0) -> None:
        self.scheduler, self.connect_timeout = scheduler, connect_timeout

    def outcomes(self, tasks: Sequence[RunTask]) -> Iterator[Step]:
        distributed = _optional("distributed", "dask")
        try:
            client = distributed.Client(self.scheduler, timeout=f"{self.connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {self.scheduler} ({exc}); start one "
                              "(`dask scheduler`) or fix --scheduler") from None
        pending = {client.submit(run_task, t, key=f"harness-run-{t.spec.run_id}", pure=False): t for t in tasks}
        try:
            while pending:
                try:
                    done = distributed.wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    yield None
                    continue
                for future in done:
                    task = pending.pop(future)
                    try:
                        outcome = future.result()
                    except distributed.KilledWorker as exc:
                        outcome = _died(task, exc)
                    yield task, outcome
        finally:
            if pending:
                client.cancel(list(pending))
            client.close()


class RayExecutor:
    """Runs as Ray tasks on a cluster (``address``) or a local Ray instance; a GPU is shared by
    ``runs_per_gpu`` runs (fractional ``num_gpus``), and a crashed worker's task is retried twice."""

    name = "ray"
    slots = 1

    def __init__(self, address: str | None, runs_per_gpu: int | None = None) -> None:
        self.address, self.runs_per_gpu = address, runs_per_gpu

    def outcomes(self, tasks: Sequence[RunTask]) -> Iterator[Step]:
        ray = _optional("ray", "ray")
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, include_dashboard=False)
        gpus = 1.0 / self.runs_per_gpu if self.runs_per_gpu else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=2)(run_task)
        pending = {remote.remote(t): t for t in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                if not ready:
                    yield None
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # a bug inside run_task: keep its traceback
                        raise exc.as_instanceof_cause() from None
                    except ray.exceptions.RayError as exc:  # worker crashed, node died, object lost
                        outcome = _died(task, exc)
                    yield task, outcome
        finally:
            for ref in pending:
                ray.cancel(ref)
            if started:
                ray.shutdown()


def _optional(module: str, extra: str):  # noqa: ANN202 - a module
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--executor {extra} needs the {module!r} package: "
                          f"pip install 'nasbench-harness[{extra}]'") from None


# -- choosing an executor from the command line ---------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The executor and the device every run is given (``auto`` resolves on the worker)."""

    executor: Executor
    device: str


def parse_gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        gpus = [int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise ConfigError(f"bad --gpus {text!r}; give device indices, e.g. --gpus 0,1") from None
    if not gpus or min(gpus) < 0 or len(set(gpus)) != len(gpus):
        raise ConfigError(f"bad --gpus {text!r}; give distinct device indices, e.g. --gpus 0,1")
    return gpus


def slot_devices(gpus: Sequence[int], runs_per_gpu: int, jobs: int | None) -> list[str]:
    """Round-robin: slot i runs on GPU gpus[i % len(gpus)], at most ``runs_per_gpu`` slots per GPU."""
    capacity = len(gpus) * runs_per_gpu
    jobs = capacity if jobs is None else jobs
    if jobs > capacity:
        raise ConfigError(f"--jobs {jobs} exceeds {len(gpus)} GPU(s) x {runs_per_gpu} run(s) per GPU = {capacity}; "
                          "raise --runs-per-gpu or lower --jobs")
    return [f"cuda:{gpus[i % len(gpus)]}" for i in range(jobs)]


def check_device(device: str, cuda_devices: int | None) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; with ``cuda_devices`` known (this machine runs the runs), a
    CUDA device must exist."""
    if not _DEVICE.fullmatch(device):
        raise ConfigError(f"unknown --device {device!r}; use auto, cpu, cuda or cuda:N")
    if cuda_devices is None or not device.startswith("cuda"):
        return
    index = int(device.partition(":")[2] or 0)
    if index >= cuda_devices:
        have = "no CUDA device" if not cuda_devices else f"{cuda_devices} CUDA device(s) (cuda:0..{cuda_devices - 1})"
        raise ConfigError(f"--device {device}: this machine has {have}; use --device cpu or auto")


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def plan(executor: str = "local", jobs: int | None = None, gpus: str | None = None, runs_per_gpu: int | None = None,
         scheduler: str | None = None, device: str = "auto", progress: NullProgress | None = None,
         cuda_devices: int | None = None, cpu_cores: int | None = None) -> Plan:
    """Check the execution options together and build the executor; conflicting options are a ConfigError.

    ``cuda_devices`` is the number of visible CUDA devices and ``cpu_cores`` this machine's cores (detected
    when None).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid executors: {', '.join(EXECUTORS)}")
    check_device(device, None)
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if runs_per_gpu is not None and runs_per_gpu < 1:
        raise ConfigError(f"--runs-per-gpu must be at least 1, got {runs_per_gpu}")
    gpu_list = parse_gpus(gpus)
    if gpu_list is not None and device != "auto":
        raise ConfigError(f"--gpus chooses the devices; drop --device {device} (or drop --gpus)")
    if runs_per_gpu is not None and device == "cpu":
        raise ConfigError("--runs-per-gpu conflicts with --device cpu; drop one of them")
    if executor == "local":
        if scheduler is not None:
            raise ConfigError("--scheduler needs --executor dask or --executor ray")
        return _plan_local(jobs, gpu_list, runs_per_gpu, device, progress, cuda_devices, cpu_cores)
    for option, given in (("--jobs", jobs is not None), ("--gpus", gpu_list is not None)):
        if given:
            raise ConfigError(f"{option} is for --executor local; with --executor {executor} the cluster's "
                              "workers decide how many runs execute where; drop it")
    if executor == "dask":
        if scheduler is None:
            raise ConfigError("--executor dask needs --scheduler tcp://HOST:8786 (a running `dask scheduler`; "
                              "see docs/cluster.md for SLURM)")
        if runs_per_gpu is not None:
            raise ConfigError("--runs-per-gpu is for --executor local or ray; Dask workers own their GPUs")
        return Plan(DaskExecutor(scheduler), device)
    return Plan(RayExecutor(scheduler, runs_per_gpu), device)


def _plan_local(jobs: int | None, gpus: list[int] | None, runs_per_gpu: int | None, device: str,
                progress: NullProgress | None, cuda_devices: int | None, cpu_cores: int | None) -> Plan:
    if cuda_devices is None:
        import torch

        cuda_devices = torch.cuda.device_count()
    check_device(device, cuda_devices)
    cores = cpu_cores if cpu_cores is not None else os.cpu_count() or 1
    if gpus is not None:
        missing = [g for g in gpus if g >= cuda_devices]
        if missing:
            raise ConfigError(f"--gpus {','.join(map(str, missing))}: this machine has {cuda_devices} CUDA "
                              "device(s); drop --gpus or name existing ones")
    elif runs_per_gpu is not None or (device == "auto" and cuda_devices and (jobs or 1) > 1):
        if not cuda_devices or device not in ("auto", "cuda"):
            raise ConfigError("--runs-per-gpu needs a GPU and this machine has none visible; drop it")
        gpus = list(range(cuda_devices))
    if gpus is not None:
        devices = slot_devices(gpus, runs_per_gpu or 1, jobs)
    else:
        if jobs is not None and jobs > cores:
            raise ConfigError(f"--jobs {jobs} exceeds the {cores} CPU cores of this machine (each local worker "
                              f"needs one); use --jobs {cores} or fewer")
        devices = [device] * (jobs or 1)
    if len(devices) == 1:
        return Plan(InProcessExecutor(progress), devices[0])
    threads = None if "OMP_NUM_THREADS" in os.environ else max(1, cores // len(devices))
    return Plan(LocalExecutor(devices, threads), devices[0])


# -- the grid loop ---------------------------------------------------------------------------------


def error_from(outcome: RunOutcome) -> HarnessError:
    """The HarnessError a worker reported, as its own class (so the CLI prints it the same way)."""
    cls = getattr(nasbench_errors, outcome.error_type or "", None)
    if not (isinstance(cls, type) and issubclass(cls, HarnessError)):
        cls = HarnessError
    return cls(outcome.error)


def run_grid(tasks: Sequence[RunTask], executor: Executor, store: Store,
             display: NullProgress | StoreProgress | None = None) -> list[RunOutcome]:
    """Execute every task and return the outcomes in completion order.

    Failed runs (NaN loss, ...) are recorded and the grid continues; a run whose worker died is marked
    interrupted with the reason and the grid continues; bad input stops the grid with its error.
    Ctrl-C or an error marks the runs still in flight interrupted (Dask and Ray workers stop on that)
    and stops the executor; every unfinished run stays resumable.
    """
    display = display or NullProgress()
    labels = {t.spec.run_id: t.spec.label for t in tasks}
    in_flight = dict(labels)
    outcomes: list[RunOutcome] = []
    steps = executor.outcomes(tasks)
    try:
        for step in steps:
            polled = isinstance(display, StoreProgress)
            if polled and display.due():
                display.refresh(store.run_progress(list(in_flight)), labels)
            if step is None:
                continue
            task, outcome = step
            in_flight.pop(task.spec.run_id, None)
            label = task.spec.label
            if polled:
                display.refresh(store.run_progress([task.spec.run_id]), labels)
            if outcome.status == "error":
                raise error_from(outcome)
            if outcome.status == "died":
                store.interrupt_running([task.spec.run_id], outcome.error)
                display.message(f"[red]worker died[/red] {label}: {outcome.error}")
            elif outcome.status in ("failed", "busy"):
                display.message(f"[red]{outcome.status}[/red] {label}: {outcome.error}")
            elif polled:
                display.message(f"{outcome.status} {label}")
            outcomes.append(outcome)
    except BaseException as exc:
        reason = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else (
            f"stopped because another run of the grid hit an error ({exc}); rerun to resume")
        try:
            store.interrupt_running(list(in_flight), reason)
        except HarnessError:
            pass  # the store itself failed; the runs stay resumable all the same
        finally:
            steps.close()
        raise
    return outcomes

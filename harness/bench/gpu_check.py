"""The GPU measurements of one device session, as one prepared, time-boxed command.

    python -m harness.bench.gpu_check --data DIR --oracles DIR --out DIR [--budget SECONDS]

``--data`` holds ``cifar-10-batches-py``; ``--oracles`` an imported NB201 table. Phases, each bounded so that
what finished is written even when a later phase runs out of time (OUT receives four files: ``summary.json``,
``log.txt``, ``pytest_cuda.txt`` and ``stores.tar.gz``):

1. environment: GPU, driver, torch;
2. the CUDA tests (``pytest -m cuda tests/test_cuda.py``): one step of every supernet method on the CPU and the
   GPU from the same state, channels_last and bf16;
3. seconds per search epoch of every supernet method at the paper size (C=16, N=5, its paper batch) from a short
   measurement (``harness.estimate``: a few timed steps and evaluation batches), extrapolated to the official
   CIFAR-10 sizes (bilevel: 25k/25k; ERM: 50k, evaluation on the 10k test images), plus darts with bf16 and
   with channels_last;
4. throughput with 1, 4 and 8 runs sharing the GPU (``harness run --runs-per-gpu K``, 2 short epochs each):
   per-run epoch seconds from the store and the aggregate weight steps per second;
5. until the deadline, concurrently: the reproduction grid at paper network size (``--profile repro`` with
   C=16, N=5) and the CPU-sized reproduction profile itself, on the GPU; at the deadline the runs get SIGINT
   (they stop at an epoch boundary and stay resumable) and their stores are packed into OUT/stores.tar.gz.

The call is sized for one device session (docs/performance.md, "GPU"): ``--budget`` is the wall time of the
whole command.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the reproduction grid (docs/reproduction.md)
REPRO_GRID = ["--methods", "darts,gaea-darts", "--setting", "both", "--seeds", "2", "--profile", "repro"]
PAPER_NET = ["--set", "C=16", "--set", "N=5"]
#: official CIFAR-10 sizes at the paper profile per setting: (images the weights train on per epoch, evaluation
#: images); bilevel: the 25k train half (its 25k valid half feeds the architecture and the evaluation)
OFFICIAL = {"bilevel": (25_000, 25_000), "erm": (50_000, 10_000)}


class Session:
    """The deadline, the log and the summary of one call."""

    def __init__(self, out: Path, work: Path, budget: float) -> None:
        self.out, self.work, self.start, self.budget = out, work, time.monotonic(), budget
        self.summary: dict[str, Any] = {"budget_s": budget, "phases": {}}
        self.log_file = (out / "log.txt").open("a")

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    def log(self, text: str) -> None:
        line = f"[{time.monotonic() - self.start:6.1f}s] {text}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def save(self, phase: str, value: Any) -> None:
        self.summary["phases"][phase] = value
        (self.out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str))


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def environment() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                            "cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, check=False)
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except OSError as exc:
        info["nvidia_smi"] = str(exc)
    return info


def cuda_tests(s: Session, timeout: float) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                               "tests/test_cuda.py"], capture_output=True, text=True, timeout=timeout, check=False)
        text, rc = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        text, rc = f"{exc.stdout or ''}{exc.stderr or ''}\nTIMEOUT after {timeout:.0f} s", -1
    (s.out / "pytest_cuda.txt").write_text(text if isinstance(text, str) else text.decode())
    tail = [ln for ln in str(text).splitlines() if ln.strip()][-3:]
    return {"returncode": rc, "seconds": time.monotonic() - t0, "tail": tail}


def epoch_timings(s: Session, data: Path, device: str, names: list[str] | None, profile: str,
                  until: float) -> list[dict[str, Any]]:
    """Seconds per paper-size search epoch of every supernet method (phase 3)."""
    import torch

    from harness.estimate import Estimator, Timing
    from harness.specs import RunSpec
    from methods.registry import registry

    estimator = Estimator(data, device, torch.get_num_threads(), None)
    rows: list[dict[str, Any]] = []
    variants: list[tuple[str, dict[str, Any]]] = [(n, {}) for n, e in registry().items()
                                                   if e.needs_supernet and (names is None or n in names)]
    variants += [("darts", {"bf16": True}), ("darts", {"channels_last": True})]
    for name, extra in variants:
        if time.monotonic() > until:
            rows.append({"method": name, "skipped": "phase time used up"})
            continue
        entry = registry()[name]
        spec = RunSpec.create(name, "nb201", "cifar10", entry.default_setting, 0, profile, extra)
        t0 = time.monotonic()
        try:
            measured = estimator.measure(spec)
        except Exception as exc:  # noqa: BLE001 - one method's failure must not end the session
            rows.append({"method": name, **extra, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
            s.log(f"timing {name} {extra}: {rows[-1]['error']}")
            continue
        timing = Timing(**measured["timing"])
        batch = int(spec.config["batch_size"])
        weight_images, eval_images = OFFICIAL[spec.setting]
        steps, evals = -(-weight_images // batch), -(-eval_images // batch)
        epoch = timing.overhead + steps * timing.step + 2 * evals * timing.eval_batch
        rows.append({"method": name, **extra, "setting": spec.setting, "batch": batch,
                     "C": spec.config["C"], "N": spec.config["N"], "step_s": timing.step,
                     "warmup_step_s": timing.warmup_step, "epoch_overhead_s": timing.overhead,
                     "eval_batch_s": timing.eval_batch, "official_steps": steps, "official_eval_batches": evals,
                     "official_epoch_s": epoch, "epochs": spec.epochs,
                     "search_s": spec.epochs * epoch, "measure_s": time.monotonic() - t0})
        s.log(f"timing {name} {extra}: {timing.step * 1000:.1f} ms/step, epoch {epoch:.1f} s")
    return rows


def _store_epochs(store: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT r.seed, e.epoch, e.seconds_epoch, e.seconds_weights, e.seconds_arch, "
                            "e.weight_steps FROM epochs e JOIN runs r USING (run_id) WHERE e.epoch >= 1").fetchall()
    return [dict(r) for r in rows]


def throughput(s: Session, env: dict[str, str], base: list[str], share: Callable[[int], list[str]],
               until: float) -> list[dict[str, Any]]:
    """Runs sharing the GPU (phase 4): per-run epoch seconds and aggregate steps per second."""
    rows: list[dict[str, Any]] = []
    for k in (1, 4, 8):
        if time.monotonic() > until:
            rows.append({"runs_per_gpu": k, "skipped": "phase time used up"})
            continue
        store = s.work / f"throughput_{k}.db"
        cmd = harness_cmd("run", "--methods", "darts", "--setting", "bilevel", "--seeds", str(k), "--first-seed",
                          "100", *share(k), "--profile", "paper", "--set", "train_limit=5120",
                          "--set", "eval_limit=640", "--set", "epochs=2", "--store", str(store), *base)
        t0 = time.monotonic()
        returncode = run_until({f"throughput_{k}": cmd}, s, env, until)[f"throughput_{k}"]
        wall = time.monotonic() - t0
        epochs = [r for r in _store_epochs(store) if r["epoch"] == 2] if store.exists() else []
        row: dict[str, Any] = {"runs_per_gpu": k, "wall_s": wall, "returncode": returncode, "runs": len(epochs)}
        if epochs:
            train = [r["seconds_weights"] + r["seconds_arch"] for r in epochs]
            steps = epochs[0]["weight_steps"]
            row.update({"steps_per_epoch": steps, "mean_train_s_per_epoch": sum(train) / len(train),
                        "aggregate_steps_per_s": len(epochs) * steps / (sum(train) / len(train))})
        rows.append(row)
        s.log(f"throughput K={k}: {row}")
    return rows


def run_until(commands: dict[str, list[str]], s: Session, env: dict[str, str], stop_at: float) -> dict[str, int]:
    """Run the commands side by side (logs in OUT/work/NAME.log) until they end or ``stop_at``; then SIGINT (a run
    stops at an epoch boundary: every recorded epoch stays valid and the run resumable), SIGKILL 25 s later.
    Returns each command's exit status."""
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        log = (s.work / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    while time.monotonic() < stop_at and any(p.poll() is None for p in procs.values()):
        time.sleep(1)
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
    end = time.monotonic() + 25
    for p in procs.values():
        try:
            p.wait(timeout=max(end - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return {name: p.returncode for name, p in procs.items()}


def reproduction(s: Session, env: dict[str, str], base: list[str], share: Callable[[int], list[str]],
                 stop_at: float) -> dict[str, Any]:
    """The reproduction grid at paper network size and the CPU-sized profile, side by side, until ``stop_at``."""
    grids = {"repro_paper_net": [*REPRO_GRID, *PAPER_NET, *share(8)], "repro_profile": [*REPRO_GRID, *share(8)]}
    s.log(f"reproduction grids start: {', '.join(grids)}")
    codes = run_until({name: harness_cmd("run", *args, "--store", str(s.work / f"{name}.db"), *base)
                       for name, args in grids.items()}, s, env, stop_at)
    out: dict[str, Any] = {}
    for name in grids:
        store = s.work / f"{name}.db"
        out[name] = {"returncode": codes[name], "epochs_recorded": len(_store_epochs(store)) if store.exists() else 0}
    return out


def pack_stores(s: Session) -> None:
    """Consistent copies (SQLite backup: WAL folded in) of every store into one archive."""
    packed = s.work / "packed"
    packed.mkdir(exist_ok=True)
    for store in sorted((s.work).glob("*.db")):
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as src, sqlite3.connect(packed / store.name) as dst:
            src.backup(dst)
    with tarfile.open(s.out / "stores.tar.gz", "w:gz") as tar:
        for f in sorted(packed.glob("*.db")):
            tar.add(f, arcname=f.name)
        for f in sorted((s.work).glob("*.log")):
            tar.add(f, arcname=f.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--oracles", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/harness-gpu-check"),
                        help="stores, logs and checkpoints while running (OUT receives only the 4 result files)")
    parser.add_argument("--budget", type=float, default=470.0, help="wall seconds of the whole command")
    parser.add_argument("--phases", default="env,tests,timings,throughput,repro")
    parser.add_argument("--methods", default=None, help="comma list for the timings phase [all supernet methods]")
    parser.add_argument("--timing-profile", default="paper", help="profile of the timings phase (quick: a CPU try)")
    parser.add_argument("--device", default="cuda", help="cpu: try the script's plumbing on a machine without a GPU")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    s = Session(args.out, args.work, args.budget)
    phases = set(args.phases.split(","))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_DATA_ROOT": str(args.data.resolve()),
           "HARNESS_HOME": str((args.work / "home").resolve()), "PYTHONUNBUFFERED": "1"}
    base = ["--oracle-dir", str(args.oracles.resolve()), "--no-progress", "--no-estimate"]

    def share(k: int) -> list[str]:
        """K runs at once: on one GPU, or (trying the script on a CPU) up to K worker processes, one per core."""
        if args.device == "cuda":
            return ["--runs-per-gpu", str(k)]
        return ["--jobs", str(min(k, os.cpu_count() or 1)), "--device", "cpu"]

    step: Callable[[str, Callable[[], Any]], None]

    def step(name: str, fn: Callable[[], Any]) -> None:
        if name not in phases:
            return
        s.log(f"phase {name} ({s.left():.0f} s left)")
        try:
            s.save(name, fn())
        except Exception as exc:  # noqa: BLE001 - record and go on to the next phase
            s.save(name, {"error": f"{type(exc).__name__}: {exc}"})
            s.log(f"phase {name} failed: {exc}")

    step("env", environment)
    step("tests", lambda: cuda_tests(s, timeout=min(120.0, max(s.left() - 300, 30))))
    def until(cap: float, keep: float) -> float:
        """A phase's deadline: at most ``cap`` seconds, leaving ``keep`` for the phases after it."""
        return time.monotonic() + min(cap, max(s.left() - keep, 20.0))

    step("timings", lambda: epoch_timings(s, args.data, args.device, args.methods and args.methods.split(","),
                                                        args.timing_profile, until(90.0, 230.0)))
    step("throughput", lambda: throughput(s, env, base, share, until(80.0, 170.0)))
    step("repro", lambda: reproduction(s, env, base, share, until(1e9, 40.0)))
    try:
        pack_stores(s)
    except Exception as exc:  # noqa: BLE001
        s.log(f"packing the stores failed: {exc}")
    s.log("done")


if __name__ == "__main__":
    main()

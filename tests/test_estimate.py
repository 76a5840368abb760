"""Run-time estimates: the fit of a per-step cost and a per-epoch overhead, the grid schedule, the cache, the
time budget, and what `harness run --dry-run` prints (estimates are measured, so the measuring is tested with
a fake clock: a fake run whose epochs advance it by known amounts)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

import harness.estimate as estimate_module
from harness.cli import app
from harness.estimate import Estimate, Estimator, Timing, format_duration, grid_seconds, summarize
from harness.specs import RunSpec

STEP, OVERHEAD, WARMUP_STEP, EVAL = 0.5, 7.0, 0.2, 0.05


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeMethod:
    """train_epoch advances the clock: OVERHEAD per searched epoch plus STEP per step (WARMUP_STEP in warm-up)."""

    def __init__(self, clock: FakeClock, warmup: int) -> None:
        self.clock, self.warmup = clock, warmup

    def train_epoch(self, ctx) -> None:  # noqa: ANN001
        steps = sum(1 for _ in zip(ctx.weight_batches, ctx.arch_batches, strict=False))
        searched = ctx.epoch > self.warmup
        self.clock.now += (OVERHEAD + steps * STEP) if searched else steps * WARMUP_STEP

    def eval_weights(self) -> dict:
        return {}


class FakeRun:
    def __init__(self, spec: RunSpec, clock: FakeClock) -> None:
        self.spec, self.cfg = spec, dict(spec.config)
        self.method = FakeMethod(clock, int(self.cfg.get("warmup_epochs", 0)))
        self.net, self.w_opt, self.steps_per_epoch = torch.nn.Linear(1, 1), None, 40
        self.eval_set = (None, torch.zeros(100))  # 100 images: 2 batches of 64

    def epoch_context(self, epoch: int, limit: int) -> SimpleNamespace:
        batches = list(itertools.islice(itertools.repeat((None, None)), limit))
        return SimpleNamespace(weight_batches=batches, arch_batches=batches, epoch=epoch)

    def _precision(self) -> torch.autocast:
        return torch.autocast("cpu", enabled=False)

    def _eval_batches(self, check):  # noqa: ANN001, ANN202
        return iter([(None, None)] * 2)


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(estimate_module.time, "perf_counter", fake)

    def fake_evaluate(net, weights, batches) -> tuple[float, float]:  # noqa: ANN001
        fake.now += EVAL * len(list(batches))
        return 0.0, 0.0

    monkeypatch.setattr(estimate_module, "evaluate", fake_evaluate)
    return fake


def _spec(method: str = "darts", seed: int = 0, **overrides) -> RunSpec:
    return RunSpec.create(method, "nb201", "cifar10", "bilevel", seed, "quick", overrides)


def _estimator(clock: FakeClock, tmp_path, built: list, **kwargs) -> Estimator:
    def make_run(spec, root, device, scratch):  # noqa: ANN001
        built.append(spec.run_id)
        return FakeRun(spec, clock)

    return Estimator(None, "cpu", 1, tmp_path, make_run=make_run, **kwargs)


def test_timing_run_seconds_hand_computed():
    # 10 epochs, 2 of them warm-up, 40 steps, 2 evaluation batches:
    # 8 x (7 + 40 x 0.5) + 2 x 40 x 0.2 + 11 x 2 x 2 x 0.05 = 216 + 16 + 2.2
    assert Timing(STEP, OVERHEAD, WARMUP_STEP, EVAL).run_seconds(10, 2, 40, 2) == pytest.approx(234.2)


def test_measurement_separates_step_cost_and_epoch_overhead(clock, tmp_path):
    built: list = []
    spec = _spec("pc-darts", epochs=10)  # quick profile: a 10-epoch PC-DARTS keeps a scaled warm-up
    warmup = int(spec.config["warmup_epochs"])
    assert warmup > 0
    got = _estimator(clock, tmp_path, built).estimate([spec])[spec.run_id]
    expected = Timing(STEP, OVERHEAD, WARMUP_STEP, EVAL).run_seconds(10, warmup, 40, 2)
    assert got == Estimate(pytest.approx(expected), "measured")


def test_seeds_share_one_measurement_and_the_cache_serves_the_next_call(clock, tmp_path):
    built: list = []
    specs = [_spec(seed=s) for s in range(3)]
    first = _estimator(clock, tmp_path, built).estimate(specs)
    assert len(built) == 1 and len({e.seconds for e in first.values()}) == 1
    again = _estimator(clock, tmp_path, built).estimate(specs)
    assert len(built) == 1  # read from $HARNESS_HOME/estimates.json, not measured again
    assert {e.basis for e in again.values()} == {"cached"}
    assert [e.seconds for e in again.values()] == [e.seconds for e in first.values()]


def test_budget_leaves_configurations_untimed_and_the_total_a_lower_bound(clock, tmp_path):
    built: list = []
    specs = [_spec("darts"), _spec("gaea-darts"), _spec("rea")]
    got = _estimator(clock, tmp_path, built, budget=0.0).estimate(specs)
    assert built == []
    assert got[specs[0].run_id].seconds is None and got[specs[0].run_id].basis.startswith("not timed")
    assert got[specs[2].run_id] == Estimate(None, "table only")  # black-box: table lookups only
    total, unknown = summarize(specs, got, slots=1)
    assert (total, unknown) == (0.0, 2)


def test_grid_hands_runs_in_order_to_the_first_free_slot():
    assert grid_seconds([5, 4, 3, 3, 3], 2) == 10  # slot A: 5, 3 (free at 5) ... B: 4, 3, 3 -> A 8, B 10
    assert grid_seconds([1, 1, 10], 2) == 11  # the long run starts when the first slot frees
    assert grid_seconds([10, 1, 1], 3) == 10
    assert grid_seconds([2, 2, 2, 2], 1) == 8


def test_format_duration_picks_readable_units():
    assert [format_duration(s) for s in (40, 600, 3 * 3600 + 1800, 3 * 86400, None)] == \
        ["40 s", "10 min", "3.5 h", "3.0 days", "?"]


def test_dry_run_prints_count_and_estimate_and_the_cpu_warning_names_the_alternatives(monkeypatch, tmp_path):
    """The paper profile on a CPU: the estimate (here a fixed measurement of 30 s per step) exceeds an hour,
    so the command says how long and names the faster profiles with their estimates, a GPU and --jobs."""
    fixed = {"timing": Timing(30.0, 0.0, 30.0, 1.0).__dict__, "warmup": 0, "steps": 391, "eval_batches": 10}
    monkeypatch.setattr(Estimator, "measure", lambda self, spec: fixed)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["run", "--methods", "darts,gaea-darts", "--seeds", "2", "--device", "cpu",
                                      "--store", str(tmp_path / "r.db"), "--dry-run"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "4 runs requested" in out and "4 to run" in out
    assert "estimate on cpu" in out and "per run" in out
    assert "the paper profile on a CPU takes about" in out
    assert "--profile repro (~" in out and "--profile quick (~" in out and "--jobs N" in out and "GPU" in out
    assert out.count("(measured)") + out.count("(cached)") == 4  # every run listed with its estimate


def test_a_real_measurement_through_the_runner_gives_positive_costs(tmp_path):
    """The estimator on the runner's real objects (tiny supernet, the CIFAR-10 subset): what it times exists."""
    from tests.conftest import SHARED_DATA, shared_file

    shared_file("cifar-10-batches-py/data_batch_1")
    spec = _spec("darts", C=4, train_limit=256, batch_size=32, eval_limit=64, epochs=2)
    measured = Estimator(SHARED_DATA, "cpu", 1, tmp_path).measure(spec)
    timing = Timing(**measured["timing"])
    assert timing.step > 0 and timing.eval_batch > 0 and timing.overhead >= 0
    assert measured["steps"] == 4 and measured["eval_batches"] == 2  # 128 weight images / 32; 64 eval images / 32

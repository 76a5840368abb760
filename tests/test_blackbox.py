"""The black-box baselines (REA, RS, REINFORCE): update rules by hand, budget accounting, the cost table,
and the CLI end to end on the real NAS-Bench-201 tables (bundled with the package), with a kill/resume through the
runner."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmarks.nb201.importers import import_nb201
from benchmarks.nb201.oracle import NB201Oracle
from benchmarks.nb201.space import NB201Space
from harness.blackbox_run import BlackBoxRun
from harness.cli import app
from harness.runner import RunEnvironment, execute
from harness.specs import RunSpec
from methods.blackbox import BLACKBOX_DEFAULTS
from methods.random_search import RandomSearch
from methods.rea import RegularizedEvolution
from methods.registry import registry, resolve_methods
from methods.reinforce import Reinforce
from nasbench_errors import ConfigError, OracleError
from results.store import Store
from tests.nb201_fixtures import export_costs_csv, export_means_csv
from tests.smoke import nb201_oracle_dir

SPACE = NB201Space(include_none=True)
REA = {**BLACKBOX_DEFAULTS, "rea_population": 3, "rea_sample": 3, "rea_mutation": "node"}
RL = {**BLACKBOX_DEFAULTS, "reinforce_lr": 0.01, "reinforce_ema": 0.9}


def _rea(seed: int = 0, **config) -> RegularizedEvolution:
    return RegularizedEvolution(SPACE, {**REA, **config}, torch.Generator().manual_seed(seed))


def _score(selection) -> float:
    """A fake search signal: the sum of the chosen op indices."""
    return float(sum(row[0] for row in selection["ops"]))


class Ledger:
    """A fake evaluator with given costs per call; remembers what it was asked."""

    def __init__(self, costs: list[float]) -> None:
        self.costs, self.asked = costs, []

    def __call__(self, selection) -> tuple[float, float]:
        self.asked.append(selection)
        return _score(selection), self.costs[(len(self.asked) - 1) % len(self.costs)]


# -- REA ---------------------------------------------------------------------------------------------
def test_rea_mutation_changes_exactly_one_edge_to_another_op():
    rea = _rea()
    parent = (0, 1, 2, 3, 4, 0)
    edges = Counter()
    for _ in range(3000):
        child = rea.mutate(parent, rea.units)
        changed = [i for i, (a, b) in enumerate(zip(parent, child, strict=True)) if a != b]
        assert len(changed) == 1 and 0 <= child[changed[0]] < 5
        edges[changed[0]] += 1
    # R_EA.py's draw: a node (1/3 each), then one of its input edges -> edge 1<-0 gets 1/3, node 3's edges 1/9
    assert edges[0] / 3000 == pytest.approx(1 / 3, abs=0.03)
    assert edges[5] / 3000 == pytest.approx(1 / 9, abs=0.02)
    uniform = _rea(rea_mutation="uniform")
    children = (uniform.mutate(parent, uniform.units) for _ in range(3000))
    counts = Counter(next(i for i, (a, b) in enumerate(zip(parent, c, strict=True)) if a != b) for c in children)
    assert counts[0] / 3000 == pytest.approx(1 / 6, abs=0.03)


def test_rea_ages_out_the_oldest_however_good():
    rea = _rea()  # population 3
    for arch, score in [((0,) * 6, 99.0), ((1,) * 6, 10.0), ((2,) * 6, 20.0)]:
        rea.observe(arch, score)
    rea.observe((3,) * 6, 5.0)
    assert rea.population == [((1,) * 6, 10.0), ((2,) * 6, 20.0), ((3,) * 6, 5.0)]
    # a full population makes the next proposal a mutant, not a random draw
    parent_like = [sum(a != b for a, b in zip(rea.propose(), m, strict=True)) for m, _ in rea.population]
    assert min(parent_like) == 1


def test_rea_tournament_picks_the_best_of_its_sample(monkeypatch):
    rea = _rea()
    for arch, score in [((0,) * 6, 50.0), ((1,) * 6, 70.0), ((2,) * 6, 60.0)]:
        rea.observe(arch, score)
    draws = iter([0, 2, 0])  # members 0, 2, 0 drawn (with replacement): best of them is member 2
    monkeypatch.setattr(rea, "randint", lambda n: next(draws))
    assert rea.tournament() == (2,) * 6
    rea.population = [((0,) * 6, 60.0), ((1,) * 6, 40.0), ((2,) * 6, 60.0)]
    draws = iter([2, 1, 0])  # a tie between members 2 and 0: the first drawn wins, as Python's max
    assert rea.tournament() == (2,) * 6


def test_rea_entropy_is_that_of_the_population_op_frequencies():
    rea = _rea()
    assert torch.allclose(rea.probabilities()["ops"], torch.full((6, 5), 0.2))  # empty: the uniform draw
    rea.observe((0, 0, 0, 0, 0, 0), 1.0)
    rea.observe((1, 0, 0, 0, 0, 0), 1.0)
    probs = rea.probabilities()["ops"]
    assert probs[0].tolist() == [0.5, 0.5, 0, 0, 0] and probs[1].tolist() == [1, 0, 0, 0, 0]


# -- RS and the budget ----------------------------------------------------------------------------------
def test_rs_over_a_tiny_budget_is_the_argmax_of_what_it_could_pay_for():
    rs = RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": 55.0}, torch.Generator().manual_seed(3))
    ledger = Ledger([10.0])
    rs.run_epoch(1, 1, ledger)
    # 5 evaluations of 10 s fit into 55 s; the 6th was drawn, priced and not made
    assert rs.evaluations == 5 and rs.elapsed == 50.0 and rs.exhausted and len(ledger.asked) == 6
    paid = ledger.asked[:5]
    best = max(paid, key=_score)  # first maximum, like the strict > of the search
    assert rs.derive() == best and rs.best_score == _score(best)


def test_budget_stops_at_the_first_evaluation_that_would_overrun_it():
    # NB201's RANDOM.py / R_EA.py: `if total + cost > budget: stop`, so an exact fit is still made
    for budget, made in ((100.0, 3), (90.0, 3), (89.0, 2)):
        rs = RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": budget}, torch.Generator().manual_seed(0))
        rs.run_epoch(1, 1, Ledger([40.0, 30.0, 20.0, 50.0, 1.0]))
        assert rs.evaluations == made and rs.elapsed == [0, 40, 70, 90][made]
    # a cheap later candidate is not tried: the search ended at the 50 s one


def test_checkpoints_split_the_budget_without_changing_the_search():
    whole = RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": 100.0}, torch.Generator().manual_seed(5))
    whole.run_epoch(1, 1, Ledger([40.0, 30.0, 20.0, 50.0]))
    split = RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": 100.0}, torch.Generator().manual_seed(5))
    ledger = Ledger([40.0, 30.0, 20.0, 50.0])
    split.run_epoch(1, 2, ledger)  # checkpoint at 50 s: only the 40 s evaluation is done, the next is pending
    assert split.evaluations == 1 and split.elapsed == 40.0 and split.pending is not None
    state = split.state_dict()
    resumed = RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": 100.0}, torch.Generator().manual_seed(99))
    resumed.load_state_dict(state)
    ledger.asked = ledger.asked[:1]  # the pending candidate is priced again on resume
    resumed.run_epoch(2, 2, ledger)
    assert (resumed.evaluations, resumed.elapsed, resumed.derive()) == (whole.evaluations, whole.elapsed,
                                                                        whole.derive())


# -- REINFORCE ------------------------------------------------------------------------------------------
def test_reinforce_step_matches_a_hand_computed_update():
    policy = Reinforce(SPACE, RL, torch.Generator().manual_seed(0))
    alpha = policy.relaxation.params["ops"].detach().clone()
    arch = (3, 1, 4, 0, 2, 3)
    policy.observe(arch, 80.0)  # first reward: the bias-corrected baseline equals it, advantage 0, no move
    assert torch.allclose(policy.relaxation.params["ops"].detach(), alpha, rtol=0, atol=1e-8)

    policy = Reinforce(SPACE, RL, torch.Generator().manual_seed(0))
    policy.baseline.update(80.0)
    policy.observe(arch, 90.0)
    baseline = (0.9 * 0.1 * 80 + 0.1 * 90) / (0.9 * 0.1 + 0.1)  # 85.263...
    advantage = 90.0 - baseline
    p = torch.softmax(alpha.double(), dim=-1)
    grad = advantage * (p - torch.nn.functional.one_hot(torch.tensor(arch), 5).double())  # d(-A log pi)/d alpha
    expected = alpha.double() - 0.01 * grad / (grad.abs() + 1e-8)  # Adam's first step: lr * m_hat / sqrt(v_hat)
    assert policy.baseline.value == pytest.approx(baseline)
    assert torch.allclose(policy.relaxation.params["ops"].detach().double(), expected, atol=1e-6)
    # the chosen op of every edge gained (almost exactly) lr, every other op lost it
    delta = policy.relaxation.params["ops"].detach() - alpha
    assert torch.allclose(delta[torch.arange(6), torch.tensor(arch)], torch.full((6,), 0.01), atol=1e-6)


def test_bad_options_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="rea_population=0 must be >= 1"):
        _rea(rea_population=0)
    with pytest.raises(ConfigError, match="rea_mutation='edge'"):
        _rea(rea_mutation="edge")
    with pytest.raises(ConfigError, match="time_budget=0 must be > 0"):
        RandomSearch(SPACE, {**BLACKBOX_DEFAULTS, "time_budget": 0}, torch.Generator())
    with pytest.raises(ConfigError, match="reinforce_ema=1"):
        Reinforce(SPACE, {**RL, "reinforce_ema": 1}, torch.Generator())


# -- the cost table and the simulated training ------------------------------------------------------------
@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory) -> Path:
    return nb201_oracle_dir(tmp_path_factory.mktemp("oracles"))


def test_simulated_training_is_hp12_valid_accuracy_and_12_epochs_of_training_time(oracle_dir):
    oracle = NB201Oracle.open(NB201Oracle.default_path(oracle_dir))
    # cells 0 and 1 of the real exports: hp12 cifar10-valid valid accuracy and training seconds per epoch
    for index, valid, per_epoch in ((0, 63.364, 15.461778), (1, 82.834, 23.198093)):
        accuracy, seconds = oracle.simulated_training(index, "cifar10")
        assert accuracy == pytest.approx(valid, abs=1e-4) and seconds == pytest.approx(12 * per_epoch, rel=1e-6)
    accuracy, seconds = oracle.simulated_training(15624, "cifar10")
    assert accuracy == oracle.query(15624, "cifar10-valid", "valid", "hp12")
    assert seconds == pytest.approx(12 * oracle.cost(15624, "cifar10"), rel=1e-6)
    assert oracle.cost(0, "cifar10", "params_M") == pytest.approx(0.129306, rel=1e-6)
    with pytest.raises(OracleError, match="no cost cifar100/train_seconds_per_epoch.*harness data import"):
        oracle.simulated_training(0, "cifar100")


def test_cost_import_rejects_a_bad_value(tmp_path, oracle_dir):
    oracle = NB201Oracle.open(NB201Oracle.default_path(oracle_dir))
    frame = pd.read_csv(export_costs_csv(oracle, tmp_path / "exported-costs.csv"))
    frame.loc[7, "cifar10_train_seconds_per_epoch"] = -1.0
    frame.to_csv(tmp_path / "costs.csv", index=False)
    with pytest.raises(OracleError, match="row 9: cifar10_train_seconds_per_epoch = -1.0 is not a non-negative"):
        import_nb201(tmp_path / "costs.csv", tmp_path / "o.oracle")


def test_a_table_without_the_search_signal_fails_before_anything_is_stored(tmp_path, oracle_dir):
    directory = tmp_path / "hp200-only"
    hp200 = export_means_csv(NB201Oracle.open(NB201Oracle.default_path(oracle_dir)), tmp_path / "hp200.csv")
    import_nb201(hp200, NB201Oracle.default_path(directory), budget="hp200")
    store = Store(tmp_path / "r.db")
    spec = RunSpec.create("rs", "nb201", "cifar10", "bilevel", 0, "paper")
    env = RunEnvironment(store, Path(""), directory, tmp_path / "ckpt", torch.device("cpu"))
    with pytest.raises(OracleError, match="has no metric cifar10-valid/valid/hp12/mean .*nb201-hp12-mean-accuracies"):
        execute(spec, env)
    assert store.runs_df().empty


# -- the CLI and the runner ---------------------------------------------------------------------------------
def test_cli_runs_all_three_on_the_real_tables_without_images(tmp_path, oracle_dir, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_ROOT", raising=False)
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(oracle_dir))
    assert {"rea", "rs", "reinforce"} <= set(resolve_methods("all"))
    assert resolve_methods("black-box")[:3] == ["rea", "rs", "reinforce"] and resolve_methods("random-search") == ["rs"]
    assert {"local-search", "bananas", "npenas"} <= set(resolve_methods("black-box"))
    store = tmp_path / "results.db"
    result = CliRunner().invoke(app, ["run", "--methods", "rea,rs,reinforce", "--seeds", "2", "--profile", "quick",
                                      "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    st = Store(store, create=False)
    assert set(st.runs_df()["status"]) == {"finished"} and len(st.runs_df()) == 6
    epochs = st.epochs_df()
    oracle = NB201Oracle.open(NB201Oracle.default_path(oracle_dir))
    for _, run in epochs.groupby("run_id"):
        assert run["epoch"].tolist() == [0, 1, 2, 3]
        assert pd.isna(run["arch"].iloc[0]) and run["extra"].iloc[0]["evaluations"] == 0
        evaluations = [e["evaluations"] for e in run["extra"]]
        assert evaluations == sorted(evaluations) and evaluations[-1] > 30  # ~51 cells fit in 12,000 s
        last = run.iloc[-1]
        assert last["test_acc"] == pytest.approx(oracle.query(int(last["arch_key"]), "cifar10", "test"))
        assert last["regret_test"] == pytest.approx(94.37 - last["test_acc"], abs=0.01)
        # the best cell by the hp12 search signal is what is reported
        assert last["extra"]["best_search_score"] == pytest.approx(
            oracle.simulated_training(int(last["arch_key"]), "cifar10")[0])
        # simulated time: within the budget, and the next cell would not have fit
        assert 11000 < last["seconds_total"] <= 12000 and run["seconds_epoch"].sum() == pytest.approx(
            last["seconds_total"])
        assert math.isfinite(last["entropy_ops"]) and pd.isna(last["train_loss"])


def _without_wall_time(epochs: pd.DataFrame) -> pd.DataFrame:
    epochs["extra"] = epochs["extra"].map(lambda extra: {k: v for k, v in extra.items() if k != "wall_seconds"})
    return epochs.drop(columns=["written_at"])


#: the predictor-guided searches, kept short: a third of the budget (about 17 cells) and small fits
RESUME_OVERRIDES = {"bananas": {"time_budget": 4000.0, "bananas_epochs": 10},
                    "npenas": {"time_budget": 4000.0, "npenas_epochs": 20}}


def _spec(method: str, seed: int = 1) -> RunSpec:
    return RunSpec.create(method, "nb201", "cifar10", "bilevel", seed, "paper",
                          {"epochs": 6, **RESUME_OVERRIDES.get(method, {})})


@pytest.mark.parametrize("method", ["rea", "rs", "reinforce", "local-search", "bananas", "npenas"])
def test_a_killed_run_resumes_to_the_rows_of_an_uninterrupted_one(method, tmp_path, oracle_dir, monkeypatch):
    def env(name: str) -> RunEnvironment:
        return RunEnvironment(Store(tmp_path / f"{name}.db"), Path(""), oracle_dir, tmp_path / name,
                              torch.device("cpu"))

    straight = env("straight")
    assert execute(_spec(method), straight).status == "finished"
    resumed = env("resumed")
    train = BlackBoxRun.train

    def killed_at_4(self, epoch, on_step):
        if epoch == 4:
            raise KeyboardInterrupt
        train(self, epoch, on_step)

    monkeypatch.setattr(BlackBoxRun, "train", killed_at_4)
    with pytest.raises(KeyboardInterrupt):
        execute(_spec(method), resumed)
    assert resumed.store.runs_df()["status"].tolist() == ["interrupted"]
    assert resumed.store.last_epoch(_spec(method).run_id) == 3
    monkeypatch.setattr(BlackBoxRun, "train", train)
    assert execute(_spec(method), resumed).status == "finished"
    a, b = (_without_wall_time(e.store.epochs_df()) for e in (straight, resumed))
    pd.testing.assert_frame_equal(a, b)
    assert registry()[method].needs_supernet is False

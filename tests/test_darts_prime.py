"""DARTS-PRIME: the FIMT schedule constants and steady state, PR and ADMM by hand, and the loop's order."""

import pytest
import torch

from benchmarks.darts.genotype import EDGES
from benchmarks.darts.space import NODE_ROWS, DartsSpace
from benchmarks.space import Decision, DecisionGroup, SearchSpace, derive_selection
from methods.darts_prime import (
    ConstantSchedule,
    FimtSchedule,
    admm_update,
    decrease_factor,
    project,
    proximity_penalty,
)
from methods.registry import get
from nasbench_errors import ConfigError
from tests.tiny_supernet import batch, context, tiny_setup


def test_decrease_factor_of_the_paper():
    assert decrease_factor(1.05, 10) == pytest.approx(0.6139133, abs=5e-8)


def fire_pattern(schedule, fishers):
    return [schedule.step(lambda f=f: f) for f in fishers]


@pytest.mark.parametrize("r", [10, 5])
def test_fimt_steady_state_is_r_non_updates_per_update(r):
    schedule = FimtSchedule(h0=1.0, h_i=1.05, r=r, lam=0.2)
    fired = fire_pattern(schedule, [0.37] * 3000)
    updates = [i for i, f in enumerate(fired) if f]
    gaps = {b - a - 1 for a, b in zip(updates, updates[1:], strict=False) if a > 200}
    assert gaps == {r}


def test_fimt_by_hand_and_delayed_updates():
    schedule = FimtSchedule(h0=1.5, h_i=1.05, r=10, lam=0.2)
    assert schedule.step(lambda: 1.0) is True  # EMA starts at the first F: 1.0 < 1.5
    assert schedule.ema == 1.0 and schedule.h == pytest.approx(1.5 * 1.05 ** -10)
    assert schedule.step(lambda: 2.0) is False  # EMA 0.2 * 2 + 0.8 * 1 = 1.2 > 0.9209
    assert schedule.ema == pytest.approx(1.2) and schedule.h == pytest.approx(1.5 * 1.05 ** -9)
    # a large, falling Fisher trace (early training) holds the architecture back
    falling = FimtSchedule(h0=1.0, h_i=1.05, r=10, lam=0.2)
    fired = fire_pattern(falling, [10.0 * 0.97 ** n for n in range(100)])
    assert not any(fired[:20]) and any(fired)


def test_constant_schedule_counts_over_the_search():
    schedule = ConstantSchedule(10)
    assert [i + 1 for i, f in enumerate(fire_pattern(schedule, [0.0] * 30)) if f] == [10, 20, 30]
    with pytest.raises(ConfigError):
        ConstantSchedule(0)


class PairSpace(SearchSpace):
    """One op decision (k=1, 3 options) and one padded input decision (k=2 of 3, in a width-4 group)."""

    name = "pair"

    def __init__(self):
        self.groups = (
            DecisionGroup("ops", (Decision("e0", ("a", "b", "c")), Decision("e1", ("a", "b", "c")))),
            DecisionGroup("edges", (Decision("n0", ("x", "y", "z"), k=2), Decision("n1", ("x", "y", "z", "w"), k=2)),
                          role="edges"),
        )


def test_projection_keeps_the_top_k_of_every_decision():
    space = PairSpace()
    scores = {"ops": torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]),
              "edges": torch.tensor([[0.2, 0.5, 0.3, 0.0], [0.4, 0.1, 0.3, 0.2]])}
    p = project(space, scores)
    assert p["ops"].tolist() == [[1, 0, 0], [0, 1, 0]]
    assert p["edges"].tolist() == [[0, 1, 1, 0], [1, 0, 1, 0]]  # padded column 3 of row 0 never chosen


def test_projection_on_the_darts_cell_keeps_the_top_two_source_op_pairs_per_node():
    space = DartsSpace()
    w = torch.full((14, 8), 0.01)
    w[:, 0] = 0.5  # none is the largest everywhere and never selected
    w[2, 4], w[3, 6], w[4, 1] = 0.1, 0.3, 0.2  # node 3 (edges 2-4): inputs 1 and 2 with dil_conv_3x3, max_pool
    gen = torch.Generator().manual_seed(0)
    scores = {"normal": w, "reduce": torch.softmax(torch.randn(14, 8, generator=gen), dim=-1)}
    p = project(space, scores)
    assert set(p) == {"normal", "reduce"}  # DARTS-PRIME weights the ops only
    assert p["normal"][2].sum() == 0 and p["normal"][3].tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
    assert p["normal"][4].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    for cell in ("normal", "reduce"):
        assert p[cell].sum() == 8 and p[cell][:, 0].sum() == 0  # 2 pairs x 4 nodes, not one op on all 14 edges
        for rows in NODE_ROWS:
            kept = p[cell][list(rows)].sum(dim=1)
            assert kept.tolist().count(1.0) == 2 and kept.sum() == 2  # distinct sources
    genotype = space.genotype(derive_selection(space, scores))
    pairs = {(space.cell_op_names["normal"][int(p["normal"][r].argmax())], EDGES[r][0])
             for r in range(14) if p["normal"][r].sum()}
    assert pairs == set(genotype.normal)


def test_proximity_penalty_by_hand():
    x = {"ops": torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]], requires_grad=True)}
    target = project(PairSpace(), {"ops": x["ops"].detach(), "edges": torch.zeros(2, 4)})
    masks = {"ops": torch.ones(2, 3, dtype=torch.bool)}
    coef = 0.5 * 0.1 / 2  # c = 0.5, rho_p = 0.1
    # x - Pi_S(x) = [[-.5, .3, .2], [.1, -.4, .3]]: squared norm 0.64, norm 0.8
    pen = proximity_penalty(x, {"ops": target["ops"]}, masks, coef, squared=False)
    assert pen.item() == pytest.approx(coef * 0.8)
    pen.backward()
    diff = torch.tensor([[-0.5, 0.3, 0.2], [0.1, -0.4, 0.3]])
    assert torch.allclose(x["ops"].grad, coef * diff / 0.8)  # Pi_S is a constant target
    assert proximity_penalty(x, {"ops": target["ops"]}, masks, coef, squared=True).item() == pytest.approx(coef * 0.64)


def test_admm_update_by_hand():
    space = PairSpace()
    x = {"ops": torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]]), "edges": torch.zeros(2, 4)}
    u = {"ops": torch.tensor([[0.0, 0.4, 0.0], [0.0, 0.0, 0.0]]), "edges": torch.zeros(2, 4)}
    z, u_new = admm_update(x, u, 0.8, lambda s: project(space, s))
    assert z["ops"].tolist() == [[0, 1, 0], [0, 0, 1]]  # argmax of x + u = [[.5, .7, .2], [.2, .2, .6]]
    assert torch.allclose(u_new["ops"], torch.tensor([[0.5, -0.38, 0.2], [0.2, 0.2, -0.4]]))


def make(name, **overrides):
    space, net, opt = tiny_setup(3, dtype=torch.float32)
    entry = get(name)
    method = entry.create(space, {**entry.defaults, **overrides}, torch.Generator().manual_seed(0))
    return method, net, opt


def batches(n, seed):
    return [batch(8, seed + i, dtype=torch.float32) for i in range(n)]


def test_weight_step_comes_first_and_constant_schedule_counts():
    method, net, opt = make("darts-prime-cs10", arch_every=2)
    seen = []
    original = method.arch_step

    def spy(ctx, arch_batch, weight_batch):
        seen.append(all("momentum_buffer" in opt.state[p] for p in net.parameters()))
        original(ctx, arch_batch, weight_batch)

    method.arch_step = spy
    stats = method.train_epoch(context(net, opt, batches(6, 0), batches(6, 50)))
    assert stats.weight_steps == 6 and stats.arch_steps == 3 and method.arch_steps_total == 3
    assert seen == [True, True, True]  # every architecture step follows a weight step


def test_pr_term_enters_the_architecture_loss():
    method, net, opt = make("darts-prime-pr")
    method.coefficient = 0.5
    va = batch(8, 7, dtype=torch.float32)
    base = get("darts").cls.arch_loss(method, net, va)
    probs = method.relaxation.mixing_weights()
    target = project(method.space, {k: v.detach() for k, v in probs.items()})
    diff = (probs["ops"] - target["ops"]).detach()
    expected = 0.5 * 0.1 / 2 * diff.norm()
    assert (method.arch_loss(net, va) - base).item() == pytest.approx(expected.item(), rel=1e-5)


def test_pr_coefficient_rises_linearly_over_the_search():
    method, net, opt = make("darts-prime-pr")
    values = []
    for epoch in (1, 2):
        ctx = context(net, opt, batches(3, 10 * epoch), batches(3, 100 * epoch), epoch=epoch, epochs=2)
        method.train_epoch(ctx)
        values.append(method.epoch_fields()["pr_coefficient"])
    assert values == pytest.approx([2 / 5, 1.0])  # step index 2 of 0..5, then the last step
    method_e, net_e, opt_e = make("darts-prime-pr", pr_granularity="epoch")
    method_e.train_epoch(context(net_e, opt_e, batches(3, 10), batches(3, 100), epoch=1, epochs=3))
    assert method_e.coefficient == 0.0


def test_fimt_fields_and_trace_are_logged():
    method, net, opt = make("darts-prime")
    method.train_epoch(context(net, opt, batches(5, 0), batches(5, 50)))
    fields = method.epoch_fields()
    assert fields["fimt_threshold"] > 0 and fields["fimt_ema"] > 0
    assert len(fields["trace_fimt_ema"]) == len(fields["trace_arch_update"]) == 5  # per step, first epoch
    assert sum(fields["trace_arch_update"]) == method.arch_steps_total
    assert fields["trace_fimt_threshold"][-1] == fields["fimt_threshold"]
    assert fields["weight_steps_total"] == 5.0


def test_admm_state_updates_every_k_arch_steps():
    method, net, opt = make("darts-prime-admm", admm_every=2)
    z0 = {k: v.clone() for k, v in method.z.items()}
    ctx = context(net, opt, batches(1, 0), batches(1, 50))
    method.train_epoch(ctx)
    assert all(v.abs().max() == 0 for v in method.u.values()) and method.z.keys() == z0.keys()
    method.train_epoch(context(net, opt, batches(1, 1), batches(1, 51)))
    x = {k: v.detach() for k, v in method.relaxation.mixing_weights().items()}
    z, u = admm_update(x, {k: torch.zeros_like(v) for k, v in x.items()}, 0.8, method.projection)
    assert all(torch.allclose(method.u[k], u[k]) and torch.equal(method.z[k], z[k]) for k in x)


def test_resume_from_state_continues_identically():
    def run(split):
        method, net, opt = make("darts-prime")
        ctx1 = context(net, opt, batches(4, 0), batches(4, 40), epoch=1, epochs=2)
        method.train_epoch(ctx1)
        if split:
            state = {k: v for k, v in method.state_dict().items()}
            fresh, _, _ = make("darts-prime")
            fresh.load_state_dict(state)
            method = fresh
        method.train_epoch(context(net, opt, batches(4, 4), batches(4, 44), epoch=2, epochs=2))
        return method.relaxation.params["ops"].detach().clone(), method.schedule.h, method.arch_steps_total

    a, b = run(False), run(True)
    assert a[2] >= 2  # architecture steps happened in both epochs' schedules
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


def test_bad_option_is_a_config_error():
    with pytest.raises(ConfigError, match="pr_norm"):
        make("darts-prime", pr_norm="l1")


def test_schedule_fields_reach_the_store(tmp_path):
    from tests.smoke import run_tiny

    outcome, epochs = run_tiny("darts-prime", tmp_path)
    assert outcome.status == "finished", outcome.error
    first, second = epochs.iloc[1]["extra"], epochs.iloc[2]["extra"]
    for key in ("fimt_ema", "fimt_threshold", "pr_coefficient", "weight_steps_total"):
        assert key in first and key in second
    assert len(first["trace_arch_update"]) == epochs.iloc[1]["weight_steps"]  # Fig. 3's trace, first epoch only
    assert sum(first["trace_arch_update"]) == epochs.iloc[1]["arch_steps"]
    assert "trace_arch_update" not in second
    assert second["pr_coefficient"] == 1.0 and 0 < first["pr_coefficient"] < 1


def test_ten_to_one_schedules_split_the_data_90_91_to_9_09():
    from harness.specs import resolve_config

    for name in ("darts-prime", "darts-prime-cs10", "darts-prime-fimt"):
        assert resolve_config(name, "nb301", "paper")["train_portion"] == 0.9091, name
        assert resolve_config(name, "nb301", "paper", {"train_portion": 0.5})["train_portion"] == 0.5
    for name in ("darts-prime-pr", "darts-prime-admm", "darts"):
        assert resolve_config(name, "nb301", "paper")["train_portion"] == 0.5, name


def test_ten_to_one_run_trains_weights_on_90_91_percent_and_steps_the_architecture_on_the_rest(tmp_path):
    from harness.runner import RunEnvironment, SearchRun
    from harness.specs import RunSpec
    from results.store import Store
    from tests.conftest import SHARED_DATA, shared_file
    from tests.smoke import TINY, nb201_oracle_dir

    shared_file("cifar-10-batches-py/data_batch_1")
    spec = RunSpec.create("darts-prime-cs10", "nb201", "cifar10", "bilevel", 0, "quick",
                          {**TINY, "train_limit": 1100, "batch_size": 25})
    env = RunEnvironment(store=Store(tmp_path / "r.db"), data_root=SHARED_DATA,
                         oracle_dir=nb201_oracle_dir(tmp_path / "oracles"), checkpoint_dir=tmp_path / "ckpt",
                         device=torch.device("cpu"))
    run = SearchRun(spec, env)
    assert len(run.weight_stream.indices) == 1001 and len(run.arch_stream.indices) == 99  # ceil(0.9091 x 1100)
    assert run.steps_per_epoch == 1001 // 25  # an epoch is one pass over the weights' images
    assert sum(1 for _ in run.arch_stream.epoch(1, run.steps_per_epoch)) == 40  # 3 full batches per pass, 14 passes
    split = run.split_description  # the provenance record of runs.split
    assert split["description"].startswith("seeded stratified 90.91/9.09 split of the training set")
    assert (split["weights_images"], split["arch_images"]) == (1001, 99)

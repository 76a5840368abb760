"""Executors: option checking, local worker processes, a real Dask LocalCluster on loopback, Ray if installed.

Every grid runs tiny real searches (real CIFAR-10 subset, real NB201 table) and checks the store:
all runs finished, every epoch exactly once, and parallel results equal to in-process ones.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.executors import (
    DaskExecutor,
    InProcessExecutor,
    LocalExecutor,
    RayExecutor,
    plan,
    run_grid,
    slot_devices,
)
from nasbench_errors import ConfigError
from results.store import Store
from tests.dataset_fixtures import tiny_cifar10_root
from tests.grid_helpers import epochs_of, tiny_spec, tiny_task
from tests.smoke import nb201_oracle_dir


@pytest.fixture(scope="module")
def oracle_dir(tmp_path_factory):
    return nb201_oracle_dir(tmp_path_factory.mktemp("oracles"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"executor": "slurm"}, "unknown executor 'slurm'"),
    ({"jobs": 0}, "--jobs must be at least 1"),
    ({"runs_per_gpu": 0}, "--runs-per-gpu must be at least 1"),
    ({"scheduler": "tcp://h:8786"}, "--scheduler needs --executor dask or --executor ray"),
    ({"executor": "dask"}, "--executor dask needs --scheduler"),
    ({"executor": "dask", "scheduler": "tcp://h:8786", "jobs": 4}, "--jobs is for --executor local"),
    ({"executor": "ray", "gpus": "0"}, "--gpus is for --executor local"),
    ({"executor": "dask", "scheduler": "tcp://h:8786", "runs_per_gpu": 2}, "Dask workers own their GPUs"),
    ({"gpus": "0", "device": "cuda:1"}, "--gpus chooses the devices; drop --device cuda:1"),
    ({"runs_per_gpu": 2, "device": "cpu"}, "--runs-per-gpu conflicts with --device cpu"),
    ({"gpus": "0,x"}, "bad --gpus '0,x'"),
    ({"gpus": "1,1"}, "give distinct device indices"),
    ({"gpus": "0"}, "--gpus 0: this machine has 0 CUDA device(s)"),
    ({"runs_per_gpu": 2}, "--runs-per-gpu needs a GPU"),
])
def test_conflicting_or_impossible_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as info:
        plan(cuda_devices=0, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_plan_picks_the_executor_and_assigns_gpus_round_robin():
    assert isinstance(plan(cuda_devices=0).executor, InProcessExecutor)
    local = plan(jobs=3, cuda_devices=0, cpu_cores=4).executor
    assert isinstance(local, LocalExecutor) and local.devices == ["auto"] * 3
    two_gpus = plan(gpus="0,1", runs_per_gpu=2, cuda_devices=2).executor
    assert two_gpus.devices == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert plan(jobs=2, cuda_devices=2).executor.devices == ["cuda:0", "cuda:1"]  # all visible GPUs
    assert plan(jobs=3, runs_per_gpu=2, cuda_devices=2).executor.devices == ["cuda:0", "cuda:1", "cuda:0"]
    with pytest.raises(ConfigError, match="--jobs 3 exceeds 2 GPU"):
        plan(jobs=3, cuda_devices=2)  # several runs per GPU only when asked
    single = plan(gpus="1", cuda_devices=2)
    assert isinstance(single.executor, InProcessExecutor) and single.device == "cuda:1"
    assert slot_devices([3], 2, None) == ["cuda:3", "cuda:3"]
    with pytest.raises(ConfigError, match="exceeds 2 GPU"):
        slot_devices([0, 1], 1, 3)
    assert isinstance(plan("dask", scheduler="tcp://127.0.0.1:1").executor, DaskExecutor)
    ray = plan("ray", runs_per_gpu=4).executor
    assert isinstance(ray, RayExecutor) and ray.address is None and ray.runs_per_gpu == 4


def test_local_workers_give_the_in_process_results_and_a_nan_run_fails_alone(tmp_path, oracle_dir):
    """Three runs on two worker processes: one diverges (huge LR) and is recorded as failed with the
    reason; the others finish, each with exactly the rows of the same run executed in this process."""
    good = [tiny_spec("gaea-darts", 0), tiny_spec("darts", 1)]
    nan = tiny_spec("darts", 2, lr=1e8)
    store = tmp_path / "grid.db"
    tasks = [tiny_task(s, store, oracle_dir, tmp_path / "ckpt") for s in (good[0], nan, good[1])]
    outcomes = run_grid(tasks, LocalExecutor(["cpu", "cpu"], threads=1), Store(store))
    assert {o.run_id: o.status for o in outcomes} == {
        good[0].run_id: "finished", nan.run_id: "failed", good[1].run_id: "finished"}
    runs = Store(store).runs_df().set_index("run_id")
    assert runs.loc[nan.run_id, "status"] == "failed"
    assert "non-finite training loss" in runs.loc[nan.run_id, "error"]

    reference = tmp_path / "reference.db"
    ref_tasks = [tiny_task(s, reference, oracle_dir, tmp_path / "ref-ckpt") for s in good]
    assert [o.status for o in run_grid(ref_tasks, InProcessExecutor(), Store(reference))] == ["finished"] * 2
    for spec in good:
        parallel = epochs_of(store, spec.run_id)
        assert parallel["epoch"].tolist() == list(range(spec.epochs + 1))
        pd.testing.assert_frame_equal(parallel, epochs_of(reference, spec.run_id))


def _grid_checks(store, n_runs: int, epochs: int) -> None:
    st = Store(store, create=False)
    runs = st.runs_df()
    assert len(runs) == n_runs and set(runs["status"]) == {"finished"}
    assert set(runs["epochs_done"]) == {epochs}
    ep = st.epochs_df()
    assert len(ep) == n_runs * (epochs + 1) and not ep.duplicated(["run_id", "epoch"]).any()
    assert ep.groupby("run_id")["epoch"].apply(list).map(lambda e: e == list(range(epochs + 1))).all()
    lk = st.lookups_df()
    assert not lk.duplicated(["run_id", "epoch", "dataset", "split", "budget", "stat"]).any()
    # a cell is looked up at each epoch that derived one; epoch 0 derives none while the architecture is still
    # tied (GAEA's uniform simplex), and every epoch after an architecture step derives one
    derived = ep[ep["arch"].notna()].groupby("run_id")["epoch"].apply(set).to_dict()
    assert lk.groupby("run_id")["epoch"].apply(set).to_dict() == derived
    assert len(derived) == n_runs and all(set(range(1, epochs + 1)) <= e for e in derived.values())


TINY_CLI = ["--profile", "quick", "--set", "C=4", "--set", "train_limit=256", "--set", "batch_size=32",
            "--set", "eval_limit=64", "--set", "epochs=2", "--no-progress"]


def test_dask_local_cluster_runs_a_grid_into_one_sqlite_store(tmp_path, oracle_dir, monkeypatch):
    """A real Dask LocalCluster (2 worker processes on loopback) runs a 4-run grid through the CLI."""
    distributed = pytest.importorskip("distributed")
    tiny_spec()  # skips without the real data
    monkeypatch.setenv("HARNESS_DATA_ROOT", str(tiny_cifar10_root()))
    monkeypatch.setenv("HARNESS_ORACLE_DIR", str(oracle_dir))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    store = tmp_path / "dask.db"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        result = CliRunner().invoke(app, ["run", "--methods", "darts,gaea-darts", "--seeds", "2", "--store",
                                          str(store), "--executor", "dask", "--scheduler", cluster.scheduler_address,
                                          *TINY_CLI])
    assert result.exit_code == 0, result.output
    assert "with the dask executor" in result.output
    _grid_checks(store, n_runs=4, epochs=2)
    assert Store(store).runs_df()["host"].notna().all()


def test_dask_scheduler_that_cannot_be_reached_is_a_one_line_error(tmp_path, oracle_dir):
    pytest.importorskip("distributed")
    spec = tiny_spec()
    task = tiny_task(spec, tmp_path / "s.db", oracle_dir, tmp_path / "ckpt")
    executor = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2)  # the discard port: nothing listens
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_grid([task], executor, Store(tmp_path / "s.db"))
    assert Store(tmp_path / "s.db").run_status([spec.run_id]) == {}  # nothing recorded


def test_ray_runs_a_grid_when_installed(tmp_path, oracle_dir):
    pytest.importorskip("ray", reason="ray is optional: pip install 'nasbench-harness[ray]'")
    specs = [tiny_spec("darts", 0), tiny_spec("gaea-darts", 0)]
    store = tmp_path / "ray.db"
    tasks = [tiny_task(s, store, oracle_dir, tmp_path / "ckpt") for s in specs]
    outcomes = run_grid(tasks, RayExecutor(None), Store(store))
    assert sorted(o.status for o in outcomes) == ["finished", "finished"]
    _grid_checks(store, n_runs=2, epochs=2)

"""Many workers on one PostgreSQL study (a real server, see tests/servers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from perpml.tuning.spaces import get_spec
from perpml.tuning.storage import close_storage, open_storage
from perpml.tuning.study import run_study

pytestmark = pytest.mark.postgres

SRC = str(Path(__file__).resolve().parents[2] / "src")

# A worker on small synthetic data: waits for GO so both workers start together.
WORKER = """
import os, sys, time
import numpy as np, pandas as pd
from perpml.tuning import TuningOptions, tune_model
url, go, ready = sys.argv[1:4]
rng = np.random.default_rng(42)
n = 700
index = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
X = pd.DataFrame(rng.normal(size=(n, 5)), index=index, columns=list("abcde"))
y = pd.Series(np.digitize(X["a"] + rng.normal(size=n), [-0.5, 0.5]), index=index)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
r = tune_model("xgb_classifier", X.iloc[:550], y.iloc[:550], X.iloc[550:],
               y.iloc[550:], n_trials=10, storage=url, study_name="shared",
               options=TuningOptions(n_jobs=1, heartbeat_interval=1))
print("RAN", r.n_run_here, r.n_trials)
"""

# A worker whose trial hangs until it is killed.
HANGING = """
import sys, time
from perpml.tuning.spaces import get_spec
from perpml.tuning.study import run_study
url, flag = sys.argv[1:3]
spec = get_spec("xgb_classifier")
def objective(trial):
    spec.suggest(trial)
    open(flag, "w").close()
    time.sleep(300)
    return 0.0
run_study(objective, spec, n_trials=1, storage=url, study_name="killed",
          heartbeat_interval=1, grace_period=2)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)


def test_two_workers_share_one_study(postgres_db, tmp_path):
    url = postgres_db.replace("postgresql+psycopg://", "postgresql://")
    go = tmp_path / "go"
    procs = []
    for i in range(2):
        ready = tmp_path / f"ready{i}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, url, str(go), str(ready)],
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for i, proc in enumerate(procs):
        _wait_for(tmp_path / f"ready{i}", proc)
    go.touch()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    storage = open_storage(url)
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.trials
    close_storage(storage)
    finished = [t for t in trials if t.state.is_finished()]
    # The cap holds across workers (at most one trial over, the other's last one).
    assert 10 <= len(finished) <= 11
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2, workers
    ran = [int(out.split("RAN")[1].split()[0]) for out, _ in outputs]
    assert all(n > 0 for n in ran) and sum(ran) == len(trials)


def test_a_killed_worker_leaves_a_failed_trial_not_a_running_one(postgres_db, tmp_path):
    flag = tmp_path / "in_trial"
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING, postgres_db, str(flag)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(flag, proc)
        storage = open_storage(postgres_db, heartbeat_interval=1, grace_period=2)
        study = optuna.load_study(study_name="killed", storage=storage)
        assert study.trials[0].state.name == "RUNNING"
        close_storage(storage)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    time.sleep(3)  # > grace period: the dead worker's heartbeat is stale
    spec = get_spec("xgb_classifier")

    def objective(trial: optuna.trial.Trial) -> float:
        spec.suggest(trial)
        return 0.5

    result = run_study(
        objective,
        spec,
        n_trials=2,
        storage=postgres_db,
        study_name="killed",
        heartbeat_interval=1,
        grace_period=2,
    )
    states = [t.state.name for t in result.study.trials]
    close_storage(result.study._storage)
    assert states[0] == "FAIL"
    assert "RUNNING" not in states
    assert result.n_failed == 1 and result.n_complete == 2

"""Numerical guards: a NaN or infinite value stops training with a clear error and keeps
the last good checkpoint.

- Injected at update 3 (checkpoints every 2 updates), at each place a divergence shows:
  a NaN TD loss, an infinite TD loss, an infinite gradient norm, a NaN Q value while
  acting (where a real divergence shows first, see the last test). Each stops training with
  `TrainingDivergedError` (a `QragInputError`: one line from `kedro run`) that names
  the update, the fix and the last good checkpoint (update-00000002); no later
  checkpoint is written, every tensor of that one is finite, and rerunning once the
  fault is gone resumes from it and ends like an uninterrupted run (weights within
  1e-6; CPU, one thread).
- A NaN loss leaves the learner as it was before the update: weights and AdamW state
  unchanged (checked before the optimiser step).
- Through Kedro (train_q, loss NaN at update 3): the run fails, writes no model or
  curve, and its run folder keeps update-00000002.
- Through `kedro run`: a learning rate of 1e30 really diverges (the Q values become
  NaN at update 2): exit status 1, the one-line error, no traceback, no model or
  curve, the run folder keeps update-00000001 with finite weights.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from qrag_pipeline.checkpoints import load_checkpoint
from qrag_pipeline.cli_hooks import input_error_in
from qrag_pipeline.errors import QragInputError, TrainingDivergedError
from qrag_pipeline.locks import LOCK_FILE
from qrag_pipeline.rl import learner as learner_module
from qrag_pipeline.rl.learner import QLearner
from tests.conftest import TINY_LEARNING, train_tiny
from tests.projects import kedro_cli, make_project, run_stage, single_torch_thread

FAULTY_UPDATE = 3


def _train(make_tiny_network, training_data, run_dir: Path | None):
    with single_torch_thread():
        return train_tiny(make_tiny_network, training_data, run_dir)


def _at_faulty_update(learner: QLearner) -> bool:
    return learner.updates == FAULTY_UPDATE - 1  # the update in progress is updates + 1


def inject(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make update 3 meet a non-finite value at `where`."""
    current: dict[str, QLearner] = {}
    update = QLearner.update

    def tracked_update(self: QLearner) -> dict:
        current["learner"] = self
        return update(self)

    def faulty() -> bool:
        return _at_faulty_update(current["learner"])

    monkeypatch.setattr(QLearner, "update", tracked_update)
    if where in ("loss_nan", "loss_inf"):
        td_loss = learner_module.td_loss
        bad = math.nan if where == "loss_nan" else math.inf
        monkeypatch.setattr(learner_module, "td_loss", lambda *a: td_loss(*a) * (bad if faulty() else 1.0))
    elif where == "grad_norm_inf":
        clip = torch.nn.utils.clip_grad_norm_
        monkeypatch.setattr(
            torch.nn.utils, "clip_grad_norm_", lambda *a, **k: clip(*a, **k) * (math.inf if faulty() else 1.0)
        )
    elif where == "q_value_nan":
        twin_q = QLearner._twin_q

        def faulty_twin_q(self, network, *args):
            q1, q2, available, lexical = twin_q(self, network, *args)
            return (
                (q1 * math.nan, q2, available, lexical)
                if faulty() and network is self.network
                else (q1, q2, available, lexical)
            )

        monkeypatch.setattr(QLearner, "_twin_q", faulty_twin_q)


WHERE = {
    "loss_nan": "the loss is nan",
    "loss_inf": "the loss is inf",
    "grad_norm_inf": "the gradient norm is inf",
    "q_value_nan": "a Q value is nan",
}


@pytest.mark.parametrize("where", list(WHERE))
def test_a_non_finite_value_stops_training_and_keeps_the_last_good_checkpoint(
    where: str, make_tiny_network, training_data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject(where, monkeypatch)
    with pytest.raises(TrainingDivergedError) as raised:
        _train(make_tiny_network, training_data, tmp_path)
    monkeypatch.undo()

    message = str(raised.value)
    assert isinstance(raised.value, QragInputError) and raised.value.update == FAULTY_UPDATE
    assert message.startswith(f"training diverged: {WHERE[where]} at update {FAULTY_UPDATE} ")
    assert "Fix: lower train_q.learning.learning_rate" in message
    good = tmp_path / "update-00000002"
    assert f"The last good checkpoint of this run stays in {str(good)!r}" in message
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != LOCK_FILE) == ["update-00000002"]
    saved = load_checkpoint(good)
    assert all(torch.isfinite(t).all() for t in (*saved.weights.values(), *saved.training_tensors.values()))

    resumed = _train(make_tiny_network, training_data, tmp_path)  # the fault is gone
    reference = _train(make_tiny_network, training_data, None)
    assert resumed.curves["update"].tolist() == [2, 4]
    for (name, a), b in zip(
        reference.network.state_dict().items(), resumed.network.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, rtol=0, atol=1e-6), name


def test_a_nan_loss_leaves_the_learner_as_it_was(
    make_tiny_network, training_data, monkeypatch: pytest.MonkeyPatch
) -> None:
    sampler, _ = training_data
    learner = QLearner(make_tiny_network(seed=11), sampler, TINY_LEARNING, torch.device("cpu"))
    learner.update()
    learner.update()
    weights = {k: v.clone() for k, v in learner.network.state_dict().items()}
    target = {k: v.clone() for k, v in learner.target.state_dict().items()}
    moments = {k: v.clone() for k, v in learner.state_dict()[0].items() if k.startswith("optimizer.")}
    td_loss = learner_module.td_loss
    monkeypatch.setattr(learner_module, "td_loss", lambda *a: td_loss(*a) * math.nan)

    with pytest.raises(TrainingDivergedError, match="the loss is nan at update 3"):
        learner.update()

    assert learner.updates == 2
    assert all(torch.equal(v, weights[k]) for k, v in learner.network.state_dict().items())
    assert all(torch.equal(v, target[k]) for k, v in learner.target.state_dict().items())
    after = learner.state_dict()[0]
    assert all(torch.equal(after[k], v) for k, v in moments.items())


def test_kedro_train_q_with_a_nan_loss_fails_cleanly(
    prepared_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "project", data_from=prepared_project)
    inject("loss_nan", monkeypatch)

    with pytest.raises(Exception) as raised:  # noqa: PT011 - checked below
        run_stage(project, "train_q")  # tiny: 4 updates, a checkpoint every 2

    error = input_error_in(raised.value)
    assert isinstance(error, TrainingDivergedError) and "the loss is nan at update 3" in str(error)
    assert not list(project.glob("data/06_models/q_embedder_checkpoint/*"))
    assert not list(project.glob("data/08_reporting/training_curves.csv/*"))
    (run_dir,) = (project / "data/06_models/train_q_runs").iterdir()
    assert sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) == ["update-00000002"]


def test_kedro_run_with_a_diverging_learning_rate_ends_on_one_clear_error(
    prepared_project: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project", data_from=prepared_project)
    done = kedro_cli(
        project,
        "--pipelines",
        "train_q",
        "--params",
        "train_q.learning.learning_rate=1e30,train_q.checkpoint_every=1,train_q.device=cpu",
    )

    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout
    last_line = done.stderr.strip().splitlines()[-1]
    assert re.match(
        r"Error: training diverged: (a Q value|the TD loss|the gradient norm) is (nan|-?inf) at update 2 ",
        last_line,
    )
    assert "Fix: lower train_q.learning.learning_rate" in last_line
    (run_dir,) = (project / "data/06_models/train_q_runs").iterdir()
    assert sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) == ["update-00000001"]
    assert f"stays in '{Path('data/06_models/train_q_runs') / run_dir.name / 'update-00000001'}'" in last_line
    saved = load_checkpoint(run_dir / "update-00000001")
    assert all(torch.isfinite(t).all() for t in saved.weights.values())
    assert not list(project.glob("data/06_models/q_embedder_checkpoint/*"))
    assert not list(project.glob("data/08_reporting/training_curves.csv/*"))

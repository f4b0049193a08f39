"""NaN and infinity stop a run as `failed` with a hint (core/methods/finite.py): a non-finite
gradient before the optimizer step, a non-finite logged loss or grad_norm (fp16's skipped
overflow steps excepted), and no checkpoint or final model with non-finite weights is ever
marked complete or saved."""
import math
from types import SimpleNamespace

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

from core.methods.callbacks import CheckpointMarker
from core.methods.common import save_final
from core.methods.finite import FiniteGuard, NotFiniteError
from core.methods.pairwise import PairwiseTrainer
from core.runs.failure import explain
from core.runs.info import RunInfo
from core.runs.rundir import MARKER, RunDir
from core.training.run import run

HINT = ("lower learning_rate", "bf16 instead of fp16", "per_device_train_batch_size", "cutoff_len")


def nan_loss_at(step: int, monkeypatch) -> None:
    """The loss of training step `step` (1-based) becomes NaN, as overflowing numbers do."""
    real = PairwiseTrainer.compute_loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = real(self, model, inputs, return_outputs, num_items_in_batch)
        return loss * math.nan if model.training and self.state.global_step == step - 1 else loss

    monkeypatch.setattr(PairwiseTrainer, "compute_loss", compute_loss)


def assert_failed_with_hint(rd: RunDir, step: int) -> str:
    status = rd.status()
    assert status["state"] == "failed" and status["exit_code"] == 2
    error = status["error"]
    assert error.startswith("NotFiniteError: learning_rate: ") and f"at step {step}" in error
    assert all(h in error for h in HINT), error
    return error


def test_a_nan_loss_stops_before_the_optimizer_step(tiny_model, tmp_path, monkeypatch):
    nan_loss_at(2, monkeypatch)
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=4, save_steps=1)
    with pytest.raises(NotFiniteError, match="the gradient of .* is NaN or infinite at step 2"):
        run(cfg)
    rd = RunDir(cfg.output_dir)
    assert "gradient" in assert_failed_with_hint(rd, 2)
    assert [(c.step, c.complete) for c in rd.checkpoints()] == [(1, True)]
    assert not rd.has_final_model()
    weights = load_file(rd.path / "checkpoint-1" / "adapter_model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert [m["step"] for m in rd.metrics() if "loss" in m] == [1]  # step 2 never logged 0.0

    failure = explain(RunInfo("run", rd.path, "failed", step=1, error=rd.status()["error"]), "")
    assert failure.headline.startswith("learning_rate: the gradient of ")  # the Runs tab's line
    assert (failure.key, failure.change) == ("learning_rate", "lower")


def test_a_nan_logged_loss_is_shown_and_stops_the_run(tiny_model, tmp_path, monkeypatch):
    """Without the gradient check the NaN reaches the weights; the Trainer's nan filter, which
    logged a NaN loss as the earlier average (the issue's `loss 0.0`), is off, so the logged
    NaN stops the run."""
    monkeypatch.setattr(FiniteGuard, "on_pre_optimizer_step", lambda *a, **k: None)
    nan_loss_at(2, monkeypatch)
    cfg = tiny_config(tiny_model, tmp_path / "run", max_steps=4, save_steps=1)
    with pytest.raises(NotFiniteError, match="the logged loss is nan at step 2"):
        run(cfg)
    rd = RunDir(cfg.output_dir)
    assert_failed_with_hint(rd, 2)
    assert [(c.step, c.complete) for c in rd.checkpoints()] == [(1, True)]
    assert not rd.has_final_model()


def args(fp16: bool) -> SimpleNamespace:
    return SimpleNamespace(fp16=fp16)


def test_fp16_skipped_steps_pass_and_everything_else_stops():
    guard, state = FiniteGuard(), SimpleNamespace(global_step=7)
    guard.on_log(args(True), state, None, logs={"loss": 0.5, "grad_norm": math.inf})  # skipped
    guard.on_log(args(True), state, None, logs={"loss": 0.5, "grad_norm": math.nan})
    with pytest.raises(NotFiniteError, match="grad_norm is inf at step 7"):
        guard.on_log(args(False), state, None, logs={"loss": 0.5, "grad_norm": math.inf})
    with pytest.raises(NotFiniteError, match="loss is nan at step 7"):
        guard.on_log(args(True), state, None, logs={"loss": math.nan, "grad_norm": 1.0})
    guard.on_log(args(False), state, None, logs={"eval_loss": 1.0, "loss": 0.3, "grad_norm": 2.0})

    model = torch.nn.Linear(2, 2)
    model.weight.grad = torch.full((2, 2), math.inf)
    guard.on_pre_optimizer_step(args(True), state, None, model=model)  # the scaler skips it
    with pytest.raises(NotFiniteError, match="the gradient of weight is NaN or infinite at step 8"):
        guard.on_pre_optimizer_step(args(False), state, None, model=model)
    model.weight.grad = torch.ones(2, 2)
    guard.on_pre_optimizer_step(args(False), state, None, model=model)


def test_no_checkpoint_with_non_finite_weights_is_marked_complete(tmp_path):
    folder = tmp_path / "checkpoint-5"
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_bytes(b"saved")
    model = torch.nn.Linear(2, 2)
    marker = CheckpointMarker()
    save = dict(args=SimpleNamespace(output_dir=str(tmp_path), should_save=True),
                state=SimpleNamespace(global_step=5), control=None)
    with torch.no_grad():
        model.bias[1] = math.nan
    with pytest.raises(NotFiniteError, match="checkpoint-5 not marked complete: the weight bias"):
        marker.on_save(**save, model=model)
    assert not (folder / MARKER).exists()
    assert not RunDir(tmp_path).checkpoints()[0].complete

    model.bias.requires_grad_(False)  # a frozen weight is not what training wrote
    marker.on_save(**save, model=model)
    assert RunDir(tmp_path).checkpoints()[0].complete


def test_the_final_model_is_not_saved_with_non_finite_weights(tmp_path, tokenizer):
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = -math.inf
    with pytest.raises(NotFiniteError, match="the final model not saved: the weight weight is "
                                        "NaN or infinite at step 9"):
        save_final(model, tokenizer, RunDir(tmp_path / "run"), 9)
    assert not (tmp_path / "run").exists()

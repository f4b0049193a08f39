"""A checkpoint's COMPLETE marker holds each file's blake2b digest: a checkpoint corrupted at
the same size is skipped (resume=true) or refused (named) with the file it concerns, never
loaded; an old marker without digests is checked by size, and a file torch cannot read safely
is named without torch's weights_only=False advice. A resume whose max_steps lies below the
checkpoint's step (or equal to it) is refused before anything launches."""
import json

import pytest
from conftest import tiny_config

from core.errors import UserError
from core.models.spec import run_model_spec
from core.runs.manager import RunManager
from core.runs.rundir import MARKER, file_digest
from core.training.run import run


def flip(path, offset: int = -40) -> None:
    """Change 8 bytes in place: the size stays, the content does not."""
    data = bytearray(path.read_bytes())
    data[offset:offset + 8] = bytes(255 - b for b in data[offset:offset + 8])
    path.write_bytes(bytes(data))


@pytest.fixture
def three(tiny_model, tmp_path):
    """A finished 3-step run with a checkpoint at every step."""
    cfg = tiny_config(tiny_model, tmp_path / "saves" / "run", save_steps=1)
    return cfg, run(cfg)


def test_the_marker_holds_a_digest_of_every_file(three):
    _, rd = three
    folder = rd.path / "checkpoint-3"
    marker = json.loads((folder / MARKER).read_text())
    assert set(marker["blake2b"]) == set(marker["files"]) >= {"adapter_model.safetensors",
                                                              "optimizer.pt", "trainer_state.json"}
    assert all(marker["blake2b"][n] == file_digest(folder / n) for n in marker["files"])


def test_a_checkpoint_corrupted_at_the_same_size_is_skipped(three, caplog):
    caplog.set_level("INFO")
    cfg, rd = three
    flip(rd.path / "checkpoint-3" / "adapter_model.safetensors")
    assert all(c.complete for c in rd.checkpoints())  # the size check alone cannot tell
    with pytest.raises(UserError, match="checkpoint-3 is incomplete \\(adapter_model.safetensors "
                                        "is corrupt: its content differs"):
        run(cfg.replace(resume_from_checkpoint=str(rd.path / "checkpoint-3"), max_steps=4))
    # loading the run for chat or export passes over it too
    run_model_spec(rd.path / "checkpoint-2")  # a sound one loads
    with pytest.raises(UserError, match="adapter_model.safetensors is corrupt"):
        run_model_spec(rd.path / "checkpoint-3")

    resumed = run(cfg.replace(resume_from_checkpoint=True, max_steps=4))
    log = resumed.log_file.read_text()
    assert "checkpoint-3: adapter_model.safetensors is corrupt" in log
    assert f"Resuming from {rd.path / 'checkpoint-2'}" in log
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 4
    assert "weights_only" not in log


def test_every_checkpoint_corrupt_is_a_clear_refusal(three):
    cfg, rd = three
    for c in rd.checkpoints():
        flip(c.path / "optimizer.pt")
    with pytest.raises(UserError, match="no sound checkpoint in .*checkpoint-3: optimizer.pt is "
                                        "corrupt.*checkpoint-1: optimizer.pt is corrupt"):
        run(cfg.replace(resume_from_checkpoint=True, max_steps=4))


def test_an_old_marker_checks_sizes_and_a_torn_file_is_named_without_unsafe_advice(three):
    cfg, rd = three
    folder = rd.path / "checkpoint-3"
    marker = json.loads((folder / MARKER).read_text())
    del marker["blake2b"]  # as markers were written before
    (folder / MARKER).write_text(json.dumps(marker))
    optimizer = folder / "optimizer.pt"
    flip(optimizer, optimizer.read_bytes().find(b"data.pkl") + 48)  # the pickle itself
    with pytest.raises(UserError) as e:
        run(cfg.replace(resume_from_checkpoint=True, max_steps=4))
    message = str(e.value)
    assert message.startswith(f"resume_from_checkpoint: {optimizer} is corrupt and cannot be "
                              "read safely (it holds something other than plain tensors)")
    assert "weights_only" not in message and "False" not in message
    status = rd.status()
    assert status["state"] == "failed" and "weights_only" not in status["error"]


@pytest.mark.parametrize("max_steps", [2, 3])
def test_max_steps_not_above_the_checkpoint_is_refused_before_launch(three, max_steps):
    cfg, rd = three
    refusal = (f"max_steps: {max_steps} is not above the step of checkpoint-3 \\(3\\), so "
               "resuming would train nothing")
    with pytest.raises(UserError, match=refusal):
        run(cfg.replace(resume_from_checkpoint=True, max_steps=max_steps))
    rd.update_status(state="aborted")  # the Runs tab's Resume with an override
    manager = RunManager(rd.path.parent)
    with pytest.raises(UserError, match=refusal):
        manager.resume("run", overrides=[f"max_steps={max_steps}"])
    assert rd.status()["state"] == "aborted"  # nothing was queued
    resumed = run(cfg.replace(resume_from_checkpoint=True, max_steps=4))
    assert resumed.status()["state"] == "completed" and resumed.status()["step"] == 4

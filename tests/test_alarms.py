"""Live alarms: synthetic metric streams (as metrics.jsonl holds them) fire the alarm they
describe, near misses fire nothing; a real tiny DPO run at learning rate 1e-9 lists `stuck` in
status.json, and with stop_on_alarm stops there (aborted, resumable) and resumes to the end."""
import math
import random

import pytest
from conftest import tiny_config

from core.config import RunConfig
from core.runs.alarms import LN2, Alarm, Kind, Monitor, check, listed
from core.runs.info import inspect_run
from core.runs.rundir import RunDir
from core.training.run import run

LOSSES = {  # the loss at a pair margin m = beta * h (ipo takes h itself)
    "sigmoid": lambda m, beta: math.log1p(math.exp(-m)),
    "robust": lambda m, beta: math.log1p(math.exp(-m)),
    "hinge": lambda m, beta: max(0.0, 1 - m),
    "ipo": lambda m, beta: (m / beta - 1 / (2 * beta)) ** 2,
}


def pair(step, chosen, rejected, beta=0.1, loss="sigmoid", ref=(-150.0, -160.0), grad=1.0,
         **extra):
    """One logged train record from the policy/reference log-ratios (nats) of both answers."""
    margin = beta * (chosen - rejected)
    record = {"step": step, "loss": LOSSES[loss](margin, beta), "grad_norm": grad, "beta": beta,
              "rewards/chosen": beta * chosen, "rewards/rejected": beta * rejected,
              "rewards/margins": margin, "rewards/accuracies": 1 / (1 + math.exp(-margin)),
              "logps/chosen": ref[0] + chosen, "logps/rejected": ref[1] + rejected}
    record.update(extra)
    return record


def healthy(loss="sigmoid", steps=200, every=5, beta=0.1, seed=0):
    """A healthy run: loss from its start down, chosen log-probs steady, rejected falling,
    noisy batches and grad norms, falling eval loss."""
    rnd = random.Random(seed)
    out = []
    for step in range(every, steps + 1, every):
        grow = step / steps
        chosen = rnd.gauss(0.5 * grow, 0.3)
        rejected = -7 * grow + rnd.gauss(0, 0.3)
        out.append(pair(step, chosen, rejected, beta, loss, grad=rnd.uniform(0.5, 3.0)))
        if step % 25 == 0:
            out.append({"step": step, "eval_loss": 0.69 - 0.2 * grow + rnd.gauss(0, 0.005)})
    return out


def ids(alarms):
    return [a.id for a in alarms]


@pytest.mark.parametrize("loss", LOSSES)
def test_healthy_runs_fire_nothing(loss):
    records = healthy(loss)
    assert check(records, 200, Kind("dpo", loss)) == []
    if loss == "sigmoid":  # the loss really goes 0.69 -> ~0.4 with rising margins
        assert records[0]["loss"] == pytest.approx(LN2, abs=0.06) and records[-2]["loss"] < 0.45


def test_stuck_fires_after_the_larger_of_10_steps_and_10_percent():
    tiny = [pair(s, 1e-6 * (-1) ** s, 2e-6) for s in range(1, 60)]
    [alarm] = check(tiny, 100, Kind())
    assert (alarm.id, alarm.severity, alarm.step) == ("stuck", "warning", 10)
    assert "ln 2 = 0.6931" in alarm.seen and "loss is 0.6931" in alarm.seen
    assert "learning_rate" in alarm.advice
    assert check(tiny, 300, Kind())[0].step == 30  # 10% of 300
    assert check(tiny, 40, Kind())[0].step == 10  # never before step 10
    assert check(tiny[:9], 100, Kind()) == []  # not yet judged


def test_stuck_near_misses():
    # a short noisy start: still at the reference for 8 steps, then moving
    start = [pair(s, 1e-5, -1e-5) for s in range(1, 9)]
    moving = [pair(s, 0.01 * s, -0.05 * s) for s in range(9, 60)]
    assert check(start + moving, 100, Kind()) == []
    # reference-free losses have nothing batch-independent to measure: never stuck
    flat = [{"step": s, "loss": 2.0, "rewards/chosen": -0.15, "rewards/rejected": -0.16,
             "rewards/margins": 0.01, "logps/chosen": -1.5, "logps/rejected": -1.6}
            for s in range(1, 60)]
    assert check(flat, 100, Kind("dpo", "simpo")) == check(flat, 100, Kind("dpo", "orpo")) == []
    # sft logs no rewards
    assert check([{"step": s, "loss": 1.2, "grad_norm": 1.0} for s in range(1, 60)], 100,
                 Kind("sft", None)) == []


def test_stuck_names_each_losses_start_and_masked_answers():
    hinge = [pair(s, 0.0, 0.0, loss="hinge") for s in range(1, 12)]
    assert "1 = 1.0000" in check(hinge, 100, Kind("dpo", "hinge"))[0].seen
    ipo = [pair(s, 0.0, 0.0, beta=0.5, loss="ipo") for s in range(1, 12)]
    assert "1/(4 beta^2) = 1.0000" in check(ipo, 100, Kind("dpo", "ipo", beta=0.5))[0].seen
    masked = [pair(s, 0.0, 0.0, ref=(0.0, 0.0)) for s in range(1, 12)]
    assert "no answer token is scored" in check(masked, 100, Kind())[0].seen


def test_too_easy_in_the_first_5_percent_only():
    easy = pair(2, 20.0, -25.0)  # margin 4.5: loss 0.011
    easy["rewards/accuracies"] = 1.0
    [alarm] = check([easy], 200, Kind())
    assert (alarm.id, alarm.step) == ("too_easy", 2) and "0.0110" in alarm.seen
    late = {**easy, "step": 40}  # converging late in a run is what training is for
    assert check([late], 200, Kind()) == []
    assert check([{**easy, "loss": 0.2}], 200, Kind()) == []  # not near 0
    assert check([{**easy, "rewards/accuracies": 0.9}], 200, Kind()) == []
    assert check([{**easy, "loss": 0.0}], 200, Kind("dpo", "ipo")) == []  # 0 is ipo's target
    assert ids(check([{"step": 1, "loss": 0.01, "rewards/accuracies": 1.0}], 100,
                     Kind("rm", None))) == ["too_easy"]


def test_too_easy_leaves_out_the_sft_term():
    record = {**pair(2, 20.0, -25.0), "rewards/accuracies": 1.0}
    record.update(loss=record["loss"] + 0.5 * 1.2, sft_loss=1.2)  # pref_ftx 0.5
    assert ids(check([record], 200, Kind(ftx=0.5))) == ["too_easy"]
    assert check([record], 200, Kind()) == []  # without pref_ftx the loss is 0.61


def test_displacement_chosen_falling_while_margins_rise():
    records = [pair(s, -0.8 * s, -1.5 * s) for s in range(1, 40)]
    [alarm] = check(records, 100, Kind())
    # the last 3 of 6 records average -0.8 * (s - 1) nats: 10% of 150 at step 20
    assert (alarm.id, alarm.step) == ("displacement", 20)
    assert "-150.0" in alarm.seen and "set pref_ftx" in alarm.advice
    assert "raise pref_ftx from 0.5" in check(records, 100, Kind(ftx=0.5))[0].advice


def test_displacement_near_misses():
    small = [pair(s, -0.2 * s, -1.5 * s) for s in range(1, 40)]  # falls 5% of 150 by step 39
    assert check(small, 100, Kind()) == []
    both_down = [pair(s, -0.8 * s, -0.6 * s) for s in range(1, 40)]  # margins fall too
    assert "displacement" not in ids(check(both_down, 100, Kind()))
    displaced = [pair(s, -0.8 * s, -1.5 * s) for s in range(1, 40)]
    assert check(displaced, 100, Kind("dpo", "simpo")) == []  # no reference to measure it by


def test_diverging_loss_far_above_its_start():
    records = [pair(s, 0.1 * s, -0.1 * s) for s in range(1, 6)]
    one_bad = records + [pair(6, -25.0, 0.0), pair(7, 0.5, -0.5)]  # loss 2.58 once
    assert check(one_bad, 100, Kind()) == []
    two_bad = records + [pair(6, -25.0, 0.0), pair(7, -30.0, 0.0)]
    [alarm] = check(two_bad, 100, Kind())
    assert (alarm.id, alarm.severity, alarm.step) == ("diverging", "error", 7)
    assert "ln 2 = 0.6931" in alarm.seen and "learning_rate" in alarm.advice
    assert "fp16" in alarm.advice
    # an SFT loss of 2.5 is ordinary
    assert check([{"step": s, "loss": 2.5, "grad_norm": 1.0} for s in range(1, 20)], 100,
                 Kind("sft", None)) == []


def test_a_separate_reference_model_counts_from_the_first_logged_values():
    # the reference prefers the chosen answers far more than the policy does: the loss starts
    # at 2.5 and the chosen log-ratio at -25; then the margin slowly improves as usual
    records = [pair(s, -25.0 - 0.1 * s, -0.5 * s) for s in range(1, 40)]
    assert records[0]["loss"] > 2.5
    assert records[-1]["rewards/margins"] > records[0]["rewards/margins"]
    assert check(records, 100, Kind(anchored=False)) == []
    assert ids(check(records, 100, Kind())) == ["diverging", "displacement"]
    assert Kind.of(RunConfig(ref_model="some/model")) == Kind(anchored=False)
    assert Kind.of(RunConfig(stage="sft", pref_loss="ipo")) == Kind("sft", None)
    assert Kind.of(RunConfig(pref_loss="ipo", pref_ftx=0.5, pref_beta=0.3)) == Kind(
        "dpo", "ipo", 0.5, 0.3)


def test_diverging_margins_and_grad_spikes():
    records = [pair(s, 0.1 * s, -0.1 * s) for s in range(1, 6)]
    [alarm] = check(records + [pair(6, 10.0, -600.0)], 100, Kind())  # margin 61
    assert (alarm.id, alarm.step) == ("diverging", 6) and "61.0" in alarm.seen
    spike = check(records + [pair(6, 0.6, -0.6, grad=15.0)], 100, Kind())
    assert [(a.id, a.severity, a.step) for a in spike] == [("grad_spike", "warning", 6)]
    assert "15x the median 1" in spike[0].seen
    assert check(records + [pair(6, 0.6, -0.6, grad=4.0)], 100, Kind()) == []
    assert check(records[:3] + [pair(4, 0.6, -0.6, grad=15.0)], 100, Kind()) == []  # too few
    sft = [{"step": s, "loss": 1.0, "grad_norm": 0.5} for s in range(1, 8)]
    assert ids(check(sft + [{"step": 8, "loss": 1.0, "grad_norm": 9.0}], 100,
                     Kind("sft", None))) == ["grad_spike"]


def test_not_finite_fires_once_and_stays_listed():
    records = [pair(s, 0.1 * s, -0.1 * s) for s in range(1, 4)]
    nan = [{**pair(4, 0.4, -0.4), "loss": math.nan}, {**pair(5, 0.5, -0.5), "loss": math.nan}]
    monitor = Monitor(100, Kind())
    fired = [monitor.feed(r) for r in records + nan]
    assert [ids(f) for f in fired] == [[], [], [], ["not_finite"], []]
    [alarm] = monitor.alarms
    assert (alarm.severity, alarm.step) == ("error", 4) and "loss is NaN" in alarm.seen
    sft = [{"step": 1, "loss": 1.0}, {"step": 2, "eval_loss": math.inf}]
    assert ids(check(sft, 10, Kind("sft", None))) == ["not_finite"]


def test_one_inf_grad_norm_is_a_loss_scaler_skipping_a_step():
    records = [pair(s, 0.1 * s, -0.1 * s) for s in range(1, 6)]
    one = records + [pair(6, 0.6, -0.6, grad=math.inf), pair(7, 0.7, -0.7)]
    assert check(one, 100, Kind()) == []
    two = records + [pair(6, 0.6, -0.6, grad=math.inf), pair(7, 0.7, -0.7, grad=math.nan)]
    [alarm] = check(two, 100, Kind())
    assert (alarm.id, alarm.step) == ("not_finite", 7) and "grad_norm" in alarm.seen


def overfit_stream(evals, train=lambda s: 1.0 - 0.012 * s):
    out = []
    for step in range(5, 55, 5):
        out.append({"step": step, "loss": train(step), "grad_norm": 1.0})
        if step % 10 == 0:
            out.append({"step": step, "eval_loss": evals[step // 10 - 1]})
    return out


def test_overfitting_eval_rising_while_train_falls():
    [alarm] = check(overfit_stream([0.9, 0.8, 0.75, 0.78, 0.82]), 50, Kind("sft", None))
    assert (alarm.id, alarm.step) == ("overfitting", 50)
    assert "0.7500 at step 30" in alarm.seen and "step 30" in alarm.advice
    noisy = [0.9, 0.8, 0.82, 0.79, 0.81]  # never two rises in a row
    assert check(overfit_stream(noisy), 50, Kind("sft", None)) == []
    tiny_rise = [0.9, 0.8, 0.75, 0.752, 0.754]  # under 2% above the best
    assert check(overfit_stream(tiny_rise), 50, Kind("sft", None)) == []
    train_up = overfit_stream([0.9, 0.8, 0.75, 0.78, 0.82], train=lambda s: 0.5 + 0.01 * s)
    assert check(train_up, 50, Kind("sft", None)) == []


def test_alarm_round_trip_and_run_info(tmp_path):
    alarm = check([pair(s, 0.0, 0.0) for s in range(1, 12)], 100, Kind())[0]
    assert Alarm.from_dict(alarm.to_dict()) == alarm
    rd = RunDir(tmp_path / "run")
    rd.update_status(state="completed", alarms=[alarm.to_dict(), {"id": "from a future version"}])
    assert listed(rd.status()) == [alarm] and listed({"alarms": 3}) == []
    info, _ = inspect_run(rd, tmp_path)
    assert info.alarms == [alarm]


def stuck_config(tiny_model, out, **overrides):
    return tiny_config(tiny_model, out, **{"learning_rate": 1e-9, **overrides})


@pytest.mark.parametrize("lr, expected", [(1e-9, [("stuck", 10)]), (1e-3, [])])
def test_real_run_lists_stuck_only_at_a_tiny_learning_rate(lr, expected, tiny_model, tmp_path):
    rd = run(stuck_config(tiny_model, tmp_path / "run", max_steps=10, learning_rate=lr))
    status = rd.status()
    assert status["state"] == "completed" and rd.has_final_model()
    assert [(a["id"], a["step"]) for a in status["alarms"]] == expected
    assert ("Alarm stuck at step 10" in rd.log_file.read_text()) == bool(expected)


@pytest.mark.slow
def test_stop_on_alarm_aborts_resumably_then_resumes(tiny_model, tmp_path):
    cfg = stuck_config(tiny_model, tmp_path / "run", max_steps=12, stop_on_alarm=True)
    rd = run(cfg)
    status = rd.status()
    assert status["state"] == "aborted" and status["step"] == 10 and status["exit_code"] == 0
    assert status["error"].startswith("stopped on alarm stuck at step 10: After 10 steps")
    assert not rd.has_final_model() and [c.step for c in rd.checkpoints() if c.complete] == [10]
    assert "stop_on_alarm: stopping after step 10" in rd.log_file.read_text()

    resumed = run(cfg.replace(resume_from_checkpoint=True)).status()
    # the alarm from before the resume stays listed and does not stop the run again
    assert resumed["state"] == "completed" and resumed["step"] == 12 and resumed["error"] is None
    assert [(a["id"], a["step"]) for a in resumed["alarms"]] == [("stuck", 10)]
    assert rd.has_final_model()

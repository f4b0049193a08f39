"""The phases before a run's first step (core/runs/progress.py): status.json, the terminal,
train.log, RunInfo and the Runs bar."""
from __future__ import annotations

import io
import logging
import os
import time
from types import SimpleNamespace

import pytest
from conftest import tiny_config

from core.runs import progress
from core.runs.info import inspect_run
from core.runs.progress import Phase
from core.runs.rundir import RunDir


def test_phase_reports_counts_and_eta_to_status(tmp_path, monkeypatch):
    rd = RunDir(tmp_path / "run")
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "time", lambda: clock[0])
    with Phase(rd, "reference", total=100) as phase:
        status = rd.status()
        assert (status["phase"], status["phase_done"], status["phase_total"]) == \
            ("reference", 0, 100)
        assert status["phase_eta_s"] is None  # no pace before the first batch
        clock[0] += 2.0
        phase.advance(25)  # 25 pairs in 2 s: 75 left take 6 s
        status = rd.status()
        assert (status["phase_done"], status["phase_eta_s"]) == (25, 6.0)
        clock[0] += 0.1
        phase.advance(25)  # within REPORT_S of the last report: status.json is not rewritten
        assert rd.status()["phase_done"] == 25
        clock[0] += 0.5
        phase.advance(10)
        assert rd.status()["phase_done"] == 60
        clock[0] += 1.0
        phase.advance(40)
    status = rd.status()  # the last report always lands; the phase stays until replaced
    assert (status["phase"], status["phase_done"], status["phase_eta_s"]) == ("reference", 100, 0.0)


def test_phase_without_count_and_unknown_phase(tmp_path):
    rd = RunDir(tmp_path / "run")
    with Phase(rd, "model"):
        status = rd.status()
        assert status["phase"] == "model" and status["phase_total"] is None
        assert status["phase_done"] is None and status["phase_started_at"]
    with pytest.raises(ValueError, match="unknown phase 'nap'; one of imports, data, model"):
        Phase(rd, "nap")


def test_failed_phase_keeps_its_last_report(tmp_path):
    rd = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError), Phase(rd, "reference", total=10) as phase:
        phase.advance(3)
        raise RuntimeError("out of memory")
    assert rd.status()["phase"] == "reference"


def test_lines_every_few_seconds_without_a_terminal(tmp_path, monkeypatch, caplog):
    """stdout is a file (train.log under RunManager or nohup): plain log lines, no bar."""
    clock = [0.0]
    monkeypatch.setattr(progress.time, "time", lambda: clock[0])
    monkeypatch.setattr(progress, "_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="core.runs.progress"):
        with Phase(None, "reference", total=200) as phase:
            for _ in range(10):  # a batch of 20 pairs a second: a line every LINE_S (5 s)
                clock[0] += 1.0
                phase.advance(20)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "Computing reference log-probs (200 pairs)..."
    assert lines[1:3] == [
        "Computing reference log-probs: 100/200 pairs (50%), 5.0 s elapsed, about 5 s left",
        "Computing reference log-probs: 200/200 pairs (100%), 10.0 s elapsed, about 0 s left"]
    assert lines[3] == "Computing reference log-probs: done in 10.0 s" and len(lines) == 4


def test_tqdm_bar_when_stdout_is_a_terminal(monkeypatch, caplog):
    out = io.StringIO()
    monkeypatch.setattr(progress, "_terminal", lambda: True)
    monkeypatch.setattr(progress.sys, "stdout", out)
    monkeypatch.setattr(progress, "LINE_S", 0.0)  # would log every batch without a bar
    with caplog.at_level(logging.INFO, logger="core.runs.progress"):
        with Phase(None, "reference", total=4) as phase:
            for _ in range(4):
                phase.advance(1)
    bar = out.getvalue()
    assert "Computing reference log-probs" in bar and "4/4" in bar and "pairs" in bar
    assert not any("/4 pairs (" in r.getMessage() for r in caplog.records)  # no line per batch


def test_run_walks_the_phases_and_clears_them_at_the_first_step(tiny_model, tmp_path,
                                                                monkeypatch, caplog,
                                                                empty_cache):
    """A DPO run reports data, model, the reference pass (n/N pairs, per batch) and the
    trainer's start in order; training clears the phase; train.log has plain lines."""
    from core.training.run import run

    seen: list[tuple] = []
    update = RunDir.update_status

    def record(self, **fields):
        if "phase" in fields:
            seen.append((fields["phase"], fields.get("phase_done"), fields.get("phase_total"),
                         fields.get("step")))
        return update(self, **fields)

    monkeypatch.setattr(RunDir, "update_status", record)
    monkeypatch.setattr(progress, "REPORT_S", 0.0)  # every batch reaches status.json
    monkeypatch.setattr(progress, "LINE_S", 0.0)  # and train.log
    with caplog.at_level(logging.INFO):  # the CLI's level: info lines reach train.log
        rd = run(tiny_config(tiny_model, tmp_path / "run", max_samples=12, val_size=4,
                             per_device_eval_batch_size=2, max_steps=4))  # reaches all 8
    names = [name for name, *_ in seen]
    assert names[0] is None  # the `running` status drops an earlier run's phase
    shown = [n for i, n in enumerate(names) if n and (i == 0 or names[i - 1] != n)]
    assert shown == ["imports", "data", "model", "reference", "start"]
    counts = [(done, total) for name, done, total, _ in seen if name == "reference"]
    assert counts[0] == (0, 12) and counts[-1] == (12, 12)  # 8 train + 4 eval pairs
    assert [d for d, _ in counts] == sorted(d for d, _ in counts) and len(counts) >= 7
    rows = [(done, total) for name, done, total, _ in seen if name == "data"]
    assert rows[0] == (None, None) and (0, 12) in rows and rows[-1] == (12, 12)  # rows read
    assert seen[-1] == (None, None, None, 0)  # RunFiles at step 0: the counter takes over
    assert rd.status()["phase"] is None and rd.status()["state"] == "completed"
    log = rd.log_file.read_text()
    assert "\r" not in log
    assert "Computing reference log-probs (12 pairs)..." in log
    assert "Computing reference log-probs: 6/12 pairs (50%)" in log
    assert "Loading and tokenizing the data: 12/12 rows (100%)" in log
    assert "Loading the model: done in" in log


def test_run_info_shows_the_phase_of_a_live_run_only(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "REPORT_S", 0.0)
    saves = tmp_path / "saves"
    rd = RunDir(saves / "x")
    import psutil

    rd.update_status(state="running", pid=os.getpid(), started_at=time.time(),
                     pid_started_at=psutil.Process().create_time())
    with Phase(rd, "reference", total=40) as phase:
        phase.advance(10)
        info, _ = inspect_run(rd, saves)
        assert info.state == "running" and info.alive
        assert (info.phase, info.phase_done, info.phase_total) == ("reference", 10, 40)
        assert info.phase_eta_s is not None
    rd.update_status(state="failed", pid=None)
    info, _ = inspect_run(rd, saves)
    assert info.phase is None and info.phase_done is None


@pytest.mark.parametrize("lang, text", [
    ("en", "Computing reference log-probs 10/40 pairs · 25% · elapsed"),
    ("zh", "正在计算参考模型对数概率 10/40 对 · 25% · 已用")])
def test_runs_bar_shows_the_phase_with_pairs_and_eta(lang, text):
    from webui.render import progress_html

    info = SimpleNamespace(name="x", state="running", alive=True, step=0, total_steps=None,
                           progress=0.0, eta_s=None, started_at=time.time() - 30, ended_at=None,
                           error=None, queue_position=None, stopping=False, alarms=[],
                           phase="reference", phase_done=10, phase_total=40, phase_eta_s=90.0)
    html = progress_html(info, lang)
    assert text in html and "step 0/?" not in html
    assert ("left 1:30" if lang == "en" else "剩余 1:30") in html
    assert 'ps-fill-phase" style="width:25%"' in html
    info.phase, info.phase_done, info.phase_total, info.phase_eta_s = "model", None, None, None
    html = progress_html(info, lang)
    assert ("Loading the model · elapsed" if lang == "en" else "正在加载模型 · 已用") in html
    assert "left" not in html and 'style="width:0%"' in html


def test_runs_table_shows_the_phase_in_the_progress_column(tmp_path):
    from core.runs.info import RunInfo
    from webui.tabs.runs import COLUMNS, table

    info = RunInfo(name="x", path=tmp_path, state="running", alive=True, phase="reference",
                   phase_done=3, phase_total=12)
    column = COLUMNS.index("col_progress")
    assert table([info], "en")["data"][0][column] == "Computing reference log-probs 3/12 pairs"
    assert table([info], "zh")["data"][0][column] == "正在计算参考模型对数概率 3/12 对"
    info.phase = None
    assert table([info], "en")["data"][0][column] == "0%"  # the step counter as before

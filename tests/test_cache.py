"""PrefStudio's cache outside saves/ (core/cache.py): its location and size per kind, cleared
by kind; `python -m core cache` asks for --yes before it removes anything; the Runs tab shows
the same line and clears the reference log-probs through the same function."""
import pytest

from core.__main__ import main
from core.cache import clear, human, usage
from core.errors import UserError


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("PREFSTUDIO_HOME", str(home))
    (home / "ref-logps" / "0123abcd").mkdir(parents=True)
    (home / "ref-logps" / "0123abcd" / "a.safetensors").write_bytes(b"x" * 3000)
    (home / "ref-logps" / "old.safetensors").write_bytes(b"x" * 1000)  # the earlier layout
    (home / "demo-model-1234").mkdir()
    (home / "demo-model-1234" / "model.safetensors").write_bytes(b"x" * 500)
    return home


def test_usage_and_clear_by_kind(home):
    sizes = {u.kind: (u.bytes, u.files) for u in usage()}
    assert sizes == {"ref-logps": (4000, 2), "demo-model": (500, 1), "bench": (0, 0)}
    assert clear(["ref-logps"]) == 4000
    assert not (home / "ref-logps").exists() and (home / "demo-model-1234").exists()
    assert clear(["all"]) == 500 and not (home / "demo-model-1234").exists()
    with pytest.raises(UserError, match="unknown kind logps; use one of ref-logps, demo-model"):
        clear(["logps"])
    assert human(1536) == "1.5 KiB" and human(12) == "12 B"


def test_the_command_shows_and_clears_only_with_yes(home, capsys):
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {home}" in out and "ref-logps" in out and "3.9 KiB" in out
    assert main(["cache", "--clear", "ref-logps"]) == 1
    assert "would remove ref-logps (3.9 KiB); add --yes" in capsys.readouterr().out
    assert (home / "ref-logps").exists()
    assert main(["cache", "--clear", "ref-logps", "--yes"]) == 0
    assert "removed 3.9 KiB" in capsys.readouterr().out and not (home / "ref-logps").exists()
    assert main(["cache", "--clear", "nope", "--yes"]) == 2
    assert "unknown kind nope" in capsys.readouterr().err


def test_the_runs_tab_line_and_button(home):
    from webui.tabs.runs_cache import cache_text, clear_reference

    assert str(home) in cache_text("en") and "reference log-probs 3.9 KiB" in cache_text("en")
    assert "参考对数概率 3.9 KiB" in cache_text("zh")
    line, done = clear_reference("en")
    assert done == "Removed 3.9 KiB of reference log-probs."
    assert "reference log-probs 0 B" in line and "demo model 500 B" in line
    assert not (home / "ref-logps").exists()

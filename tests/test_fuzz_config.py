"""Random values (NaN, infinity, huge, negative, wrong types, unicode, NUL, nesting) for every
config field, fed to validation, to the Train tab's form handlers and, as random YAML text, to
RunConfig.load: never an uncaught exception, always a clear error that names the key, or
success. Also the form-side cases of docs/reliability.md (a NUL byte in output_dir and in the
"save as" path, a 300-character run name at Start). Hypothesis draws new values on each run
(a failure prints the values to reproduce it); the whole file takes about half a minute.
Run: pytest -q tests/test_fuzz_config.py"""
import json
import math

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.config import FIELDS, ConfigError, RunConfig, problems
from core.runs.manager import RunManager
from webui import config_files, forms
from webui.tabs import train as train_tab
from webui.workspace import Workspace


def fuzz(examples: int) -> settings:
    """Hypothesis settings: no deadline (a dry run may take a second), no example database."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


NASTY_TEXT = ["", " ", "nan", "-inf", "1e999", "null", "true", "0x10", "1_000", "９", "\0",
              "a\0b", "x" * 300, "中" * 100, "../../../etc/passwd", "/", ".", "..", "\ud800",
              "[" * 3000, "{a: 1}", "\u202e\u0000", "all,q_proj", "saves/" + "é" * 200]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.integers(min_value=-10**400, max_value=10**400),
    st.sampled_from([2**64 + 1, -2**63, 10**5000, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.sampled_from(NASTY_TEXT),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.binary(max_size=8))
KEYS = st.sampled_from(list(FIELDS))


def names_a_key(message: str, keys) -> bool:
    return isinstance(message, str) and any(message.startswith(f"{k}:") for k in keys)


# --- validation --------------------------------------------------------------------------------
@fuzz(400)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=4))
def test_validation_gives_a_config_or_errors_naming_the_key(data):
    try:
        cfg = RunConfig.from_dict(data)
    except ConfigError as e:
        assert e.problems and all(names_a_key(p, data) for p in e.problems), e.problems
        return
    for key, message in problems(cfg):
        assert key in FIELDS and message.startswith(f"{key}:"), (key, message)


# --- random YAML text ------------------------------------------------------------------------
def _dumped(data: dict) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError, ValueError, RecursionError):
        return ""


YAML_TEXT = st.one_of(
    st.text(max_size=200),
    st.dictionaries(st.one_of(KEYS, st.text(max_size=8), st.integers()), VALUES,
                    max_size=4).map(_dumped),
    st.sampled_from([5, 99, 101, 6000]).map(lambda n: "[" * n + "]" * n),
    st.sampled_from(["- " * 50 + "1", "- " * 2000 + "1"]),
    st.sampled_from(["- 1\n- 2\n", "3\n", "dpo\n", "1: 2\n", "pref_beta: .nan\n",
                     "cutoff_len: " + "9" * 5000, "max_steps: 2020-13-45\n", "? [a]\n: 1\n",
                     "lr_scheduler_kwargs: {a: 2020-01-01}\n", "a: &a [*a]\n"]))


@fuzz(300)
@given(YAML_TEXT, st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=2))
def test_load_reads_a_config_or_names_the_problem(tmp_path_factory, text, overrides):
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        cfg = RunConfig.load(path, [f"{k}={v}" for k, v in overrides])
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        return
    assert all(m.startswith(f"{k}:") for k, m in problems(cfg))


# --- the Train tab's handlers ----------------------------------------------------------------
@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """A workspace whose data/ holds 16 demo pairs, so a valid form's dry run is quick."""
    root = tmp_path_factory.mktemp("fuzz-ws")
    data = root / "data"
    data.mkdir()
    rows = json.loads((ROOT / "data" / "demo_pref_en.json").read_text())[:16]
    (data / "demo_pref_en.json").write_text(json.dumps(rows))
    registry = json.loads((ROOT / "dataset_info.json").read_text())
    (data / "dataset_info.json").write_text(json.dumps({"demo_pref_en": registry["demo_pref_en"]}))
    return Workspace(saves_dir=root / "saves", data_dir=data)


def form(ws: Workspace, **changes) -> dict:
    cfg = RunConfig(dataset_dir=str(ws.data_dir), cutoff_len=256, max_steps=2)
    return {**forms.config_values(cfg), **changes}


def clear(found) -> bool:
    """Problems as the form shows them: (key, message) pairs, each message non-empty text."""
    return all(isinstance(k, str) and isinstance(m, str) and m for k, m in found)


@fuzz(60)
@given(changes=st.dictionaries(st.sampled_from(list(forms.SPECS)), VALUES, min_size=1,
                               max_size=3),
       save_as=st.one_of(st.sampled_from(["", "saves/fuzz.yaml"]), st.sampled_from(NASTY_TEXT),
                         st.text(max_size=30)))
def test_form_handlers_never_raise(ws, changes, save_as):
    values = form(ws, **changes)
    cfg, found = forms.build_config(values, ws)
    assert clear(found) and all(m.startswith(f"{k}:") for k, m in found), found
    assert set(forms.visibility(values)) == set(values)
    text, _, found = train_tab.preview(ws, values)
    assert clear(found) and (text is not None or found)
    written, found = config_files.save_yaml(ws, values, save_as)
    assert clear(found) and (written is not None) != bool(found)
    if written:
        loaded, note = config_files.load_yaml(ws, written)
        assert loaded is not None, note
    name, found = train_tab.start(ws, RunManager(ws.saves_dir, max_concurrent=0), values)
    assert clear(found) and (name is not None) != bool(found)
    event("started" if name else "refused")  # --hypothesis-show-statistics: both happen


@fuzz(60)
@given(YAML_TEXT)
def test_load_yaml_handler_never_raises(ws, text):
    path = ws.saves_dir / "fuzz" / "loaded.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    values, note = config_files.load_yaml(ws, str(path))
    assert (values is not None and set(values) == set(forms.SPECS)) or (values is None and note)


# --- the form-side cases of docs/reliability.md -------------------------------------------------
def test_a_nul_byte_in_output_dir_is_a_field_problem(ws):
    values = form(ws, output_dir=str(ws.saves_dir / "a\0b"))
    _, found = forms.build_config(values, ws)
    assert [k for k, _ in found] == ["output_dir"]
    assert found[0][1].endswith("a\\x00b' contains a NUL byte (\\0); remove it")
    text, command, found = train_tab.preview(ws, values)
    assert "output_dir" in text and command is None and found[0][0] == "output_dir"
    assert train_tab.start(ws, RunManager(ws.saves_dir, max_concurrent=0), values)[0] is None


def test_a_nul_byte_in_the_save_as_path_is_a_field_problem(ws):
    written, found = config_files.save_yaml(ws, form(ws), "saves/x\0.yaml")
    assert written is None
    assert found == [("yaml_path", "yaml_path: 'saves/x\\x00.yaml' contains a NUL byte (\\0); "
                      "remove it")]
    values, error = config_files.load_yaml(ws, "saves/x\0.yaml")
    assert values is None and "NUL byte" in error


def test_a_300_character_run_name_is_refused_at_start(ws):
    before = sorted(ws.saves_dir.rglob("*"))
    name, found = train_tab.start(ws, RunManager(ws.saves_dir, max_concurrent=0),
                                  form(ws, run_name="r" * 300))
    assert name is None and found == [("run_name", "run_name: 300 bytes long; shorten it to at "
                                       "most 200")]
    assert sorted(ws.saves_dir.rglob("*")) == before


def test_an_over_long_save_as_name_is_a_field_problem(ws):
    written, found = config_files.save_yaml(ws, form(ws), "saves/" + "y" * 300 + ".yaml")
    assert written is None and found[0][0] == "yaml_path" and "at most 255" in found[0][1]


def test_a_float_nan_from_the_form_is_refused(ws):
    _, found = forms.build_config(form(ws, pref_beta=math.nan, learning_rate=math.inf,
                                       lora_alpha="nan"), ws)
    assert [k for k, _ in found] == ["lora_alpha", "pref_beta", "learning_rate"]
    assert "not a whole number" in found[0][1] and "not a finite number" in found[1][1]


def test_the_form_shows_every_ceiling():
    for key, spec in forms.SPECS.items():
        if spec.kind in ("number", "optnumber", "slider") and spec.meta["choices"] is None:
            text = forms.info(spec, "en")
            assert "≤ " in text or "< " in text, (key, text)
    assert "< 1" in forms.info(forms.SPECS["adam_beta2"], "en")

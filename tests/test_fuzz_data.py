"""Fuzz: random records, registry entries and file bytes through the data checks. Whatever
the data holds (nested lists and objects, wrong types, unicode, NUL, huge strings, a BOM,
random column and tag maps, broken bytes), the result is rows and problems or a UserError:
never another exception. Each problem names its file, record (or the dataset) and field.
About 30 s in all (max_examples below; deadline off: the machine is shared).
Run: pytest -q tests/test_fuzz_data.py"""
import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data import check_dataset, list_datasets, load_rows
from core.data.detect import detect_entry
from core.data.formats import STAGES, convert
from core.data.loading import Record
from core.data.registry import COLUMN_KEYS, TAG_KEYS, make_entry
from core.errors import UserError
from webui.render import report_html

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
FILES = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))

# Names a record, a column map and a tag map draw from, so they often meet.
COLUMNS = ["instruction", "input", "output", "chosen", "rejected", "conversations", "messages",
           "system", "tools", "history", "kto_tag", "label", "prompt", "answer", "x"]
ROLES = ["human", "gpt", "user", "assistant", "system", "observation", "function_call", "tool",
         "from", "value", "role", "content", ""]
SEVERITIES = ("error", "dropped", "warning")

texts = st.one_of(
    st.text(max_size=40),  # any unicode (NUL included), no surrogates
    st.sampled_from(["", " ", "\x00", "\ufeff", "\u2028", "<tool_call>", '{"name": "f"}',
                     "[1, 2]", "true", "false", "null", "NaN"] + ROLES),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "字", "\x00", " "]),
              st.integers(1_000, 60_000)),  # huge strings
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(COLUMNS + ROLES), inner, max_size=4)), max_leaves=12)
message = st.dictionaries(st.sampled_from(["from", "value", "role", "content", "tool_calls",
                                           "name"]),
                          st.one_of(st.sampled_from(ROLES), values), max_size=4)
messages = st.lists(st.one_of(message, values), max_size=6)
record = st.dictionaries(st.sampled_from(COLUMNS),
                         st.one_of(values, messages, st.lists(st.text(max_size=8), max_size=3)),
                         max_size=8)
records = st.lists(st.one_of(record, values), max_size=8)
entries = st.fixed_dictionaries({
    "formatting": st.sampled_from(["alpaca", "sharegpt", "openai"]),
    "ranking": st.booleans(),
    "columns": st.dictionaries(st.sampled_from(COLUMN_KEYS), st.sampled_from(COLUMNS),
                               max_size=4),
    "tags": st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(ROLES[:-1]), max_size=4),
})


def entry_for(raw: dict, folder: Path, file: str = "d.json"):
    return make_entry("ds", {"file_name": file, **raw}, folder / "dataset_info.json", folder)


def check_problems(problems, files: set[str], count: int) -> None:
    """Every problem names a known file, a record in range (or None: the dataset), a field
    and a reason, and prints."""
    for p in problems:
        assert p.file in files and p.severity in SEVERITIES, p
        assert p.index is None or 0 <= p.index < count, p
        assert isinstance(p.field, str) and p.field and isinstance(p.reason, str) and p.reason
        assert str(p) and json.dumps(p.to_dict())


@FAST
@given(data=records, raw=entries, stage=st.sampled_from(STAGES))
def test_convert_turns_any_record_into_rows_or_problems(data, raw, stage):
    entry = entry_for(raw, Path("/nowhere"))
    out = convert([Record("f.json", i, d) for i, d in enumerate(data)], entry, stage)
    assert len(out.rows) == len(out.sources) == len(out.record_of)
    check_problems(out.problems, {"f.json", entry.source}, len(data))
    used = {i for _, i in out.sources}
    failed = {p.index for p in out.problems if p.is_error}
    if not any(p.is_error and p.index is None for p in out.problems):
        for i in range(len(data)):  # nothing dropped silently
            assert i in used or i in failed or stage == "sft", (i, out.problems)
    json.dumps(out.rows, default=str)  # rows are plain data


@FAST
@given(data=records)
def test_detect_gives_an_entry_or_says_why(data):
    try:
        raw = detect_entry(data, "d.json")
    except UserError as e:
        assert "d.json" in str(e) or "--formatting" in str(e) or "layout" in str(e)
        return
    try:
        entry_for({k: v for k, v in raw.items() if k != "file_name"}, Path("/nowhere"))
    except UserError as e:
        assert "dataset 'ds'" in str(e)


def write(folder: Path, name: str, data: list, how: str) -> None:
    """`data` as a .json list, JSON lines (with a BOM or not) or unescaped unicode lines."""
    if how == "json":
        text = json.dumps(data, ensure_ascii=False)
    else:
        text = "\n".join(json.dumps(d, ensure_ascii=how == "jsonl") for d in data)
        text = ("\ufeff" if how == "bom" else "") + text
    (folder / name).write_text(text, encoding="utf-8")


@FILES
@given(data=records, raw=entries, stage=st.sampled_from(STAGES),
       how=st.sampled_from(["json", "jsonl", "bom", "unicode"]))
def test_load_rows_check_and_list_on_files(data, raw, stage, how):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        name = "d.json" if how == "json" else "d.jsonl"
        write(folder, name, data, how)
        entry = {"file_name": name, **raw}
        (folder / "dataset_info.json").write_text(json.dumps({"ds": entry}))
        (info,) = list_datasets(folder)  # a broken entry is listed with its error
        assert info.error is None or isinstance(info.error, str)
        try:
            ds = load_rows("ds", folder, stage)
        except UserError as e:
            assert "dataset_info.json" in str(e) or name in str(e), e
            return
        assert info.error is None and info.records == len(data)  # one reader, one verdict
        check_problems(ds.problems, {ds.file}, len(data))
        report = check_dataset("ds", folder, stage)
        assert report.total == len(data) and 0 <= report.bad <= report.total
        assert report.render().splitlines()[-1].startswith(("OK", "NOT OK"))
        assert "ps-report" in report_html(report.to_dict(), "en")


@FILES
@given(data=records, stage=st.sampled_from(["sft", "dpo", "kto"]))
def test_check_with_a_tokenizer(tokenizer, data, stage):
    """Tokenizing and cutting whatever text converted (NUL, huge strings, any script)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder, "d.json", data, "json")
        (folder / "dataset_info.json").write_text(json.dumps({"ds": {
            "file_name": "d.json", "ranking": stage != "sft",
            "columns": {"prompt": "instruction", "response": "output"}}}))
        report = check_dataset("ds", folder, stage, tokenizer=tokenizer, cutoff_len=32,
                               truncation="keep_recent")
        assert report.total == len(data) and json.dumps(report.to_dict())


raw_bytes = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda head, body, tail: head + body + tail,
              st.sampled_from([b"", b"\xef\xbb\xbf", b"[", b"{", b"\x00", b"\xff\xfe"]),
              st.text(string.printable + "\x00\u00e9\u2028", max_size=200).map(str.encode),
              st.sampled_from([b"", b"\n", b"]", b"}", b"\xe9", b"[" * 3000, b"9" * 5000])),
)


@FILES
@given(content=raw_bytes, suffix=st.sampled_from([".json", ".jsonl", ".csv"]))
def test_any_bytes_read_or_fail_with_the_file_named(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / f"d{suffix}").write_bytes(content)
        (folder / "dataset_info.json").write_text(json.dumps({"ds": {"file_name": f"d{suffix}"}}))
        (info,) = list_datasets(folder)
        assert info.error is None or f"d{suffix}" in info.error
        try:
            report = check_dataset("ds", folder, "sft")
        except UserError as e:
            assert f"d{suffix}" in str(e), e
            return
        assert report.render()

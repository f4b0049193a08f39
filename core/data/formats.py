"""Raw records -> canonical rows for a stage, with a Problem for every record not used.

    out = convert(load_records(entry), entry, "dpo")   # out.rows, out.sources, out.problems

Canonical rows (TRL's conversational format, so TRL trainers take them as they are):
  dpo, rm  {"prompt": [messages], "chosen": [assistant message], "rejected": [...]}
  sft      {"messages": [...]}
  kto      {"prompt": [...], "completion": [assistant message], "label": bool}
           (ranking data gives one desirable and one undesirable row per pair)
  grpo     {"prompt": [...], plus every other column of the record, e.g. "answer"}
The prompt may be multi-turn and may start with a system message.

Record layouts follow LLaMA-Factory's converters (alpaca, sharegpt, openai): alpaca joins
instruction and input with "\\n"; sharegpt turns alternate user|observation and
assistant|function_call after an optional leading system turn.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import UserError

from .conversations import parse_conversation
from .records import (
    Problem,
    RecordError,
    Row,
    Sample,
    assistant,
    column,
    label,
    text,
    user,
)
from .registry import MEDIA_COLUMN_KEYS, Entry
from .tools import system_with_tools

STAGES = ("sft", "dpo", "kto", "rm", "grpo")
PAIRWISE = ("dpo", "rm")
TRAINS_PAIRS = PAIRWISE + ("kto",)  # stages that learn from the rejected answer too
IDENTICAL = "identical to rejected: this pair trains nothing"


@dataclass
class Converted:
    rows: list[Row] = field(default_factory=list)
    sources: list[tuple[str, int]] = field(default_factory=list)  # (file, index) per row
    problems: list[Problem] = field(default_factory=list)
    record_of: list[int] = field(default_factory=list)  # position in `records` per row


def convert(records: list, entry: Entry, stage: str) -> Converted:
    """Every record that converts becomes one row (two for kto from pairs); every one that
    does not becomes an error. Data that does not suit the stage is one dataset error."""
    if stage not in STAGES:
        raise UserError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
    out = Converted()
    problem = stage_problem(entry, stage)
    if problem is not None:
        out.problems.append(problem)
        if problem.is_error:
            return out
    if not records:
        out.problems.append(no_records(entry))
        return out
    counts = {"left_out": 0, "ties": 0}
    for position, rec in enumerate(records):
        try:
            sample, rows = convert_one(rec.data, entry, stage)
            if rows and is_tie(rec.data, entry, stage):
                counts["ties"] += 1
                continue
        except RecordError as e:
            out.problems.append(Problem(rec.file, rec.index, e.field, e.reason))
            continue
        if stage in TRAINS_PAIRS and sample.chosen and same_text(sample.chosen, sample.rejected):
            out.problems.append(Problem(rec.file, rec.index, entry.column("chosen") or "chosen",
                                        IDENTICAL, "warning"))
        counts["left_out"] += not rows
        out.rows += rows
        out.sources += [(rec.file, rec.index)] * len(rows)
        out.record_of += [position] * len(rows)
    out.problems = collapse(out.problems + _dataset_warnings(entry, counts), len(records))
    return out


def convert_one(data: Any, entry: Entry, stage: str) -> tuple[Sample, list[Row]]:
    """One record's sample and rows; RecordError says what is wrong with it."""
    if not isinstance(data, dict):
        raise RecordError("record", f"expected an object of columns, got {type(data).__name__}")
    parse = parse_alpaca if entry.formatting == "alpaca" else parse_conversation
    try:
        sample = parse(data, entry, stage)
    except RecursionError:  # lists in lists hundreds deep: shown or dumped, they recurse
        raise RecordError("record", "values nested too deeply (hundreds of lists or objects "
                          "in one another); a column holds text or a list of messages") from None
    return sample, shape(sample, stage)


def no_records(entry: Entry) -> Problem:
    """The dataset-level error of a dataset that reads as no records at all."""
    if entry.load_from == "file" and entry.split == "train":
        field, where = "file_name", f"{entry.source} (an empty file, an empty list or blank lines)"
    else:
        field, where = "split", f"split {entry.split!r} of {entry.source}"
    return Problem(entry.source, None, field,
                   f"no records: nothing to read in {where}; add records, or point dataset "
                   f"'{entry.name}' in {entry.registry} at the data that holds them")


def same_text(a: dict, b: dict) -> bool:
    """Whether two answers are the same text (surrounding whitespace aside)."""
    return a["content"].strip() == b["content"].strip()


def identical_pair(rows: list[Row]) -> bool:
    """Whether one record's rows are a preference pair whose two answers are the same text:
    a dpo/rm row, or kto's desirable and undesirable rows made from one pair."""
    if len(rows) == 1 and "chosen" in rows[0] and "rejected" in rows[0]:
        return same_text(rows[0]["chosen"][0], rows[0]["rejected"][0])
    if len(rows) == 2 and [r.get("label") for r in rows] == [True, False]:
        return same_text(rows[0]["completion"][0], rows[1]["completion"][0])
    return False


def no_usable_pair(records: list[list[Row]], stage: str) -> int:
    """How many pairs there are when every one of them has identical answers (0: some pair
    is usable, or the stage learns from no pairs); each item is the rows of one record."""
    if stage not in TRAINS_PAIRS or not records:
        return 0
    return len(records) if all(identical_pair(rows) for rows in records) else 0


def identical_reason(pairs: int) -> str:
    """Why data whose every pair has identical answers cannot train (check and run alike)."""
    return (f"no usable pair: chosen is identical to rejected in all {pairs} pairs, so a "
            "preference between them teaches nothing; check that columns.chosen and "
            "columns.rejected name different columns, or fix the data")


def _dataset_warnings(entry: Entry, counts: dict[str, int]) -> list[Problem]:
    """Data that converts but of which a part is not used: said once for the dataset."""
    out = []
    if counts["left_out"]:  # sft on kto_tag data: undesirable answers are not imitated
        out.append(Problem(entry.source, None, entry.column("kto_tag") or "kto_tag",
                           f"{counts['left_out']} records with kto_tag false are left out of sft "
                           "(their answers are the undesirable ones)", "warning"))
    if counts["ties"]:
        out.append(Problem(entry.source, None, entry.column("tie") or "tie",
                           f"{counts['ties']} records are ties (no preference): left out of "
                           "pairwise and kto training", "warning"))
    return out


def stage_problem(entry: Entry, stage: str) -> Problem | None:
    """One problem for the whole dataset when its kind does not suit the stage."""
    where = f"in {entry.registry}"
    media = [k for k in MEDIA_COLUMN_KEYS if entry.raw.get("columns", {}).get(k)]
    if media:
        return Problem(entry.source, None, f"columns.{media[0]}",
                       f"dataset '{entry.name}' has {', '.join(media)} inputs ({where}); training "
                       "here is text only, so it cannot be used. Remove columns."
                       f"{media[0]} from the entry to train on its text alone")
    if stage in PAIRWISE and not entry.ranking:
        other = "kto" if entry.column("kto_tag") else "sft"
        return Problem(entry.source, None, "ranking",
                       f"stage {stage} needs ranking data (a prompt with chosen and rejected "
                       f"answers) but dataset '{entry.name}' is not marked \"ranking\": true "
                       f"{where}; set it with chosen/rejected columns, or use stage {other}")
    if stage == "kto" and not entry.ranking and not entry.column("kto_tag"):
        return Problem(entry.source, None, "kto_tag",
                       f"stage kto needs ranking data (each pair gives a desirable and an "
                       f"undesirable example) or a true/false kto_tag column; dataset "
                       f"'{entry.name}' has neither {where}; set columns.kto_tag, or use stage sft")
    if stage == "sft" and entry.ranking:
        return Problem(entry.source, None, "ranking",
                       "ranking data used for sft: trains on the prompt and the chosen answer; "
                       "the rejected answers are unused", "warning")
    return None


def shape(sample: Sample, stage: str) -> list[Row]:
    """The stage's canonical rows for one sample (checked by the parser to have its parts)."""
    if stage in PAIRWISE:
        row = {"prompt": sample.prompt, "chosen": [sample.chosen], "rejected": [sample.rejected]}
        return [{**row, "ranked": sample.ranked} if sample.ranked else row]
    if stage == "kto":
        if sample.chosen is not None:
            return [{"prompt": sample.prompt, "completion": [sample.chosen], "label": True},
                    {"prompt": list(sample.prompt), "completion": [sample.rejected],
                     "label": False}]
        return [{"prompt": sample.prompt, "completion": [sample.answer], "label": sample.label}]
    if stage == "sft":
        if sample.label is False:
            return []
        return [{"messages": sample.prompt + [sample.answer or sample.chosen]}]
    return [{**sample.extras, "prompt": sample.prompt}]  # grpo


def is_tie(rec: dict, entry: Entry, stage: str) -> bool:
    """A ranking record marked a tie in the entry's `tie` column (our own column key): both
    answers are equally good, so it teaches no preference; sft and grpo still use it."""
    name = entry.column("tie")
    if not name or not entry.ranking or stage not in PAIRWISE + ("kto",):
        return False
    value = rec.get(name)
    return value is not None and label(value, name)


def collapse(problems: list[Problem], total: int) -> list[Problem]:
    """The same error on every record (a mis-mapped column, wrong tags) is one dataset error,
    not one line per record."""
    if total < 2:
        return problems
    groups: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        if p.is_error and p.index is not None:
            groups.setdefault((re.sub(r"\[\d+\]", "", p.field), p.reason), []).append(p)
    out = [p for p in problems if not p.is_error or p.index is None]
    for (fld, reason), group in groups.items():
        if len({(p.file, p.index) for p in group}) == total:
            out.insert(0, Problem(group[0].file, None, fld, f"{reason} (in all {total} records)"))
        else:
            out += group
    return sorted(out, key=lambda p: (not p.is_error, p.index is not None))


# --- alpaca ------------------------------------------------------------------------------

def parse_alpaca(rec: dict, entry: Entry, stage: str) -> Sample:
    """instruction (+ "\\n" + input) is the last user turn after system and history."""
    prompt = system_message(rec, entry) + _history(rec, entry)
    prompt.append(user(_instruction(rec, entry)))
    used = {entry.column(k) for k in ("prompt", "query", "history", "system", "tools")}
    sample = Sample(prompt, extras={k: v for k, v in rec.items() if k not in used})
    if stage == "grpo":
        return sample
    response = entry.column("response")
    if entry.ranking:
        sample.ranked = _alpaca_ranked(rec, entry)
        if sample.ranked:
            sample.chosen, sample.rejected = sample.ranked[0], sample.ranked[-1]
            sample.ranked = sample.ranked if len(sample.ranked) > 2 else None
        else:
            sample.chosen, sample.rejected = _alpaca_pair(rec, entry)
    elif stage in ("sft", "kto"):
        sample.answer = assistant(text(column(rec, response, "response"), response))
    if entry.column("kto_tag") and not entry.ranking:
        sample.label = label(column(rec, entry.column("kto_tag"), "kto_tag"),
                             entry.column("kto_tag"))
    return sample


def system_message(rec: dict, entry: Entry) -> list[dict]:
    """The system column, with the tools column's definitions appended (tools.py)."""
    name, tools = entry.column("system"), entry.column("tools")
    value = rec.get(name) if name else None
    system = "" if value is None or value == "" else text(value, name)
    system = system_with_tools(system, rec.get(tools) if tools else None, tools or "tools")
    return [{"role": "system", "content": system}] if system else []


def _instruction(rec: dict, entry: Entry) -> str:
    name, query = entry.column("prompt"), entry.column("query")
    parts = []
    value = column(rec, name, "prompt")
    if value is not None and value != "":
        parts.append(text(value, name))
    extra = rec.get(query) if query else None
    if extra is not None and extra != "":
        parts.append(text(extra, query))
    if not parts:
        raise RecordError(name, "empty text" + (f" (and no {query})" if query else ""))
    return "\n".join(parts)


def _history(rec: dict, entry: Entry) -> list[dict]:
    name = entry.column("history")
    value = rec.get(name) if name else None
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        raise RecordError(name, f"expected a list of [user, assistant] pairs, got "
                          f"{type(value).__name__}")
    turns = []
    for i, pair in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RecordError(where, "expected a [user, assistant] pair")
        turns += [user(text(pair[0], where)), assistant(text(pair[1], where))]
    return turns


def _alpaca_ranked(rec: dict, entry: Entry) -> list[dict] | None:
    """LLaMA-Factory's older ranking form, output = [chosen, rejected], extended to any number
    of answers best first: training uses the best and the worst, evaluation all of them."""
    response = entry.column("response")
    if entry.columns.get("chosen") or not isinstance(rec.get(response), (list, tuple)):
        return None
    answers = rec[response]
    if len(answers) < 2:
        raise RecordError(response, f"expected at least [chosen, rejected], got {len(answers)} "
                          "answer(s)")
    return [assistant(text(a, f"{response}[{i}]")) for i, a in enumerate(answers)]


def _alpaca_pair(rec: dict, entry: Entry) -> tuple[dict, dict]:
    chosen, rejected = entry.column("chosen") or "chosen", entry.column("rejected") or "rejected"
    return (assistant(text(column(rec, chosen, "chosen"), chosen)),
            assistant(text(column(rec, rejected, "rejected"), rejected)))


def suited_stages(entry: Entry, first: Any) -> list[str]:
    """The stages a dataset can train, from its entry and (for prompt-only data) its first
    record."""
    if entry.ranking:
        return ["dpo", "rm", "kto"]
    if entry.column("kto_tag"):
        return ["kto"]
    if isinstance(first, dict):
        if entry.formatting == "alpaca" and entry.column("response") not in first:
            return ["grpo"]
        turns = first.get(entry.column("messages"))
        if entry.formatting != "alpaca" and isinstance(turns, list) and turns:
            last = turns[-1]
            tags = entry.tags
            role = last.get(tags["role_tag"]) if isinstance(last, dict) else None
            if role in (tags["user_tag"], tags["observation_tag"]):
                return ["grpo"]
    return ["sft", "grpo"]

"""The doctor's findings on what the token ids show: records cut at cutoff_len, BOS mistakes
and a chat template applied twice. Pure functions of the features and the tokenizer.

    cut_records(features); bos_checks(features, tok); header_twice(features, tok); markup(rows, tok)
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from .checks import EXAMPLES, Check

# Chat markup of the common templates: text that should never be inside a message's content.
KNOWN_MARKUP = ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "[INST]", "[/INST]",
                "<|begin_of_text|>", "<|start_header_id|>", "<|eot_id|>", "<start_of_turn>",
                "<end_of_turn>", "<|user|>", "<|assistant|>", "<|system|>")
IM_START = "<|im_start|>"


def special_tokens(tokenizer: Any) -> dict[int, str]:
    """id -> text of every special token: the named ones (bos, eos, pad, ...) and the added
    tokens marked special (<|im_start|> is only the latter in some tokenizers)."""
    out = dict(zip(tokenizer.all_special_ids, tokenizer.all_special_tokens))
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    out.update({i: t.content for i, t in added.items() if getattr(t, "special", False)})
    return out


# --- cut records -------------------------------------------------------------------------
def cut_counts(feature: dict) -> dict[str, int]:
    """Tokens cut from each part of a record at cutoff_len. Per-record counts written by the
    tokenizer (`<part>_cut`) win; otherwise untruncated length (`<part>_len`) minus the kept
    ids (`<part>_ids`; sft: sequence_len vs input_ids)."""
    out = {}
    for key, value in feature.items():
        if not key.endswith("_len"):
            continue
        part = key[:-4]
        ids = feature.get(f"{part}_ids", feature.get("input_ids") if part == "sequence" else None)
        if f"{part}_cut" in feature:
            out[part] = int(feature[f"{part}_cut"])
        elif ids is not None:
            out[part] = max(int(value) - len(ids), 0)
    return out


def cut_records(features: list[dict]) -> list[Check]:
    cuts = [cut_counts(f) for f in features]
    hit = [i for i, c in enumerate(cuts) if any(c.values())]
    if not hit:
        return []
    per_part = {p: sum(bool(c.get(p)) for c in cuts) for p in cuts[0]}
    lost = sum(sum(c.values()) for c in cuts)
    totals = sorted(_full_length(f) for f in features)
    p95 = totals[min(len(totals) - 1, round(0.95 * len(totals)))]
    parts = ", ".join(f"{p} in {n}" for p, n in per_part.items() if n)
    numbers = {"records": len(hit), "of": len(features), "per_part": per_part,
               "tokens_cut": lost, "longest": totals[-1], "p95": p95}
    return [Check(
        "cut_records", "cutoff_len", "warning",
        f"{len(hit)} of {len(features)} records are cut at cutoff_len ({parts}; {lost} tokens "
        f"in all). The longest record needs {totals[-1]} tokens, 95% fit in {p95}.",
        "A cut answer loses its end of turn: the model is trained on answers that never stop "
        "and compared on the parts that survived.",
        f"raise cutoff_len (to {p95} for 95% of the records, {totals[-1]} for all), or leave "
        "the long records out (truncation=drop).", numbers, tuple(f"row {features[i]['row']}" for i in hit[:EXAMPLES]))]


def _full_length(feature: dict) -> int:
    """Untruncated tokens of a record's longest sequence."""
    if "sequence_len" in feature:
        return feature["sequence_len"]
    answers = [v for k, v in feature.items() if k.endswith("_len") and k != "prompt_len"]
    return feature.get("prompt_len", 0) + max(answers, default=0)


# --- BOS and templates -------------------------------------------------------------------
def _prompt_ids(feature: dict) -> list[int]:
    return feature.get("prompt_ids", feature.get("input_ids", []))


def adds_bos(tokenizer: Any) -> bool:
    """Whether encoding with the tokenizer's defaults (add_special_tokens=True) puts a BOS
    first, as Llama- or Gemma-style tokenizers do (Qwen's do not)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == bos and bos not in tokenizer("a", add_special_tokens=False)["input_ids"]


def bos_checks(features: list[dict], tokenizer: Any) -> list[Check]:
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    name = tokenizer.bos_token
    starts = [_prompt_ids(f)[:2] for f in features]
    doubled = [f["row"] for f, s in zip(features, starts) if s == [bos, bos]]
    single = sum(1 for s in starts if s[:1] == [bos])
    out = []
    if doubled:
        out.append(Check(
            "doubled_bos", "template", "warning",
            f"{len(doubled)} of {len(features)} training sequences start with {name} twice.",
            "The template writes one and the data (or a second template) adds another: the "
            "model trains on a start it never sees when it is used, a known cause of worse "
            "answers.",
            f"remove {name} from the data's text (the template adds it).",
            {"records": len(doubled)}, tuple(f"row {r}" for r in doubled[:EXAMPLES])))
    if adds_bos(tokenizer) and single == len(features):
        out.append(Check(
            "bos_added_twice", "template", "info",
            f"The chat template writes {name} and the tokenizer adds {name} itself when it "
            "encodes with its defaults.",
            "Training here encodes without the tokenizer's additions, so it sees one; code "
            "that tokenizes the rendered chat with add_special_tokens=True (a serving stack, "
            "a script) would feed two.",
            "encode rendered chats with add_special_tokens=False wherever you serve the model."))
    elif adds_bos(tokenizer) and not single:
        out.append(Check(
            "missing_bos", "template", "warning",
            f"The tokenizer adds {name} when it encodes, so the model was trained with it "
            f"first, but no training sequence here starts with {name}.",
            "The template leaves it out, so training sees a start the model never saw.",
            "use a template that writes it (template empty: the tokenizer's own)."))
    return out


def header_twice(features: list[dict], tokenizer: Any) -> list[Check]:
    """ChatML: a role header (<|im_start|>role and its newline) followed at once by another
    header, which no single rendering of a conversation produces."""
    start = tokenizer.convert_tokens_to_ids(IM_START)
    if start is None or start == tokenizer.unk_token_id:
        return []
    newline = {i for i, t in enumerate(tokenizer.convert_ids_to_tokens(
        list(range(len(tokenizer))))) if t and ("\n" in t or "Ċ" in t or t == "<0x0A>")}
    rows = [f["row"] for f in features if _header_header(_prompt_ids(f), start, newline)]
    if not rows:
        return []
    return [Check(
        "header_twice", "template", "warning",
        f"{len(rows)} of {len(features)} prompts hold a role header directly followed by "
        "another ('<|im_start|>user' twice in a row or the like).",
        "The chat template was applied to text that already had it, so the model learns "
        "doubled markup.",
        "store plain messages in the data, not rendered chat text.", {"records": len(rows)},
        tuple(f"row {r}" for r in rows[:EXAMPLES]))]


def _header_header(ids: list[int], start: int, newline: set[int]) -> bool:
    for i, token in enumerate(ids):
        if token != start:
            continue
        end = next((j for j in range(i + 1, min(i + 8, len(ids))) if ids[j] in newline), None)
        if end is not None and end + 1 < len(ids) and ids[end + 1] == start:
            return True
    return False


def markup(rows: list[dict], tokenizer: Any) -> list[Check]:
    """Messages whose content holds chat markup: the tokenizer's special tokens or the
    well-known markers of other templates."""
    specials = special_tokens(tokenizer).values()
    markers = sorted({t for t in (*KNOWN_MARKUP, *specials) if t and t.strip()})
    hits: list[tuple[int, str, str]] = []
    for i, row in enumerate(rows):
        for fieldname, value in row.items():
            found = _marker_in(value, markers)
            if found:
                hits.append((i, fieldname, found))
                break
    if not hits:
        return []
    names = Counter(m for _, _, m in hits)
    return [Check(
        "template_twice", "template", "warning",
        f"{len(hits)} of {len(rows)} records hold chat markup inside a message "
        f"({', '.join(f'{m} in {n}' for m, n in names.most_common(3))}).",
        "The text was rendered with a chat template before it reached this one, so the "
        "template is applied twice and the model learns the markup as content.",
        "store plain messages (role and content) in the data, without markup.",
        {"records": len(hits), "markers": dict(names)},
        tuple(f"row {i} {f}: contains {m}" for i, f, m in hits[:EXAMPLES]))]


def _marker_in(value: Any, markers: list[str]) -> str | None:
    if isinstance(value, list):
        for m in value:
            if isinstance(m, dict) and isinstance(m.get("content"), str):
                found = next((k for k in markers if k in m["content"]), None)
                if found:
                    return found
    return None

"""The doctor's findings on the data a run trains on: pure functions of the canonical rows,
their token ids (core.data.tokenize's features) and the tokenizer. No weights, no torch.

    checks = data_checks(stage, rows, features, template)   # [Check, ...]

This module holds the checks on texts; core.training.token_checks those on the token ids
(cut records, BOS, template applied twice). data_checks runs both.

Each Check says what was seen (with the numbers), what it usually means and what to try:
  length_bias          chosen longer than rejected in more than 70% (or fewer than 30%) of the
                       pairs that differ in length: DPO learns length when length separates
                       the answers
  identical_answers    chosen == rejected: margin 0 for ever, the pair trains nothing
  near_identical       answers that differ only in case, spacing or punctuation
  duplicate_pairs      the same (prompt, chosen, rejected) more than once
  near_duplicates      records whose texts share >= 80% of their character 5-grams (MinHash
                       with banding, verified exactly: about linear in the number of pairs)
  prompts              prompts shared by several pairs, and the ones that dominate the data
  cut_records          answers (or prompts) cut at cutoff_len: a cut answer loses its end of
                       turn, so the model is taught answers that never stop
  doubled_bos, bos_added_twice, missing_bos    BOS mistakes
  template_twice       chat markup inside a message: text rendered with a chat template,
                       rendered again here
  header_twice         (ChatML) a role header directly followed by another in the token ids
"""
from __future__ import annotations

import re
import statistics
import zlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

# length_bias: outside 30-70% length alone predicts the label for most pairs.
LENGTH_HIGH, LENGTH_LOW = 0.70, 0.30
MIN_PAIRS = 8  # fewer pairs than this say nothing about a bias
# near_duplicates: Jaccard similarity of character 5-gram sets of the normalised texts.
NEAR_JACCARD, SHINGLE = 0.8, 5
NEAR_LIMIT = 20_000  # pairs searched (about 10 s); the count says when there were more
# MinHash: 8 bands of 4 hashes find a pair at Jaccard 0.8 with probability 1-(1-0.8^4)^8 =
# 98.5% (0.6: 65%); candidates are verified exactly, so nothing below 0.8 is reported.
BANDS, ROWS = 8, 4
# prompts: one prompt dominates when it holds 5% of the pairs (and at least 3 of them).
DOMINANT_SHARE, DOMINANT_MIN = 0.05, 3
TOP_PROMPTS = 5
EXAMPLES = 3  # records named per finding


@dataclass(frozen=True)
class Check:
    """One finding of the doctor. severity: "warning" (look at it) or "info" (numbers)."""

    id: str
    key: str  # the config key it concerns (the WebUI shows it next to that field)
    severity: str
    seen: str  # what was seen, with the numbers
    meaning: str = ""  # what it usually means
    advice: str = ""  # what to try
    numbers: dict[str, Any] = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # a few records, as "row N: ..."

    def line(self) -> str:
        """One line for a log or a terminal."""
        parts = [self.seen, self.meaning, f"Try: {self.advice}" if self.advice else ""]
        return " ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["examples"] = list(self.examples)
        return out


def data_checks(stage: str, rows: list[dict], features: list[dict] | None,
                template: Any) -> list[Check]:
    """Every data finding for a run of `stage`: pairs (dpo, rm) get all of them; other
    stages the cut and template checks. `features` align with `rows` (their "row")."""
    from . import token_checks

    out: list[Check] = []
    pairwise = stage in ("dpo", "rm") and features
    if pairwise:
        texts = [pair_texts(rows[f["row"]]) for f in features]
        out += length_bias(features)
        out += identical_answers(texts)
        out += duplicates(texts)
        out += prompts(texts)
    if features:
        out += token_checks.cut_records(features)
        out += token_checks.bos_checks(features, template.tokenizer)
        out += token_checks.header_twice(features, template.tokenizer)
    out += token_checks.markup(rows, template.tokenizer)
    return out


# --- texts -------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """Lower case, punctuation as spaces, runs of whitespace as one space."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def pair_texts(row: dict) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) as text; the prompt's messages as "role: content" lines."""
    prompt = "\n".join(f"{m['role']}: {m['content']}" for m in row["prompt"])
    return prompt, row["chosen"][0]["content"], row["rejected"][0]["content"]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def _examples(rows: list[int], texts: list[tuple[str, str, str]]) -> tuple[str, ...]:
    return tuple(f"row {i}: prompt {_short(texts[i][0])}" for i in rows[:EXAMPLES])


# --- length ------------------------------------------------------------------------------
def length_bias(features: list[dict]) -> list[Check]:
    """Share of pairs whose chosen answer has more tokens than the rejected one (untruncated
    lengths), among the pairs whose lengths differ, and the mean length ratio."""
    chosen = [f["chosen_len"] for f in features]
    rejected = [f["rejected_len"] for f in features]
    longer = sum(c > r for c, r in zip(chosen, rejected))
    shorter = sum(c < r for c, r in zip(chosen, rejected))
    ratio = statistics.fmean(c / max(r, 1) for c, r in zip(chosen, rejected))
    differ = longer + shorter
    share = longer / differ if differ else 0.5
    numbers = {"pairs": len(features), "chosen_longer": longer, "chosen_shorter": shorter,
               "same_length": len(features) - differ, "share_chosen_longer": round(share, 4),
               "mean_length_ratio": round(ratio, 3),
               "mean_chosen_tokens": round(statistics.fmean(chosen), 1),
               "mean_rejected_tokens": round(statistics.fmean(rejected), 1)}
    seen = (f"The chosen answer is longer in {share:.0%} of the {differ} pairs whose answers "
            f"differ in length (mean chosen/rejected token ratio {ratio:.2f}; "
            f"{numbers['mean_chosen_tokens']:g} vs {numbers['mean_rejected_tokens']:g} tokens).")
    if differ < MIN_PAIRS or LENGTH_LOW <= share <= LENGTH_HIGH:
        return [Check("length_bias", "dataset", "info", seen, numbers=numbers)]
    way = "longer" if share > LENGTH_HIGH else "shorter"
    return [Check(
        "length_bias", "dataset", "warning", seen,
        f"Length alone tells chosen from rejected here, and DPO's summed log-probs reward it: "
        f"the model learns to write {way} answers rather than better ones.",
        "balance the data with pairs where the chosen answer is the "
        f"{'shorter' if way == 'longer' else 'longer'} one, drop pairs with extreme length "
        "ratios, or use a length-aware loss: ld_alpha=0.5 (LD-DPO) or pref_loss=simpo "
        "(averaged log-probs).", numbers)]


# --- identical and duplicated pairs --------------------------------------------------------
def identical_answers(texts: list[tuple[str, str, str]]) -> list[Check]:
    same = [i for i, (_, c, r) in enumerate(texts) if c.strip() == r.strip()]
    near = [i for i, (_, c, r) in enumerate(texts)
            if c.strip() != r.strip() and normalize(c) == normalize(r)]
    out = []
    if same:
        out.append(Check(
            "identical_answers", "dataset", "warning",
            f"{len(same)} of {len(texts)} pairs have the same chosen and rejected text.",
            "Their margin is 0 whatever the model does: they add ln 2 to the loss and nothing "
            "to learn (a loss pinned at 0.693 with many of them).",
            "remove them (python -m core data check lists them).",
            {"pairs": len(same)}, _examples(same, texts)))
    if near:
        out.append(Check(
            "near_identical", "dataset", "warning",
            f"{len(near)} of {len(texts)} pairs have answers that differ only in case, spacing "
            "or punctuation.",
            "The preference then rests on those few characters, which teaches formatting "
            "quirks, not the quality the data means to teach.",
            "check how the pairs were made; remove them if the difference is an accident.",
            {"pairs": len(near)}, _examples(near, texts)))
    return out


def duplicates(texts: list[tuple[str, str, str]]) -> list[Check]:
    """Exact repeats of a whole pair, then near-duplicate records (MinHash, verified)."""
    seen: dict[tuple[str, str, str], int] = {}
    repeats = []
    for i, t in enumerate(texts):
        if t in seen:
            repeats.append(i)
        else:
            seen[t] = i
    out = []
    if repeats:
        out.append(Check(
            "duplicate_pairs", "dataset", "warning",
            f"{len(repeats)} of {len(texts)} pairs repeat an earlier pair exactly.",
            "Repeated pairs weigh more than the others and are learned by heart; with a "
            "validation split they leak into evaluation.",
            "deduplicate the data.", {"pairs": len(repeats)}, _examples(repeats, texts)))
    unique = list(seen.values())[:NEAR_LIMIT]
    groups = near_duplicate_groups(["\n".join(texts[i]) for i in unique])
    if groups:
        copies = sorted((unique[j], unique[g[0]]) for g in groups for j in g[1:])
        members = [i for i, _ in copies]
        share = len(members) / len(texts)
        checked = f" among the first {NEAR_LIMIT:,}" if len(seen) > NEAR_LIMIT else ""
        out.append(Check(
            "near_duplicates", "dataset", "warning" if share >= 0.05 else "info",
            f"{len(members)} pairs ({share:.0%}) are near-copies of another pair{checked} "
            f"({len(groups)} groups; >= {NEAR_JACCARD:.0%} of their character {SHINGLE}-grams "
            "shared).",
            "Near-copies weigh more than the rest and make a validation split look better "
            "than the model is.",
            "deduplicate (keep one pair per group) or check how the pairs were generated.",
            {"pairs": len(members), "groups": len(groups), "share": round(share, 4)},
            tuple(f"row {i} ~ row {j}: prompt {_short(texts[i][0])}"
                  for i, j in copies[:EXAMPLES])))
    return out


def shingles(text: str) -> set[int]:
    """crc32 of every character 5-gram of the normalised text (the text itself if shorter)."""
    text = normalize(text)
    grams = {text[i:i + SHINGLE] for i in range(max(len(text) - SHINGLE + 1, 1))}
    return {zlib.crc32(g.encode()) for g in grams}


def near_duplicate_groups(texts: list[str]) -> list[list[int]]:
    """Groups (lists of indices, each group sorted) of texts whose shingle sets have Jaccard
    similarity >= NEAR_JACCARD with the group's first member. MinHash signatures are banded
    into buckets; each bucket member is compared with the bucket's first member only, so the
    work grows with the number of texts, not its square."""
    import numpy as np

    sets = [shingles(t) for t in texts]
    rng = np.random.default_rng(0)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 31, BANDS * ROWS, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, BANDS * ROWS, dtype=np.uint64)
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    signatures = []
    for s in sets:  # (a*x + b) mod p with x < 2^32 and a, b < 2^31 stays below 2^64
        x = np.fromiter(s, dtype=np.uint64, count=len(s))
        signatures.append(((a[:, None] * x[None, :] + b[:, None]) % prime).min(axis=1))
    for band in range(BANDS):
        buckets: dict[bytes, int] = {}
        for i, sig in enumerate(signatures):
            first = buckets.setdefault(sig[band * ROWS:(band + 1) * ROWS].tobytes(), i)
            if first != i and root(first) != root(i) and _jaccard(sets[first], sets[i]) >= NEAR_JACCARD:
                parent[root(i)] = root(first)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[root(i)].append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _jaccard(x: set, y: set) -> float:
    return len(x & y) / len(x | y) if x or y else 1.0


# --- prompts -----------------------------------------------------------------------------
def prompts(texts: list[tuple[str, str, str]]) -> list[Check]:
    """How many prompts are shared by several pairs, and the most frequent ones."""
    counts = Counter(normalize(p) for p, _, _ in texts)
    first = {}
    for i, (p, _, _) in enumerate(texts):
        first.setdefault(normalize(p), i)
    shared = {p: n for p, n in counts.items() if n > 1}
    top = counts.most_common(TOP_PROMPTS)
    listed = [{"prompt": texts[first[p]][0][:200], "pairs": n,
               "share": round(n / len(texts), 4)} for p, n in top if n > 1]
    numbers = {"distinct_prompts": len(counts), "shared_prompts": len(shared),
               "pairs_with_shared_prompt": sum(shared.values()), "top": listed}
    seen = f"{len(counts)} distinct prompts for {len(texts)} pairs" + (
        f"; {len(shared)} prompts are shared by {sum(shared.values())} pairs." if shared
        else ", one pair each.")
    heavy = [(p, n) for p, n in top if n >= DOMINANT_MIN and n / len(texts) >= DOMINANT_SHARE]
    if not heavy:
        return [Check("prompts", "dataset", "info", seen, numbers=numbers)]
    named = "; ".join(f"{_short(texts[first[p]][0], 40)} in {n} pairs ({n / len(texts):.0%})"
                      for p, n in heavy)
    return [Check(
        "prompts", "dataset", "warning", f"{seen} Dominating: {named}.",
        "A few prompts holding a large share of the pairs steer the whole run towards "
        "their answers and away from everything else.",
        "cap the pairs per prompt or add data for other prompts.", numbers,
        tuple(f"row {first[p]}: prompt {_short(texts[first[p]][0])}" for p, _ in heavy))]

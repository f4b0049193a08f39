"""Live alarms: a run's metric stream checked for the failures preference tuning hits most.
Each alarm says what was seen (with the numbers), what it usually means and what to try.

    from core.runs.alarms import Kind, check
    alarms = check(RunDir("saves/x").metrics(), total_steps=300, kind=Kind("dpo", "sigmoid"))

Pure (no torch): it reads records as metrics.jsonl holds them (step, loss, grad_norm, beta,
rewards/*, logps/*, eval_loss, ...). The trainer's callback (core/methods/alarms.py) feeds a
Monitor record by record, logs new alarms to train.log, lists them in status.json and stops the
run only when stop_on_alarm is set. An alarm fires once, at the first step its condition
holds, and stays listed.

Which alarms watch which runs, and why:
  stuck         dpo with a reference loss (sigmoid, robust, hinge, ipo, kto_pair), measured on
                the policy/reference log-ratios (rewards / beta): 0 for each such loss while
                the policy equals the reference, whatever the batch; the loss then sits at its
                start value (ln 2 sigmoid and robust, 1 hinge, 1/(4 beta^2) ipo, 0.5 kto_pair).
                With a separate ref_model the ratios never start at 0, so it cannot fire.
  too_easy      dpo sigmoid, robust, hinge, kto_pair, simpo, and rm: losses whose floor 0
                means every pair is won by a wide margin. Not ipo (0 is its target margin,
                and it rises again past it) nor orpo (its loss holds the chosen answers' NLL).
  displacement  dpo with a reference loss: the chosen log-ratio says how much less likely the
                chosen answers became, whichever answers the batch holds.
  diverging     dpo: margins beyond any useful size (every loss); loss far above its start
                (sigmoid, robust, hinge, ipo; kto_pair's loss cannot pass 1, twice its start).
  grad_spike, not_finite, overfitting   every stage (overfitting where eval_loss is logged).
orpo and simpo have no reference, so nothing measures how far the policy moved apart from
log-probs that change with the batch's answers as much as with training: no stuck or
displacement. Stage kto (TRL's unpaired KTO), sft and grpo get the last three only.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Callable

LN2 = math.log(2)
REFERENCE_LOSSES = ("sigmoid", "robust", "hinge", "ipo", "kto_pair")
FLOOR_LOSSES = ("sigmoid", "robust", "hinge", "kto_pair", "simpo")
HIGH_LOSSES = ("sigmoid", "robust", "hinge", "ipo")

# stuck: a log-ratio below 1e-3 nats on both answers means the policy has not moved; a
# training adapter moves the summed log-prob of an answer by far more within its warmup.
STUCK_LOGRATIO = 1e-3
# ... judged only after max(10 steps, 10% of the run): warmup (warmup_ratio 0.1 by default)
# starts the learning rate at 0, so the first steps may legitimately move very little.
STUCK_MIN_STEPS = 10
STUCK_SHARE = 0.1
# too_easy: sigmoid loss 0.05 means a mean implicit margin near 3 (95% preference on every
# pair); reaching it with accuracy 1.0 in the first 5% of steps leaves nothing to learn.
EASY_LOSS = 0.05
EASY_ACCURACY = 0.999  # a mean of 0/1 values: 1.0 up to float rounding
EASY_SHARE = 0.05
# displacement: over the last 6 logged steps (two halves, which averages out batch noise) the
# chosen log-ratio falls, the margin rises, and the chosen answers have lost at least 10% of
# their reference log-likelihood (e.g. 15 nats of -150).
DISPLACE_WINDOW = 6
DISPLACE_SHARE = 0.1
# diverging: a loss 3x its start on 2 logged steps in a row (one bad batch is not enough);
# for sigmoid that is a mean margin near -2, the policy preferring the rejected answers.
HIGH_FACTOR = 3.0
HIGH_RECORDS = 2
# ... or a margin past 50: sigmoid(50) is 1 to 22 digits, so nothing the loss asks for needs
# a margin that large; the policy is drifting, usually by collapsing the rejected log-probs.
MARGIN_LIMIT = 50.0
# grad_spike: 10x the median of the last 20 logged grad norms (at least 5 of them); spikes
# of 2-5x are ordinary batch-to-batch variation.
GRAD_SPIKE = 10.0
GRAD_HISTORY = 20
GRAD_MIN_HISTORY = 5
# overfitting: eval_loss rose at 2 evaluations in a row, ends 2% above its best, and the
# train loss since the best evaluation is below the train loss before it.
OVERFIT_RISES = 2
OVERFIT_RISE = 0.02
TRAIN_WINDOW = 5  # train records before the best evaluation that its train loss averages


@dataclass(frozen=True)
class Alarm:
    """One alarm. `severity`: "warning" (look at it) or "error" (the run is likely wasted)."""

    id: str
    severity: str
    step: int  # the step it was first seen at
    seen: str  # what was seen, with the numbers
    meaning: str  # what it usually means
    advice: str  # what to try

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "Alarm | None":
        """An alarm from status.json; None for an entry this version cannot read."""
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None

    def line(self) -> str:
        """One line for train.log."""
        return f"Alarm {self.id} at step {self.step}: {self.seen} {self.meaning} Try: {self.advice}"


@dataclass(frozen=True)
class Kind:
    """What the alarms need to know of a run: its stage and, for dpo, the loss, the SFT term's
    weight (pref_ftx, part of the logged loss) and beta (records carry their own `beta`).
    `anchored`: the policy starts equal to its reference (no separate ref_model), so the
    log-ratios start at 0 and the loss at its known start value; with a separate ref_model
    the run's first logged values stand in for them."""

    stage: str = "dpo"
    loss: str | None = "sigmoid"
    ftx: float = 0.0
    beta: float = 0.1
    anchored: bool = True

    @classmethod
    def of(cls, cfg: Any) -> "Kind":
        """From a RunConfig."""
        if cfg.stage != "dpo":
            return cls(cfg.stage, None, 0.0, cfg.pref_beta)
        return cls("dpo", cfg.pref_loss, cfg.pref_ftx, cfg.pref_beta, cfg.ref_model is None)

    @property
    def reference(self) -> bool:
        return self.stage == "dpo" and self.loss in REFERENCE_LOSSES

    def start(self, beta: float) -> tuple[float, str] | None:
        """The loss while the policy equals the reference, and how to name it."""
        return {"sigmoid": (LN2, "ln 2"), "robust": (LN2, "ln 2"), "hinge": (1.0, "1"),
                "ipo": (1 / (4 * beta * beta), "1/(4 beta^2)"),
                "kto_pair": (0.5, "0.5")}.get(self.loss or "") if self.stage == "dpo" else None


def num(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class Monitor:
    """Fed one record at a time (in step order); keeps every alarm fired so far."""

    def __init__(self, total_steps: int | None, kind: Kind):
        self.total, self.kind = max(int(total_steps or 0), 0), kind
        self.train: list[dict[str, Any]] = []
        self.evals: list[tuple[int, float]] = []
        self.alarms: list[Alarm] = []
        self.moved = 0.0  # the largest |log-ratio| seen (stuck)

    def feed(self, record: dict[str, Any]) -> list[Alarm]:
        """The alarms this record fires (each alarm fires once per run)."""
        step = int(record.get("step") or 0)
        if "loss" in record:
            self.train.append(record)
            checks = TRAIN_CHECKS
        elif "eval_loss" in record:
            loss = num(record, "eval_loss")
            if loss is not None and math.isfinite(loss):
                self.evals.append((step, loss))
            checks = EVAL_CHECKS
        else:  # the end-of-training summary, or a record of another kind
            return []
        fired = {a.id for a in self.alarms}
        new = []
        for alarm_id, severity, check_fn in checks:
            if alarm_id in fired:
                continue
            found = check_fn(self, record, step)
            if found:
                new.append(Alarm(alarm_id, severity, step, *found))
        self.alarms.extend(new)
        return new

    # --- values shared by the checks --------------------------------------------------
    def beta(self, record: dict[str, Any]) -> float:
        return num(record, "beta") or self.kind.beta

    def log_ratio(self, record: dict[str, Any], key: str) -> float | None:
        """rewards/chosen or rewards/rejected in nats: beta * (policy - reference) / beta."""
        value = num(record, key)
        return None if value is None else value / self.beta(record)

    def start(self, record: dict[str, Any]) -> tuple[float, str] | None:
        """The loss this run started from: the known value where the policy starts as its
        reference, else the first logged loss."""
        if self.kind.anchored:
            return self.kind.start(self.beta(record))
        first = self.pref_loss(self.train[0]) if self.train else None
        return None if first is None else (first, "its first logged value")

    def pref_loss(self, record: dict[str, Any]) -> float | None:
        """The preference part of the logged loss (without pref_ftx x the chosen NLL)."""
        loss, sft = num(record, "loss"), num(record, "sft_loss")
        if loss is not None and self.kind.ftx > 0 and sft is not None:
            loss -= self.kind.ftx * sft
        return loss


Found = tuple[str, str, str] | None  # (seen, meaning, advice)


def _stuck(m: Monitor, r: dict[str, Any], step: int) -> Found:
    if not m.kind.reference:
        return None
    ratios = [m.log_ratio(r, k) for k in ("rewards/chosen", "rewards/rejected")]
    if None in ratios:
        return None
    largest = max(abs(x) if math.isfinite(x) else math.inf for x in ratios)
    m.moved = max(m.moved, largest)
    after = max(STUCK_MIN_STEPS, math.ceil(STUCK_SHARE * m.total))
    if not m.moved < STUCK_LOGRATIO or step < after:
        return None
    value, name = m.kind.start(m.beta(r))
    loss = m.pref_loss(r)
    if loss is None:
        return None
    masked = num(r, "logps/chosen") == 0 and num(r, "logps/rejected") == 0
    seen = (f"After {step} steps the loss is {loss:.4f} (its value while the policy equals the "
            f"reference: {name} = {value:.4f}) and the policy's log-probs have moved at most "
            f"{m.moved:.1e} nats from the reference on either answer.")
    if masked:
        seen += " The answers' log-probs are exactly 0: no answer token is scored."
    return (seen,
            "The weights are not training: the learning rate is too small for this many steps, "
            "nothing trainable gets a gradient, or the answer tokens are masked (cut off at "
            "cutoff_len or not marked as answer).",
            "Raise learning_rate (LoRA DPO usually trains at 5e-6 to 5e-5, full fine-tuning at "
            "5e-7 to 5e-6); check the trainable parameter count at the top of train.log; run "
            "`python -m core data check` with your model and cutoff_len to see cut answers.")


def _too_easy(m: Monitor, r: dict[str, Any], step: int) -> Found:
    k = m.kind
    if not ((k.stage == "dpo" and k.loss in FLOOR_LOSSES) or k.stage == "rm") or not m.total:
        return None
    early = max(1, math.ceil(EASY_SHARE * m.total))
    loss, accuracy = m.pref_loss(r), num(r, "rewards/accuracies")
    if step > early or loss is None or accuracy is None:
        return None
    if not (loss < EASY_LOSS and accuracy >= EASY_ACCURACY):
        return None
    return (f"At step {step} of {m.total} (within the first {EASY_SHARE:.0%}) the loss is "
            f"already {loss:.4f} with reward accuracy {accuracy:.2f}: every pair is ranked "
            f"right by a wide margin.",
            "The pairs are too easy to teach anything (rejected answers that are obviously "
            "broken, chosen answers the model already gives), or the answer leaks into the "
            "prompt; the rest of the run mostly inflates the margins.",
            "Read a few pairs in the Data tab; make rejected answers plausible (e.g. sampled "
            "from the model), check that the chosen text is not in the prompt or system "
            "message, and hold out pairs (val_size) before trusting the accuracy.")


def _displacement(m: Monitor, r: dict[str, Any], step: int) -> Found:
    window = m.train[-DISPLACE_WINDOW:]
    if not m.kind.reference or len(window) < DISPLACE_WINDOW:
        return None
    rows = [(m.log_ratio(x, "rewards/chosen"), num(x, "rewards/margins"), num(x, "logps/chosen"))
            for x in window]
    if any(v is None or not math.isfinite(v) for row in rows for v in row):
        return None
    half = len(rows) // 2
    first, last = rows[:half], rows[half:]
    c1, c2 = (statistics.fmean(row[0] for row in part) for part in (first, last))
    g1, g2 = (statistics.fmean(row[1] for row in part) for part in (first, last))
    reference = statistics.fmean(abs(logp - ratio) for ratio, _, logp in last)
    # how far the chosen answers fell since the start (a separate ref_model: the first record)
    origin = 0.0 if m.kind.anchored else m.log_ratio(m.train[0], "rewards/chosen")
    fall = origin - c2
    if not (c2 < c1 and g2 > g1 and reference > 0 and fall >= DISPLACE_SHARE * reference):
        return None
    raise_ftx = f"raise pref_ftx from {m.kind.ftx:g}" if m.kind.ftx else "set pref_ftx 0.1-1.0"
    return (f"Over steps {window[0]['step']}-{step} the chosen answers' log-prob kept falling "
            f"({c1:.2f} -> {c2:.2f} nats against the reference; {fall:.1f} nats since the "
            f"start, {fall / reference:.0%} of their reference log-likelihood "
            f"{-reference:.1f}) while the reward margin rose ({g1:.3f} -> {g2:.3f}).",
            "Likelihood displacement: the margin grows by making both answers less likely, "
            "the chosen ones too; probability moves to answers in neither set, which often "
            "shows as longer, off-topic or degenerate generations.",
            f"Add an SFT term on the chosen answers ({raise_ftx}), lower learning_rate, or "
            "raise pref_beta; compare generations in Chat before using the model.")


DIVERGING_MEANING = ("Training is diverging: the updates are too large for this model and "
                     "batch (learning rate too high, too little warmup), or fp16 overflowed; "
                     "the model is being damaged, not tuned.")
DIVERGING_ADVICE = ("Resume from a checkpoint before it with learning_rate 3-10x lower and "
                    "warmup_ratio 0.1, keep max_grad_norm at 1.0, and use bf16 (or fp32) "
                    "instead of fp16.")


def _diverging(m: Monitor, r: dict[str, Any], step: int) -> Found:
    if m.kind.stage != "dpo":
        return None
    margin = num(r, "rewards/margins")
    if margin is not None and abs(margin) > MARGIN_LIMIT:
        return (f"At step {step} the reward margin is {margin:.1f}, beyond +-{MARGIN_LIMIT:g}: "
                f"past about 10 the loss no longer changes, so the policy is drifting (one "
                f"answer's log-probs collapsing).", DIVERGING_MEANING, DIVERGING_ADVICE)
    last = m.train[-HIGH_RECORDS:]
    if m.kind.loss not in HIGH_LOSSES or len(last) < HIGH_RECORDS:
        return None
    highs = []
    for x in last:
        loss, begun = m.pref_loss(x), m.start(x)
        if loss is None or begun is None or not loss > HIGH_FACTOR * begun[0]:
            return None
        start, name = begun
        highs.append(f"{loss:.4f}")
    return (f"At steps {last[0]['step']}-{step} the loss is {', '.join(highs)}, more than "
            f"{HIGH_FACTOR:g}x its start ({name} = {start:.4f}): the policy prefers the rejected "
            f"answers far more than the reference does.", DIVERGING_MEANING, DIVERGING_ADVICE)


def _grad_spike(m: Monitor, r: dict[str, Any], step: int) -> Found:
    norm = num(r, "grad_norm")
    earlier = [num(x, "grad_norm") for x in m.train[-GRAD_HISTORY - 1:-1]]
    earlier = [g for g in earlier if g is not None and math.isfinite(g)]
    if norm is None or not math.isfinite(norm) or len(earlier) < GRAD_MIN_HISTORY:
        return None
    median = statistics.median(earlier)
    if not norm > GRAD_SPIKE * median:
        return None
    return (f"At step {step} grad_norm is {norm:.3g}, {norm / median:.0f}x the median "
            f"{median:.3g} of the {len(earlier)} logged steps before it.",
            "A gradient spike: a batch the model finds very surprising, a learning rate "
            "too high, or fp16 overflow. Clipping (max_grad_norm) bounds the update, so one "
            "spike with a steady loss is usually harmless; repeated spikes come before "
            "divergence.",
            "Watch the loss beside it. If spikes repeat or the loss jumps, lower learning_rate, "
            "keep max_grad_norm at 1.0 (0 turns clipping off) and use bf16 instead of fp16.")


def _not_finite(m: Monitor, r: dict[str, Any], step: int) -> Found:
    bad = [k for k in r if (k in ("loss", "eval_loss") or "rewards/" in k or "logps/" in k)
           and num(r, k) is not None and not math.isfinite(num(r, k))]
    # A loss scaler (fp16) skips a step whose gradients overflow: one inf grad_norm is by design.
    norms = [num(x, "grad_norm") for x in m.train[-2:]] if "loss" in r else []
    if len(norms) == 2 and all(g is not None and not math.isfinite(g) for g in norms):
        bad.append("grad_norm (2 logged steps in a row)")
    if not bad:
        return None
    return (f"At step {step} {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} NaN or "
            f"infinite.",
            "The numbers overflowed: usually fp16 without enough range, or a learning rate so "
            "high the weights blew up. Every step after this is wasted.",
            "Stop the run and resume from a checkpoint before this step with a lower "
            "learning_rate and bf16 or fp32 instead of fp16; check the data for empty answers "
            "(`python -m core data check`).")


def _overfitting(m: Monitor, r: dict[str, Any], step: int) -> Found:
    tail = m.evals[-(OVERFIT_RISES + 1):]
    if len(tail) < OVERFIT_RISES + 1 or tail[-1][0] != step:
        return None
    if not all(b[1] > a[1] for a, b in zip(tail, tail[1:])):
        return None
    best_step, best = min(m.evals, key=lambda e: e[1])
    now = tail[-1][1]
    if now - best < OVERFIT_RISE * max(abs(best), 1e-8):
        return None
    losses = [(num(x, "loss"), int(x.get("step") or 0)) for x in m.train]
    losses = [(v, s) for v, s in losses if v is not None and math.isfinite(v)]
    before = [v for v, s in losses if s <= best_step][-TRAIN_WINDOW:]
    after = [v for v, s in losses if s > best_step]
    if not before or not after or statistics.fmean(after) >= statistics.fmean(before):
        return None
    return (f"eval_loss rose from {best:.4f} at step {best_step} to {now:.4f} at step {step} "
            f"({OVERFIT_RISES} evaluations rising in a row) while the train loss fell from "
            f"{statistics.fmean(before):.4f} to {statistics.fmean(after):.4f}.",
            "Overfitting: the model is memorising the training data; what it learns no "
            "longer carries over to held-out data.",
            f"Use the checkpoint nearest step {best_step} (save_steps equal to eval_steps keeps "
            f"one per evaluation); train fewer epochs, with a lower learning_rate, more data or "
            f"lora_dropout 0.05-0.1.")


Check = tuple[str, str, Callable[[Monitor, dict[str, Any], int], Found]]
TRAIN_CHECKS: tuple[Check, ...] = (
    ("not_finite", "error", _not_finite), ("diverging", "error", _diverging),
    ("grad_spike", "warning", _grad_spike), ("stuck", "warning", _stuck),
    ("too_easy", "warning", _too_easy), ("displacement", "warning", _displacement))
EVAL_CHECKS: tuple[Check, ...] = (
    ("not_finite", "error", _not_finite), ("overfitting", "warning", _overfitting))


def check(records: list[dict[str, Any]], total_steps: int | None, kind: Kind) -> list[Alarm]:
    """Every alarm the records (metrics.jsonl, in order) fire, each at its first step."""
    monitor = Monitor(total_steps, kind)
    for record in records:
        monitor.feed(record)
    return monitor.alarms


def listed(status: dict[str, Any]) -> list[Alarm]:
    """The alarms status.json lists (entries this version cannot read are skipped)."""
    entries = status.get("alarms")
    found = (Alarm.from_dict(a) for a in (entries if isinstance(entries, list) else []))
    return [a for a in found if a is not None]

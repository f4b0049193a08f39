"""A failed run's error as a person reads it: one headline, the config key whose change fixes
it (and which way), and the details: the whole error and the log's last lines.

    f = explain(info, RunDir(info.path).log_tail(30))   # None unless info.state == "failed"
    f.headline          # "cutoff_len: 32 leaves no room for the answer ...", one line
    f.key, f.group      # "cutoff_len", "data": the field and its group in the config
    f.change            # "raise" | "lower" | None (as the headline says)

The key comes from the message itself: a UserError names the key it is about first
("cutoff_len: ..."), or says what to do ("raise max_bad_ratio"); running out of memory is the
batch size's. The WebUI turns (key, group, change) into where the fix is on its page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.config import FIELDS, field_group

from .info import GONE, STARTUP, RunInfo, failed_before_training

HEADLINE_CHARS = 240
# their type says nothing the message does not
USER_TYPES = ("UserError", "ConfigError", "NotFiniteError")
VERBS = {"raise": "raise", "increase": "raise", "lower": "lower", "reduce": "lower",
         "decrease": "lower", "set": None, "use": None}
ADVICE = re.compile(r"\b(" + "|".join(VERBS) + r")\s+`?([a-z][a-z0-9_]*)")
LISTED = re.compile(r"^\s*-?\s*([a-z][a-z0-9_]*):", re.MULTILINE)  # "  - lora_rank: ..."
TRACEBACK_END = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*")
OUT_OF_MEMORY = ("out of memory", "outofmemoryerror")
CLI_SUFFIX = " (run with -v for the traceback)"


@dataclass(frozen=True)
class Failure:
    headline: str  # one line
    detail: str  # the whole error as status.json holds it
    log: str  # the last lines of train.log
    key: str | None = None  # the config field to change, when one is named
    group: str | None = None  # its group (core.config.GROUPS)
    change: str | None = None  # "raise" | "lower" | None
    data_check: bool = False  # the data check lists the records the error is about
    before_training: bool = False  # no step finished: nothing to resume (info.refusal)


def explain(info: RunInfo, log: str = "") -> Failure | None:
    """The failure of a `failed` run, else None; `log`: the last lines of its train.log."""
    if info.state != "failed":
        return None
    error = info.error or ""
    message = error.removeprefix(f"{STARTUP}: ")
    if not info.error or error in (GONE, f"{STARTUP} (see train.log)"):
        message = from_log(log) or error or GONE
    headline = headline_of(message)
    key, change = fix_of(message, headline)
    return Failure(headline, error or message, log, key, field_group(key) if key else None,
                   change, "python -m core data check" in message, failed_before_training(info))


def from_log(log: str) -> str | None:
    """The CLI's one-line `error: ...`, else the last line of a traceback."""
    lines = [line.rstrip() for line in log.splitlines()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):].removesuffix(CLI_SUFFIX)
    return next((line for line in reversed(lines) if TRACEBACK_END.match(line)), None)


def headline_of(message: str) -> str:
    """One line: the user error's type and a config file's path taken off; a first line that
    introduces a list gets the list's first item."""
    text = message.strip()
    for kind in USER_TYPES:
        text = text.removeprefix(f"{kind}: ")
    text = re.sub(r"^\S+\.ya?ml: ", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return GONE
    line = lines[0]
    if line.endswith(":") and len(lines) > 1:
        line = f"{line} {lines[1].removeprefix('- ')}"
    return line if len(line) <= HEADLINE_CHARS else line[:HEADLINE_CHARS - 1] + "…"


def fix_of(message: str, headline: str) -> tuple[str | None, str | None]:
    """(config key, "raise" | "lower" | None): the key the headline or a listed problem starts
    with, else the one the advice names; out of memory: a smaller batch."""
    if any(word in message.lower() for word in OUT_OF_MEMORY):
        return "per_device_train_batch_size", "lower"
    advised = [(m.group(2), VERBS[m.group(1)]) for m in ADVICE.finditer(message)
               if shown(m.group(2))]
    named = [headline.split(":", 1)[0].strip()] + LISTED.findall(message)
    key = next((k for k in named if shown(k)), None)
    if key:
        return key, next((change for k, change in advised if k == key), None)
    return advised[0] if advised else (None, None)


def shown(key: str) -> bool:
    """A config field a form offers (not trust_remote_code and the like)."""
    return key in FIELDS and FIELDS[key].metadata.get("ui") is not False

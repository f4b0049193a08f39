"""HTML for the pieces a table cannot show: rows as chat, a check report, a run's progress.

Every text from data or files is escaped; the styles are classes in app.CSS (theme colours,
so dark mode works too).
"""
from __future__ import annotations

import html
import time
from typing import Any

from .i18n import TEXT, state_label, t
from .i18n_core import say


def _esc(value: Any) -> str:
    return html.escape(str(value))


def bubble(message: dict[str, Any], lang: str, extra: str = "", badge: str = "") -> str:
    role = str(message.get("role", "?"))
    name = t(role, lang) if role in ("system", "user", "assistant") else role
    head = f'<div class="ps-role">{_esc(name)}{badge}</div>'
    return (f'<div class="ps-msg ps-{_esc(role)} {extra}">{head}'
            f'<div class="ps-text">{_esc(message.get("content", ""))}</div></div>')


def row_html(row: dict[str, Any], source: tuple[str, int], lang: str) -> str:
    """One canonical row: its prompt turns, then chosen and rejected side by side (pairwise),
    the completion with its label (kto), or the conversation (sft)."""
    parts = [f'<div class="ps-row"><div class="ps-src">{_esc(source[0])} · #{source[1]}</div>']
    turns = row.get("messages") or row.get("prompt") or []
    parts += [bubble(m, lang) for m in turns if isinstance(m, dict)]
    if "chosen" in row and "rejected" in row:
        sides = [bubble(m, lang, f"ps-{key}", f' <span class="ps-badge ps-{key}-badge">'
                        f'{"✓" if key == "chosen" else "✗"} {t(key, lang)}</span>')
                 for key in ("chosen", "rejected") for m in row[key][:1]]
        parts.append(f'<div class="ps-pair">{"".join(sides)}</div>')
    elif "completion" in row:
        key = "chosen" if row.get("label") else "rejected"
        word = t("desirable" if row.get("label") else "undesirable", lang)
        parts += [bubble(m, lang, f"ps-{key}", f' <span class="ps-badge ps-{key}-badge">{word}</span>')
                  for m in row["completion"][:1]]
    extras = {k: v for k, v in row.items() if k not in ("messages", "prompt", "chosen", "rejected",
                                                         "completion", "label")}
    if extras:  # grpo: the fields reward functions read
        parts.append('<div class="ps-extras">' + " · ".join(
            f"<b>{_esc(k)}</b>: {_esc(v)}" for k, v in extras.items()) + "</div>")
    return "".join(parts) + "</div>"


def rows_html(rows: list[dict], sources: list[tuple[str, int]], start: int, total: int,
              lang: str) -> str:
    if not rows:
        return f'<div class="ps-note">{t("no_rows", lang)}</div>'
    head = t("rows_shown", lang, first=start + 1, last=start + len(rows), total=total)
    body = "".join(row_html(r, s, lang) for r, s in zip(rows, sources))
    return f'<div class="ps-chat"><div class="ps-note">{head}</div>{body}</div>'


def report_html(report: dict[str, Any], lang: str, note: str | None = None) -> str:
    """CheckReport.to_dict() as a verdict line, counts, what cutoff_len cut, token statistics
    and problems. Records cut or dropped by truncation make the verdict a warning, not a
    "Not OK"."""
    ok, cuts = report["ok"], report.get("truncation") or {}
    cut = bool(cuts.get("prompts_cut") or cuts.get("answers_cut") or cuts.get("dropped"))
    if not ok:
        kind, mark, verdict = "ps-bad", "✗", t("check_bad", lang)
    elif cut:
        kind, mark, verdict = "ps-warn", "!", t("check_cut", lang)
    else:
        kind, mark, verdict = "ps-ok", "✓", t("check_ok", lang)
    counts = t("check_counts", lang, **{k: report.get(k, 0) for k in (
        "total", "good", "bad", "errors", "dropped", "warnings")})
    out = [f'<div class="ps-report"><div class="ps-verdict {kind}">{mark} '
           f'{_esc(verdict)}</div><div class="ps-counts">{_esc(counts)}</div>']
    if cuts:
        out.append(cuts_html(cuts, lang))
    stats = report.get("token_stats") or {}
    if stats:
        cols = ("min", "mean", "p50", "p95", "max")
        head = "".join(f"<th>{_esc(t(f'stat_{c}', lang))}</th>" for c in cols)
        body = "".join(f"<tr><td>{_esc(t(n, lang) if n in TEXT else n)}</td>" + "".join(
            f"<td>{s[c]:.0f}</td>" for c in cols) + "</tr>" for n, s in stats.items())
        title = t("tokens_all", lang, rows=report.get("token_rows", ""))
        out.append(f'<table class="ps-stats"><tr><th>{_esc(title)}</th>{head}</tr>{body}</table>')
    out += [f'<div class="ps-note">{_esc(say(n, lang))}</div>' for n in report.get("notes", [])]
    if note:
        out.append(f'<div class="ps-note">{_esc(note)}</div>')
    problems = report.get("problems") or []
    if problems:
        items = "".join(
            f'<li class="{"ps-err" if p["severity"] == "error" else "ps-warn"}">'
            f'{_esc(p["file"])}{"" if p["index"] is None else ":" + str(p["index"])} '
            f'<b>{_esc(p["field"])}</b>: {_esc(say(p["reason"], lang))}</li>'
            for p in problems[:50])
        more = f"<li>… +{len(problems) - 50}</li>" if len(problems) > 50 else ""
        out.append(f'<ul class="ps-problems">{items}{more}</ul>')
    return "".join(out) + "</div>"


def cuts_html(cuts: dict[str, Any], lang: str) -> str:
    """What cutoff_len did (core.data.truncation.Cuts.to_dict()): one line, the first cut
    records, and what a cut answer or a dropped record means."""
    lines = [_cuts_text(cuts, lang)] + [say(e, lang) for e in cuts.get("examples") or []]
    if cuts.get("answers_cut"):
        lines.append(t("cuts_end", lang))
    if cuts.get("dropped"):
        lines.append(t("cuts_dropped", lang))
    cut = cuts.get("prompts_cut") or cuts.get("answers_cut") or cuts.get("dropped")
    kind = "ps-note ps-warn" if cut else "ps-note"  # the cutoff used is said even when nothing is cut
    return "".join(f'<div class="{kind}">{_esc(line)}</div>' for line in lines)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def age(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return t("just_now", lang)
    for size, unit in ((86400, "unit_d"), (3600, "unit_h"), (60, "unit_min")):
        if seconds >= size:
            return t("ago", lang, t=f"{int(seconds // size)} {t(unit, lang)}")
    return t("ago", lang, t=f"{int(seconds)} {t('unit_s', lang)}")


def state_text(info: Any, lang: str) -> str:
    """The state as the UI says it: a launched run still loading is `starting`, an aborted
    one still saving is `stopping`."""
    if info.stopping:
        return t("stopping", lang)
    if info.state == "queued" and info.alive:
        return t("starting", lang)
    return state_label(info.state, lang)


def progress_html(info: Any, lang: str, now: float | None = None,
                  truncation: dict[str, Any] | None = None) -> str:
    """A run's bar: state, step/total, percent, elapsed and ETA; then what cutoff_len cut
    (status.json's "truncation") when the run wrote it."""
    now = now or time.time()
    pct = round(100 * (info.progress or 0.0))
    total = info.total_steps or "?"
    elapsed = (info.ended_at or now) - info.started_at if info.started_at else None
    state = state_text(info, lang)
    live = info.alive and info.state == "running"
    eta = f' · {t("eta", lang)} {duration(info.eta_s)}' if live and info.eta_s is not None else ""
    error = f'<div class="ps-run-error">{_esc(say(info.error, lang))}</div>' if info.error else ""
    return (f'<div class="ps-progress"><div class="ps-progress-head"><b>{_esc(info.name)}</b>'
            f'<span class="ps-state ps-state-{_esc(info.state)}">{_esc(state)}</span>'
            f'<span>{t("step", lang)} {info.step}/{total} · {pct}% · {t("elapsed", lang)} '
            f'{duration(elapsed)}{eta}</span></div>'
            f'<div class="ps-bar"><div class="ps-bar-fill ps-fill-{_esc(info.state)}" '
            f'style="width:{pct}%"></div></div>{error}'
            f'{cuts_line_html(truncation, lang)}</div>')


def cuts_line_html(truncation: dict[str, Any] | None, lang: str) -> str:
    """The one line of a run's cuts; nothing when it cut nothing."""
    if not truncation or not (truncation.get("prompts_cut") or truncation.get("answers_cut")
                              or truncation.get("dropped")):
        return ""
    return f'<div class="ps-note ps-warn ps-run-cuts">{_esc(_cuts_text(truncation, lang))}</div>'


def _cuts_text(cuts: dict[str, Any], lang: str) -> str:
    keys = ("cutoff_len", "mode", "prompts_cut", "records", "answers_cut", "tokens_removed",
            "dropped")
    return t("cuts_line", lang, **{k: cuts.get(k, 0) for k in keys})


def message_html(text: str, kind: str = "info", lang: str | None = None) -> str:
    """A one-line result under a button: info, ok or error. With `lang`, a message from core
    is said in that language (webui/i18n_core.py)."""
    text = say(text, lang) if lang else text
    return f'<div class="ps-msgline ps-{kind}">{_esc(text)}</div>' if text else ""


def problems_html(found: list[tuple[str, str]], lang: str) -> str:
    if not found:
        return ""
    items = "".join(f"<li>{_esc(say(message, lang))}</li>" for _, message in found)
    return f'<div class="ps-problem-box"><b>{t("problems", lang)}</b><ul>{items}</ul></div>'


def log_html(title: str, text: str) -> str:
    """A log tail that opens scrolled to its end (column-reverse keeps the newest lines in
    view without any script)."""
    return (f'<div class="ps-log-title">{_esc(title)}</div><div class="ps-logbox">'
            f'<pre>{_esc(text)}</pre></div>')


def samples_html(results: dict[str, dict[str, Any]], lang: str) -> str:
    """Each evaluation prompt once: what every model generated, then the dataset's chosen and
    rejected answers side by side."""
    per_model = {name: r.get("generation_samples") or [] for name, r in results.items()}
    count = max((len(s) for s in per_model.values()), default=0)
    if not count:
        return ""
    cards = []
    for i in range(count):
        first = next(s[i] for s in per_model.values() if len(s) > i)
        answers = "".join(_generated(s[i].get("generated"), name, lang)
                          for name, s in per_model.items() if len(s) > i)
        pair = "".join(
            bubble({"role": "assistant", "content": first.get(key, "")}, lang, f"ps-{key}",
                   f' <span class="ps-badge ps-{key}-badge">{"✓" if key == "chosen" else "✗"} '
                   f'{t(key, lang)}</span>') for key in ("chosen", "rejected"))
        prompt = bubble({"role": "user", "content": first.get("prompt", "")}, lang)
        cards.append(f'<div class="ps-row">{prompt}<div class="ps-answers">{answers}</div>'
                     f'<div class="ps-pair">{pair}</div></div>')
    return f'<div class="ps-chat">{"".join(cards)}</div>'


def _generated(text: str | None, model: str, lang: str) -> str:
    """One model's answer, labelled with the model; an empty one says so."""
    shown = t("base_model", lang) if model == "base" else model  # core's name for the base
    badge = f' <span class="ps-badge">{_esc(shown)}</span>'
    if text:
        return bubble({"role": "assistant", "content": text}, lang, "ps-generated", badge)
    return bubble({"role": "assistant", "content": t("eval_empty_answer", lang)}, lang,
                  "ps-generated ps-empty-answer", badge)

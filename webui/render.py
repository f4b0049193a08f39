"""HTML for the pieces a table cannot show: rows as chat, a check report, a run's progress.

Every text from data or files is escaped; the styles are classes in app.CSS (theme colours,
so dark mode works too).
"""
from __future__ import annotations

import html
import time
from typing import Any

from core.runs.progress import UNITS

from .i18n import TEXT, field_label, group_title, state_label, t
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


def rows_page(rows: list[dict], sources: list[tuple[str, int]], page: Any, per_page: int,
              lang: str) -> tuple[str, int, int]:
    """(HTML of page `page` of `rows`, per_page rows as chat; the number of pages; the page
    shown: `page` kept within them)."""
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(int(page or 1), 1), pages)
    start = (page - 1) * per_page
    end = start + per_page
    return rows_html(rows[start:end], sources[start:end], start, len(rows), lang), pages, page


def report_html(report: dict[str, Any], lang: str, note: str | None = None,
                warn: bool = False) -> str:
    """CheckReport.to_dict() as a verdict line, counts, the tokenizer and template that counted
    the tokens, what cutoff_len cut, token statistics and problems. Records cut or dropped by
    truncation make the verdict a warning, not a "Not OK". `note` is a line of the caller's
    (shown as a warning with `warn`: a model whose tokenizer could not count, say)."""
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
    if report.get("model") and report.get("cutoff_len") is not None:
        used = t("check_used", lang, model=report["model"],
                 template=report.get("template") or t("template_own", lang))
        out.append(f'<div class="ps-note ps-check-used">{_esc(used)}</div>')
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
        out.append(f'<div class="ps-note{" ps-warn" if warn else ""}">{_esc(note)}</div>')
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
    one still going is `stopping` (and says when it is writing its checkpoint, which takes
    minutes at real sizes), a run waiting for a slot says its place in the queue."""
    if info.stopping:
        return t("stopping_saving" if getattr(info, "saving", False) else "stopping", lang)
    if info.state == "queued" and info.alive:
        return t("starting", lang)
    if info.state == "queued" and info.queue_position:
        return f'{state_label("queued", lang)} · {t("queue_position", lang, n=info.queue_position)}'
    return state_label(info.state, lang)


def alarm_title(alarm: Any, lang: str) -> str:
    """An alarm's (or an alarm id's) short name; an id without a text shows as it is."""
    name = getattr(alarm, "id", alarm)
    return t(f"alarm_{name}", lang) if f"alarm_{name}" in TEXT else name


def speed_text(records: list[dict[str, Any]], lang: str) -> str:
    """The latest throughput of a run's metrics.jsonl records: pairs/s (or samples/s) and
    tokens/s, as ' · 1.2 pairs/s · 540 tokens/s'; empty before the first logged step."""
    last = next((r for r in reversed(records) if r.get("samples_per_s") is not None), None)
    if last is None:
        return ""
    key = "pairs_per_s" if last.get("pairs_per_s") is not None else "samples_per_s"
    out = f' · {last[key]:.3g} {t(key, lang)}'
    if last.get("tokens_per_s") is not None:
        out += f' · {last["tokens_per_s"]:.0f} {t("tokens_per_s", lang)}'
    return out


def progress_html(info: Any, lang: str, now: float | None = None,
                  truncation: dict[str, Any] | None = None, speed: str = "") -> str:
    """A run's bar: state, step/total, percent, elapsed, ETA and `speed` (speed_text), or
    before the first step its set-up phase with n/N and the phase's ETA; where a queued run
    stands; then what cutoff_len cut (status.json's "truncation") when the run wrote it. A
    failed run's error is failure_html's."""
    now = now or time.time()
    pct = round(100 * (info.progress or 0.0))
    total = info.total_steps or "?"
    elapsed = (info.ended_at or now) - info.started_at if info.started_at else None
    state = state_text(info, lang)
    live = info.alive and info.state == "running"
    eta = f' · {t("eta", lang)} {duration(info.eta_s)}' if live and info.eta_s is not None else ""
    counter = f'{t("step", lang)} {info.step}/{total} · {pct}%'
    fill, width = info.state, pct
    if getattr(info, "phase", None):  # before the first step: what the run is doing instead
        counter, eta, width = _phase_parts(info, lang)
        fill = "phase"
    error = (f'<div class="ps-run-error">{_esc(say(info.error, lang))}</div>'
             if info.error and info.state != "failed" else "")
    if info.state == "queued" and info.queue_position and not info.alive:
        ahead = info.queue_position - 1
        wait = t("queue_wait", lang, n=ahead) if ahead else t("queue_next", lang)
        error = f'<div class="ps-note">{_esc(wait)}</div>'
    return (f'<div class="ps-progress"><div class="ps-progress-head"><b>{_esc(info.name)}</b>'
            f'<span class="ps-state ps-state-{_esc(info.state)}">{_esc(state)}</span>'
            f'<span class="ps-counter">{_esc(counter)} · {t("elapsed", lang)} '
            f'{duration(elapsed)}{eta}{_esc(speed)}</span></div>'
            f'<div class="ps-bar"><div class="ps-bar-fill ps-fill-{_esc(fill)}" '
            f'style="width:{width}%"></div></div>{error}'
            f'{cuts_line_html(truncation, lang)}</div>')


def phase_text(info: Any, lang: str) -> str:
    """`Computing reference log-probs 40/200 pairs`: the set-up phase of a run before its
    first step (core.runs.progress), with its count when it has one."""
    name = info.phase
    label = t(f"phase_{name}", lang) if f"phase_{name}" in TEXT else name
    if not info.phase_total:
        return label
    unit = UNITS.get(name, "items")
    count = t(f"phase_count_{unit}", lang, done=info.phase_done or 0, total=info.phase_total)
    return f"{label} {count}"


def _phase_parts(info: Any, lang: str) -> tuple[str, str, int]:
    """The bar's counter, the phase's ETA and its fill (percent) during a set-up phase."""
    width = 0
    counter = phase_text(info, lang)
    if info.phase_total:
        width = round(100 * min((info.phase_done or 0) / info.phase_total, 1.0))
        counter += f" · {width}%"
    eta = (f' · {t("eta", lang)} {duration(info.phase_eta_s)}'
           if info.phase_eta_s is not None else "")
    return counter, eta, width


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


def failure_html(failure: Any, lang: str) -> str:
    """core.runs.failure.Failure: the headline, where to fix it in the WebUI, whether resume
    is off, and the whole error with the log's last lines folded away."""
    load, start = t("to_train", lang), t("start", lang)
    if failure.key:
        key = "fix_raise" if failure.change == "raise" else (
            "fix_lower" if failure.change == "lower" else "fix_change")
        place = f'{t("tab_train", lang)} → {group_title(failure.group, lang)}'
        fix = (t(key, lang, field=field_label(failure.key, lang), place=place) + " "
               + t("fix_how", lang, load=load, start=start))
    else:
        fix = t("fix_none", lang, load=load)
    lines = [f'<div class="ps-fix">{_esc(fix)}</div>']
    if failure.data_check:
        lines.append(f'<div class="ps-fix">{_esc(t("fix_data_check", lang))}</div>')
    if failure.before_training:
        lines.append(f'<div class="ps-note">{_esc(t("no_resume_before_step", lang))}</div>')
    details = _esc(failure.detail) + (f"\n\n--- train.log ---\n{_esc(failure.log)}"
                                      if failure.log.strip() else "")
    return (f'<div class="ps-failure"><div class="ps-failure-title">✗ '
            f'{_esc(t("failure_title", lang))}</div>'
            f'<div class="ps-headline">{_esc(say(failure.headline, lang))}</div>{"".join(lines)}'
            f'<details class="ps-details"><summary>{_esc(t("failure_details", lang))}</summary>'
            f'<pre>{details}</pre></details></div>')


def alarms_html(alarms: list[Any], lang: str) -> str:
    """A run's alarms (core.runs.alarms.Alarm), errors first: what was seen, what it usually
    means and what to try."""
    if not alarms:
        return ""
    boxes = []
    for a in sorted(alarms, key=lambda a: a.severity != "error"):
        severity = "error" if a.severity == "error" else "warning"
        rows = "".join(f'<dt>{_esc(t(label, lang))}</dt><dd>{_esc(say(text, lang))}</dd>'
                       for label, text in (("alarm_seen", a.seen), ("alarm_meaning", a.meaning),
                                           ("alarm_advice", a.advice)))
        boxes.append(f'<div class="ps-alarm ps-alarm-{severity}" data-alarm="{_esc(a.id)}">'
                     f'<div class="ps-alarm-title">{"✗" if severity == "error" else "⚠"} '
                     f'{_esc(alarm_title(a, lang))} · {_esc(t("alarm_at", lang, step=a.step))}'
                     f'</div><dl>{rows}</dl></div>')
    return f'<div class="ps-alarms">{"".join(boxes)}</div>'


def diff_html(diff: Any, lang: str) -> str:
    """core.evaluate.compare.RunsDiff: the settings that differ and the evaluation numbers,
    one column per run, then the training summaries."""
    from .plots import metric_label

    head = "".join(f"<th>{_esc(name)}</th>" for name in diff.names)
    width = len(diff.names) + 1

    def section(title: str, rows: list[tuple[str, list]], empty: str) -> str:
        out = f'<tr class="ps-diff-section"><th colspan="{width}">{_esc(title)}</th></tr>'
        if not rows:
            return out + f'<tr><td colspan="{width}" class="ps-note">{_esc(empty)}</td></tr>'
        return out + "".join(f"<tr><td>{_esc(label)}</td>"
                             + "".join(f"<td>{_esc(_cell(v))}</td>" for v in values) + "</tr>"
                             for label, values in rows)

    config = [(field_label(r.key, lang), r.values) for r in diff.config]
    evaluation = [(t("diff_eval_dataset", lang) if r.key == "dataset"
                   else metric_label(r.key, lang, r.label), r.values) for r in diff.evaluation]
    shown = {"state": lambda v: state_label(v, lang),
             "alarms": lambda v: [alarm_title(a, lang) for a in v]}
    training = [(t(f"summary_{r.key}", lang) if f"summary_{r.key}" in TEXT else r.label,
                 [shown[r.key](v) if r.key in shown and v else v for v in r.values])
                for r in diff.training]
    return (f'<div class="ps-diff"><div class="ps-log-title">{_esc(t("diff_title", lang))}</div>'
            f'<table><tr><th></th>{head}</tr>'
            + section(t("diff_config", lang), config, t("diff_same", lang))
            + section(t("diff_evaluation", lang), evaluation, t("diff_no_eval", lang))
            + (section(t("diff_training", lang), training, "") if training else "")
            + "</table></div>")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "–"
    return str(value)


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

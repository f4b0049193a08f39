"""HTML for the run doctor (core.training.doctor): pairs token by token with the scored tokens
highlighted, and the doctor's findings. Plain functions, no gradio; every text from data is
escaped; the styles are the ps-doctor classes in style.css.

    report = doctor(cfg, saves_dir=ws.saves_dir, root=ws.root,
                    tokenizer=lambda c: ws.tokenizer(c.model_name_or_path))
    html = doctor_html(report, lang)          # pairs, then findings
"""
from __future__ import annotations

import html
from typing import Any

from .i18n import t
from .i18n_core import say


def _esc(value: Any) -> str:
    return html.escape(str(value))


def tokens_html(shown: Any) -> str:
    """One sequence: a span per token (class ps-tok; ps-scored where the loss uses it,
    ps-special for special tokens, ps-alt on every other token so edges show), its id in the
    title; newlines shown as ↵ and kept as line breaks."""
    spans = []
    for n, (text, token_id, scored, special) in enumerate(
            zip(shown.tokens, shown.ids, shown.scored, shown.special)):
        classes = ["ps-tok"] + (["ps-scored"] if scored else []) + \
            (["ps-special"] if special else []) + (["ps-alt"] if n % 2 else [])
        body = _esc(text).replace("\n", "↵\n").replace("\t", "→")
        spans.append(f'<span class="{" ".join(classes)}" title="{token_id}">{body}</span>')
    return f'<div class="ps-tokens">{"".join(spans)}</div>'


def side_html(shown: Any, lang: str) -> str:
    key = shown.side  # "chosen" or "rejected"
    mark = "✓" if key == "chosen" else "✗"
    counts = t("doctor_counts", lang, tokens=len(shown.ids), scored=sum(shown.scored))
    cut = (f'<div class="ps-doctor-cut">{_esc(t("doctor_cut", lang, n=shown.cut))}</div>'
           if shown.cut else "")
    label = t("chosen" if key == "chosen" else "rejected", lang)
    return (f'<div class="ps-doctor-side ps-{key}"><div class="ps-role">'
            f'<span class="ps-badge ps-{key}-badge">{mark} {_esc(label)}</span> · '
            f'{_esc(counts)}</div>{tokens_html(shown)}{cut}</div>')


def pairs_html(pairs: list[Any], lang: str) -> str:
    """The rendered pairs (core.training.view.ShownPair), each with chosen and rejected."""
    if not pairs:
        return ""
    out = [f'<div class="ps-note">{_esc(t("doctor_scored_hint", lang))}</div>']
    for pair in pairs:
        head = t("doctor_first" if pair.why == "first" else "doctor_longest", lang)
        out.append(f'<div class="ps-doctor-pair"><div class="ps-src">{_esc(head)} · '
                   f'#{pair.row}</div>{side_html(pair.chosen, lang)}'
                   f'{side_html(pair.rejected, lang)}</div>')
    return "".join(out)


def checks_html(checks: list[Any], lang: str) -> str:
    """The doctor's findings (core.training.checks.Check): warnings first; core's English
    in the page's language (webui/i18n_doctor.py)."""
    if not checks:
        return ""
    items = []
    for c in sorted(checks, key=lambda c: c.severity != "warning"):
        css = "ps-warn" if c.severity == "warning" else "ps-info"
        advice = (f'<div class="ps-doctor-try"><b>{_esc(t("doctor_try", lang))}</b> '
                  f'{_esc(say(c.advice, lang))}</div>' if c.advice else "")
        examples = "".join(f"<li>{_esc(say(e, lang))}</li>" for e in c.examples)
        name = f"<code>{_esc(c.id)}</code> " if lang == "en" else ""  # 中文: on hover only
        items.append(f'<li class="ps-doctor-check {css}" title="{_esc(c.id)}">{name}'
                     f'{_esc(say(c.seen, lang))} <span class="ps-doctor-meaning">'
                     f'{_esc(say(c.meaning, lang))}</span>'
                     f'{advice}{f"<ul>{examples}</ul>" if examples else ""}</li>')
    return (f'<div class="ps-doctor-checks"><div class="ps-src">{_esc(t("doctor_title", lang))}'
            f'</div><ul>{"".join(items)}</ul></div>')


def doctor_html(report: Any, lang: str) -> str:
    """A DoctorReport as HTML: the pairs as the model sees them, then the findings. The
    preflight's own findings are left to the form (they sit next to their fields)."""
    return (f'<div class="ps-doctor">{pairs_html(report.pairs, lang)}'
            f'{checks_html(report.checks, lang)}</div>')

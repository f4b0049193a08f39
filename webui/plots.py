"""Plotly figures from metrics.jsonl records (core.runs.RunDir.metrics()).

    figs = run_figures({"run-a": records_a, "run-b": records_b}, "en")
    figs["loss"]        # loss per step with an EMA-smoothed line; several runs overlay
    length_histogram({"prompt": [...], "chosen": [...], "rejected": [...]}, 2048, "en")

A panel without data shows a short note instead of empty axes.
"""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from .i18n import t

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")
CHOSEN, REJECTED = "#16a34a", "#dc2626"
PANELS = ("loss", "rewards", "margins", "accuracies", "lr", "eval")
EVAL_SKIP = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
HEIGHT = 270
LEGEND_ROW = 22  # px per row of a legend under the plot
LONG_NAME = 40  # characters: a legend entry that takes a row of its own


def smoothing_weight(n: int) -> float:
    """More smoothing for longer curves: ~0 for a handful of points, up to 0.9."""
    return min(0.9, 1.8 * (1 / (1 + math.exp(-0.05 * n)) - 0.5)) if n > 1 else 0.0


def ema(values: list[float], weight: float | None = None) -> list[float]:
    """Exponential moving average, debiased (TensorBoard's) so it starts on the data."""
    weight = smoothing_weight(len(values)) if weight is None else weight
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = last * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out.append(last / norm if norm else v)
    return out


def series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the records that carry `key` (finite numbers only)."""
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and "step" in r:
            xs.append(r["step"])
            ys.append(float(v))
    return xs, ys


def _figure(title: str, note: str | None = None, lang: str = "en") -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=dict(text=title, font=dict(size=14), x=0.01, xanchor="left"), height=HEIGHT,
        margin=dict(l=52, r=12, t=40, b=36), paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)", hovermode="x unified", font=dict(size=11),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom",
                    font=dict(size=10)),
        xaxis=dict(title=dict(text=t("step", lang), font=dict(size=10)),
                   gridcolor="rgba(128,128,128,0.2)",
                   zeroline=False),
        yaxis=dict(gridcolor="rgba(128,128,128,0.2)", zeroline=False))
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                           font=dict(size=12, color="#888"))
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def _line(fig: go.Figure, xs, ys, name: str, color: str, **kw) -> None:
    fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines+markers" if len(xs) < 40 else "lines",
                             line=dict(color=color, width=kw.pop("width", 2), dash=kw.pop("dash", None)),
                             marker=dict(size=4), **kw))


def loss_figure(runs: dict[str, list[dict]], lang: str) -> go.Figure:
    data = {name: series(recs, "loss") for name, recs in runs.items()}
    if not any(xs for xs, _ in data.values()):
        return _figure(t("chart_loss", lang), t("waiting_metrics", lang))
    fig, many = _figure(t("chart_loss", lang), lang=lang), len(runs) > 1
    for i, (name, (xs, ys)) in enumerate(data.items()):
        color = PALETTE[i % len(PALETTE)]
        if many:  # one legend entry per run (its smoothed line; the raw one goes with it)
            _line(fig, xs, ys, name, color, width=1, opacity=0.35, legendgroup=name,
                  showlegend=False)
            _line(fig, xs, ema(ys), name, color, legendgroup=name)
        else:
            _line(fig, xs, ys, t("trace_loss", lang), color, width=1, opacity=0.35)
            _line(fig, xs, ema(ys), t("smoothed", lang), color)
    return fig


def rewards_figure(runs: dict[str, list[dict]], lang: str) -> go.Figure:
    title = t("chart_rewards", lang)
    if not any(series(recs, "rewards/chosen")[0] for recs in runs.values()):
        return _figure(title, t("waiting_metrics", lang))
    fig, many = _figure(title, lang=lang), len(runs) > 1
    for i, (name, recs) in enumerate(runs.items()):
        for key, color, dash in (("chosen", CHOSEN, None), ("rejected", REJECTED, "dash")):
            xs, ys = series(recs, f"rewards/{key}")
            label = f"{name} {t(key, lang)}" if many else t(key, lang)
            _line(fig, xs, ys, label, PALETTE[i % len(PALETTE)] if many else color, dash=dash)
    return fig


def metric_figure(runs: dict[str, list[dict]], key: str, title: str, lang: str,
                  percent: bool = False) -> go.Figure:
    data = {name: series(recs, key) for name, recs in runs.items()}
    if not any(xs for xs, _ in data.values()):
        return _figure(title, t("waiting_metrics", lang))
    fig = _figure(title, lang=lang)
    for i, (name, (xs, ys)) in enumerate(data.items()):
        _line(fig, xs, ys, name if len(runs) > 1 else key, PALETTE[i % len(PALETTE)])
    if percent:
        fig.update_yaxes(range=[-0.03, 1.03], tickformat=".0%")
    if key == "learning_rate":  # from 0: a constant rate is not drawn as a line at "0"
        fig.update_yaxes(exponentformat="e", rangemode="tozero")
    fig.update_layout(showlegend=len(runs) > 1)
    return fig


def eval_figure(runs: dict[str, list[dict]], lang: str) -> go.Figure:
    """Every eval_* metric of every run; a note on how to get them when there are none."""
    keys = sorted({k for recs in runs.values() for r in recs for k in r
                   if k.startswith("eval_") and k not in EVAL_SKIP})
    if not keys:
        return _figure(t("chart_eval", lang), t("no_eval", lang))
    fig, i = _figure(t("chart_eval", lang), lang=lang), 0
    for name, recs in runs.items():
        for key in keys:
            xs, ys = series(recs, key)
            if xs:
                _line(fig, xs, ys, f"{name} {key}" if len(runs) > 1 else key, PALETTE[i % len(PALETTE)])
                i += 1
    return fig


def run_figures(runs: dict[str, list[dict]], lang: str = "en") -> dict[str, go.Figure]:
    """The Runs tab's panels for one or more runs (name -> metrics records)."""
    figs = {
        "loss": loss_figure(runs, lang),
        "rewards": rewards_figure(runs, lang),
        "margins": metric_figure(runs, "rewards/margins", t("chart_margins", lang), lang),
        "accuracies": metric_figure(runs, "rewards/accuracies", t("chart_accuracies", lang), lang,
                                    percent=True),
        "lr": metric_figure(runs, "learning_rate", t("chart_lr", lang), lang),
        "eval": eval_figure(runs, lang),
    }
    for fig in figs.values():
        _integer_steps(fig)
        if len(runs) > 1:
            _legend_below(fig)
    return figs


def _legend_below(fig: go.Figure) -> None:
    """Run names are long: the legend goes under the plot, at the figure's bottom edge, two
    entries a row (one when a name is very long) with the height grown to match, so it is
    never cut off; the width follows the panel (no width is set anywhere)."""
    names = [tr.name or "" for tr in fig.data if tr.showlegend is not False]
    per_row = 2 if max(map(len, names), default=0) <= LONG_NAME else 1
    rows = max(1, math.ceil(len(names) / per_row))
    fig.update_layout(height=HEIGHT + LEGEND_ROW * rows, margin=dict(b=44 + LEGEND_ROW * rows),
                      legend=dict(orientation="h", x=0, xanchor="left", yref="container", y=0,
                                  yanchor="bottom", entrywidthmode="fraction",
                                  entrywidth=1 / per_row))


def _integer_steps(fig: go.Figure) -> None:
    """Steps are whole numbers: no 1.5 ticks on a short run."""
    last = max((max(tr.x) for tr in fig.data if tr.x is not None and len(tr.x)), default=0)
    if 0 < last <= 10:
        fig.update_xaxes(dtick=1)


def length_histogram(lengths: dict[str, list[int]], cutoff_len: int | None, lang: str = "en") -> go.Figure:
    """Overlaid histograms of prompt/chosen/rejected (or other) token lengths."""
    title = t("lengths", lang)
    if not any(lengths.values()):
        return _figure(title, t("waiting_metrics", lang))
    fig = _figure(title, lang=lang)
    colors = {"prompt": PALETTE[0], "chosen": CHOSEN, "rejected": REJECTED}
    for i, (name, values) in enumerate(lengths.items()):
        fig.add_trace(go.Histogram(x=values, name=t(name, lang) if name in colors else name,
                                   opacity=0.6, nbinsx=40, bingroup="lengths",
                                   marker_color=colors.get(name, PALETTE[(i + 3) % len(PALETTE)])))
    fig.update_layout(barmode="overlay", hovermode="closest")
    fig.update_xaxes(title_text=t("axis_tokens", lang))
    longest = max((max(v) for v in lengths.values() if v), default=0)
    if cutoff_len and longest >= cutoff_len / 2:  # else the line would squash the bars
        fig.add_vline(x=cutoff_len, line_dash="dot", line_color="#888",
                      annotation_text=f"cutoff_len {cutoff_len}", annotation_position="top left")
    return fig


# --- evaluation ----------------------------------------------------------------------------
# Metrics on comparable scales for the bar chart (perplexity and the raw losses would dwarf them).
EVAL_BARS = ("preference_accuracy", "likelihood_accuracy", "reward_margin", "loss_margin",
             "kendall_tau", "win_rate")


def metric_label(key: str, lang: str, fallback: str | None = None) -> str:
    from .i18n import TEXT
    return t(f"metric_{key}", lang) if f"metric_{key}" in TEXT else (fallback or key)


def evaluation_figure(results: dict[str, dict[str, Any]], lang: str = "en") -> go.Figure:
    """Grouped bars: one group per metric, one bar per model (base first, in grey)."""
    keys = [k for k in EVAL_BARS if any(_finite(r.get(k)) for r in results.values())]
    title = t("eval_chart", lang)
    if not keys:
        return _figure(title, t("eval_nothing", lang))
    fig = _figure(title, lang=lang)
    labels = [metric_label(k, lang) for k in keys]
    shown = [v for r in results.values() for v in (r.get(k) for k in keys) if _finite(v)]
    for i, (name, row) in enumerate(results.items()):
        values = [row.get(k) if _finite(row.get(k)) else None for k in keys]
        color = "#9ca3af" if name == "base" else PALETTE[(i - ("base" in results)) % len(PALETTE)]
        fig.add_trace(go.Bar(x=labels, y=values, name=model_label(name, lang), marker_color=color,
                             text=[f"{v:.3f}" if v is not None else "" for v in values],
                             textposition="outside", cliponaxis=False))
    fig.update_layout(barmode="group", hovermode="closest", height=HEIGHT + 60,
                      margin=dict(l=52, r=12, t=40, b=60), bargap=0.25)
    fig.update_xaxes(title_text=None)
    # room for the value labels outside the bars, below negative ones too
    low, high = min(0.0, *shown), max(0.0, *shown)
    pad = 0.18 * ((high - low) or 1.0)
    fig.update_yaxes(range=[low - (pad if low < 0 else 0), high + pad])
    fig.add_hline(y=0, line_color="rgba(128,128,128,0.6)", line_width=1)
    return fig


def model_label(name: str, lang: str) -> str:
    """A model of an evaluation as shown: "base" (core's name for the base model) in `lang`."""
    return t("base_model", lang) if name == "base" else name


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

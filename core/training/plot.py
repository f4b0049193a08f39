"""plot_loss: the loss curves of a finished run as a small SVG, <run>/training_loss.svg.

    from core.training.plot import write_loss_plot
    write_loss_plot(RunDir("saves/x"))        # the path written, or None without losses

LLaMA-Factory's plot_loss writes PNGs with matplotlib; an SVG opens in any browser and needs no
plotting package. The WebUI's Runs tab draws the same metrics.jsonl live.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from core.paths import write_atomic
from core.runs.rundir import RunDir

WIDTH, HEIGHT, MARGIN = 640, 360, 48
SERIES = (("loss", "#9ab", "loss"), ("smoothed", "#1f5fbf", "loss (smoothed)"),
          ("eval_loss", "#d2691e", "eval_loss"))


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average, started at the first value."""
    out, last = [], values[0] if values else 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        out.append(last)
    return out


def write_loss_plot(rd: RunDir) -> Path | None:
    """Write training_loss.svg (loss, smoothed loss, eval_loss over steps) into the run."""
    records = rd.metrics()
    points = {key: [(r["step"], float(r[key])) for r in records
                    if isinstance(r.get(key), (int, float)) and "step" in r]
              for key in ("loss", "eval_loss")}
    if not points["loss"]:
        return None
    points["smoothed"] = list(zip([s for s, _ in points["loss"]],
                                  smooth([v for _, v in points["loss"]])))
    every = [p for key in points for p in points[key]]
    x0, x1 = min(s for s, _ in every), max(s for s, _ in every)
    y0, y1 = min(v for _, v in every), max(v for _, v in every)

    def xy(step: float, value: float) -> str:
        x = MARGIN + (step - x0) / ((x1 - x0) or 1) * (WIDTH - 2 * MARGIN)
        y = HEIGHT - MARGIN - (value - y0) / ((y1 - y0) or 1) * (HEIGHT - 2 * MARGIN)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="{MARGIN}" y="24" font-size="14">{escape(rd.path.name)}: training loss</text>',
             f'<path d="M{MARGIN},{MARGIN} V{HEIGHT - MARGIN} H{WIDTH - MARGIN}" stroke="#444" '
             'fill="none"/>',
             f'<text x="4" y="{MARGIN + 4}">{y1:.4g}</text>',
             f'<text x="4" y="{HEIGHT - MARGIN}">{y0:.4g}</text>',
             f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 16}">step {x0}</text>',
             f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - MARGIN + 16}" text-anchor="end">step {x1}</text>']
    for i, (key, colour, label) in enumerate(SERIES):
        if points.get(key):
            line = " ".join(xy(s, v) for s, v in points[key])
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                         'stroke-width="1.5"/>')
            parts.append(f'<text x="{WIDTH - MARGIN}" y="{MARGIN + 14 * i}" text-anchor="end" '
                         f'fill="{colour}">{label}</text>')
    path = rd.path / "training_loss.svg"
    write_atomic(path, "\n".join(parts + ["</svg>"]) + "\n")
    return path

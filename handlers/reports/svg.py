"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched (works in the WeChat
in-app browser and under a strict Content-Security-Policy)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 340
ROW = 30


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def coverage_bars(rows: Sequence[tuple[str, float | None, str]], title: str) -> str:
    """One bar per row (label, rate 0..1, note such as "3/5") against a 100% track."""
    label_w, bar_w = 96, WIDTH - 96 - 56
    height = ROW * len(rows) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value, note) in enumerate(rows):
        y = 4 + i * ROW
        filled = 0 if value is None else max(0.0, min(1.0, value)) * bar_w
        tone = "bad" if value is not None and value < 0.6 else "mid" if value is not None and value < 0.9 else "good"
        parts += [f'<text x="0" y="{y + 17}" class="lbl">{escape(label[:7])}</text>',
                  f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="16" rx="3" class="track"/>',
                  f'<rect x="{label_w}" y="{y + 4}" width="{filled:.1f}" height="16" rx="3" class="bar {tone}"/>',
                  f'<text x="{WIDTH}" y="{y + 17}" class="val" text-anchor="end">{_pct(value)}</text>',
                  f'<text x="{label_w + 4}" y="{y + 17}" class="note">{escape(note)}</text>']
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(points: Sequence[tuple[str, float | None, float | None]], title: str) -> str:
    """Served and home-visit rates per month (0–100%), oldest first."""
    left, top, plot_w, plot_h = 34, 10, WIDTH - 58, 120
    step = plot_w / max(len(points) - 1, 1)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {top + plot_h + 44}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for p in (0, 50, 100):
        y = top + plot_h - plot_h * p / 100
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{p}%</text>')
    for css, values in (("served", [pt[1] for pt in points]), ("home", [pt[2] for pt in points])):
        coords = [(left + i * step, top + plot_h - plot_h * v) for i, v in enumerate(values) if v is not None]
        if coords:
            parts.append(f'<polyline class="line {css}" fill="none" points="'
                         + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords) + '"/>')
            parts += [f'<circle class="dot {css}" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in coords]
    for i, (label, served, _home) in enumerate(points):
        x = left + i * step
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="axis" text-anchor="middle">'
                     f"{escape(label)}</text>")
        if i == len(points) - 1:
            parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 32}" class="axis" text-anchor="middle">'
                         f"{_pct(served)}</text>")
    parts.append(f'<text x="{left}" y="{top + plot_h + 40}" class="legend"><tspan class="served">━ 服务覆盖率</tspan>'
                 f'<tspan dx="12" class="home">━ 入户率</tspan></text></svg>')
    return "".join(parts)

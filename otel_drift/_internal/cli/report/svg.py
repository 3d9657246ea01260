"""Inline SVG charts for ``otel-drift report``: no JavaScript, no external resource.

The report must open on a machine without internet (and in CI artifacts), so
every chart is plain SVG text built here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape

from otel_drift._internal.semconv import STATUS_NAMES, STATUS_NO_DATA

#: Color per ``drift.status``: no_data grey, ok green, warning amber, critical red.
STATUS_COLORS = {STATUS_NO_DATA: "#757575", 0: "#2e7d32", 1: "#f9a825", 2: "#c62828"}
BASELINE_COLOR = "#90a4ae"
LIVE_COLOR = "#1565c0"
_FONT = 'font-family="sans-serif" font-size="11"'


def _color(status: int) -> str:
    return STATUS_COLORS.get(status, STATUS_COLORS[STATUS_NO_DATA])


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def distribution_chart(
    bins: Sequence[str],
    baseline: Sequence[float],
    live: Sequence[float],
    width: int = 560,
    shares: bool = False,
) -> str:
    """Grouped bars: the baseline's fraction and the live fraction of each bin.

    ``live`` holds counts, or shares already (``shares=True``, as in
    ``drift.top_changes``, which names only the bins that moved most).
    """
    height, top, bottom, left = 230, 16, 70, 44
    plot_h = height - top - bottom
    total = sum(live)
    live_fractions = list(live) if shares else [c / total if total > 0 else 0.0 for c in live]
    peak = max([*baseline, *live_fractions, 0.01])
    slot = (width - left - 10) / max(len(bins), 1)
    bar = max(2.0, slot * 0.38)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="baseline and live distribution">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" '
        'stroke="#555"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_h - tick * plot_h
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_fmt(tick * peak)}</text>"
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 6}" y2="{y:.1f}" stroke="#eee"/>'
        )
    for i, label in enumerate(bins):
        x = left + i * slot + slot * 0.1
        for offset, value, color, name in (
            (0.0, baseline[i], BASELINE_COLOR, "baseline"),
            (bar, live_fractions[i], LIVE_COLOR, "live"),
        ):
            h = value / peak * plot_h
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(label)} {name}: '
                f"{value:.4f}</title></rect>"
            )
        cx = x + bar
        parts.append(
            f'<text x="{cx:.1f}" y="{top + plot_h + 12}" text-anchor="end" {_FONT} '
            f'transform="rotate(-40 {cx:.1f} {top + plot_h + 12})">{escape(label)}</text>'
        )
    legend_y = height - 8
    parts.append(
        f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{BASELINE_COLOR}"/>'
        f'<text x="{left + 14}" y="{legend_y}" {_FONT}>baseline</text>'
        f'<rect x="{left + 80}" y="{legend_y - 9}" width="10" height="10" fill="{LIVE_COLOR}"/>'
        f'<text x="{left + 94}" y="{legend_y}" {_FONT}>'
        f"{'window' if shares else f'live ({int(total)} values)'}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _clock(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%H:%M:%S")


def score_chart(
    windows: Sequence[tuple[float, float | None, int]],
    warning: float | None,
    critical: float | None,
    width: int = 560,
) -> str:
    """Score per window as a line, each point colored by the status after it."""
    height, top, bottom, left = 200, 14, 40, 44
    plot_w, plot_h = width - left - 12, height - top - bottom
    scored = [(t, s, status) for t, s, status in windows if s is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="score over time">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#555"/>',
    ]
    if not scored:
        parts.append(f'<text x="{left + 10}" y="{top + 40}" {_FONT}>no scored window</text></svg>')
        return "".join(parts)
    peak = max([s for _, s, _ in scored] + [t for t in (warning, critical) if t is not None])
    peak = peak * 1.1 if peak > 0 else 1.0
    t0, t1 = scored[0][0], scored[-1][0]
    span = (t1 - t0) or 1.0

    def xy(stamp: float, score: float) -> tuple[float, float]:
        x = left + (stamp - t0) / span * plot_w if len(scored) > 1 else left + plot_w / 2
        return x, top + plot_h - score / peak * plot_h

    for name, threshold, color in (
        ("warning", warning, STATUS_COLORS[1]),
        ("critical", critical, STATUS_COLORS[2]),
    ):
        if threshold is not None:
            _, y = xy(t0, threshold)
            parts.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                f'stroke="{color}" stroke-dasharray="5,4"/>'
                f'<text x="{left + plot_w}" y="{y - 3:.1f}" text-anchor="end" {_FONT} '
                f'fill="{color}">{name} {_fmt(threshold)}</text>'
            )
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, s) for t, s, _ in scored))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#37474f" stroke-width="1.5"/>')
    for stamp, score, status in scored:
        x, y = xy(stamp, score)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{_color(status)}">'
            f"<title>{_clock(stamp)}: {score:.4g}</title></circle>"
        )
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_h - tick * plot_h
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_fmt(tick * peak)}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" {_FONT}>{_clock(t0)}</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" {_FONT}>'
        f"{_clock(t1)} UTC</text></svg>"
    )
    return "".join(parts)


def status_strip(windows: Sequence[tuple[float, float | None, int]], width: int = 560) -> str:
    """One colored cell per window: the status after it."""
    height = 22
    count = max(len(windows), 1)
    cell = (width - 2) / count
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="status per window">'
    ]
    for i, (stamp, _score, status) in enumerate(windows):
        parts.append(
            f'<rect x="{1 + i * cell:.1f}" y="2" width="{max(cell - 1, 1):.1f}" height="18" '
            f'fill="{_color(status)}"><title>window {i + 1} ({_clock(stamp)}): '
            f"{STATUS_NAMES.get(status, status)}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)

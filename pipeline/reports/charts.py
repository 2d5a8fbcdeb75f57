"""The reports' charts, drawn by matplotlib as inline SVG (no pyplot, no global state, no files).

Each function takes the report's own numbers and returns one ``<svg>`` element as text, with text kept as
text (``svg.fonttype: none``) so it stays small and searchable, and with ids salted per chart so several
charts in one page never share one. Nothing here computes a figure the report does not already hold.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("svg")  # a backend with no display; set before the figure classes are used

from matplotlib import dates as mdates  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from pipeline.domain.timefmt import parse_rfc3339_ms  # noqa: E402

GOAL_COLOUR = "#c0392b"
MET, BREACHED, BIZCRIT, LIFE = "#2e86c1", "#c0392b", "#e67e22", "#aeb6bf"
RUNG_MARK = {"tier3": ("v", "#8e44ad"), "management": ("D", "#6c3483"), "executive": ("*", "#4a235a")}
_STYLE = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def _svg(fig: Figure, salt: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": salt}):
        FigureCanvasSVG(fig)
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE
    # matplotlib numbers its element ids per figure (figure_1, patch_1, ...): prefix them, and every
    # reference to them, so charts sharing a page never share an id
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{salt}-{m.group(1)}"', text)
    return re.sub(r'(url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{salt}-{m.group(2)}", text)


def _when(at: str, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(parse_rfc3339_ms(at) / 1000, tz=ZoneInfo(zone))


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def compliance_per_day(per_day: list[dict[str, Any]], goal: float, salt: str) -> str:
    """IRT compliance of each day against the goal line; days with no decided ticket are left blank."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(8, 2.8)
        ax = fig.add_subplot()
        labels = [d["day"][5:] for d in per_day]
        values = [None if d["ratio"] is None else d["ratio"] * 100 for d in per_day]
        colours = [MET if v is not None and v >= goal * 100 else BREACHED for v in values]
        ax.bar(range(len(labels)), [v or 0 for v in values], color=colours, width=0.7)
        ax.axhline(goal * 100, color=GOAL_COLOUR, linestyle="--", linewidth=1, label=f"goal {goal * 100:g} %")
        low = min([v for v in values if v is not None] + [goal * 100])
        ax.set_ylim(max(0.0, low - 5), 100.5)
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_ylabel("IRT met (% of tickets)")
        ax.legend(loc="lower right", frameon=False)
        return _svg(fig, salt)


def sev1_timelines(tickets: list[dict[str, Any]], start: str, end: str, zone: str, salt: str) -> str:
    """Each ticket as a bar on a time axis: its life (grey), its BizCrit stints (orange), its first response
    (blue tick) and the rungs it reached (markers)."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(9, 0.45 * max(len(tickets), 1) + 1.2)
        ax = fig.add_subplot()
        lo, hi = _when(start, zone), _when(end, zone)
        for row, t in enumerate(reversed(tickets)):
            born = max(_when(t["created_at"], zone), lo)
            closed = next((x["at"] for x in t["timeline"] if x["what"] == "closed"), None)
            until = min(_when(closed, zone), hi) if closed else hi
            ax.barh(row, mdates.date2num(until) - mdates.date2num(born), left=mdates.date2num(born), height=0.5,
                    color=LIFE)
            for stint in t["bizcrit_stints"]:
                s = max(_when(stint["start"], zone), lo)
                e = min(_when(stint["end"], zone), hi) if stint["end"] else hi
                if e > s:
                    ax.barh(row, mdates.date2num(e) - mdates.date2num(s), left=mdates.date2num(s), height=0.5,
                            color=BIZCRIT)
            for x in t["timeline"]:
                at = _when(x["at"], zone)
                if not lo <= at <= hi:
                    continue
                if x["what"] == "first response":
                    ax.plot([mdates.date2num(at)] * 2, [row - 0.3, row + 0.3], color=MET, linewidth=2)
                rung = x["what"].split(" ")[0].removeprefix("bizcrit_") if x["kind"] == "escalation" else None
                if rung in RUNG_MARK:
                    marker, colour = RUNG_MARK[rung]
                    ax.plot(mdates.date2num(at), row + 0.38, marker=marker, color=colour, markersize=6)
        ax.set_yticks(range(len(tickets)), [t["ticket_id"] for t in reversed(tickets)])
        ax.set_xlim(mdates.date2num(lo), mdates.date2num(hi))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=lo.tzinfo))
        ax.set_xlabel(f"time of day ({zone})")
        handles = [Patch(color=LIFE, label="open"),
                   Patch(color=BIZCRIT, label="BizCrit"),
                   Line2D([], [], color=MET, linewidth=2, label="first response"),
                   *(Line2D([], [], linestyle="", marker=m, color=c, label=name)
                     for name, (m, c) in RUNG_MARK.items())]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=6, frameon=False)
        return _svg(fig, salt)


def drivers_per_segment(drivers: dict[str, dict[str, int]], title: str, salt: str) -> str:
    """Stacked horizontal bars: per segment, how many surveys gave each reason."""
    with matplotlib.rc_context(_STYLE):
        segments = list(drivers)
        reasons = sorted({r for counts in drivers.values() for r in counts},
                         key=lambda r: (-sum(c.get(r, 0) for c in drivers.values()), r))
        fig = _figure(8, 0.5 * max(len(segments), 1) + 1.6)
        ax = fig.add_subplot()
        left = [0] * len(segments)
        cmap = matplotlib.colormaps["tab20"]
        for i, reason in enumerate(reasons):
            counts = [drivers[s].get(reason, 0) for s in segments]
            ax.barh(range(len(segments)), counts, left=left, color=cmap(i % 20), label=_clip(reason))
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.set_yticks(range(len(segments)), segments)
        ax.set_xlabel("Neutral or worse surveys")
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=7)
        return _svg(fig, salt)


def weekly_trend(trend: list[dict[str, Any]], salt: str) -> str:
    """Neutral or worse surveys per week, by rating, the reviewed week last."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(6, 2.6)
        ax = fig.add_subplot()
        weeks = [t["week"] for t in trend]
        bottom = [0] * len(weeks)
        for rating, colour in (("neutral", "#f5b041"), ("dissatisfied", "#dc7633"), ("very_dissatisfied", BREACHED)):
            counts = [t[rating] for t in trend]
            ax.bar(range(len(weeks)), counts, bottom=bottom, color=colour, label=rating.replace("_", " "))
            bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        ax.set_xticks(range(len(weeks)), weeks)
        ax.set_ylabel("surveys")
        ax.legend(frameon=False, fontsize=7)
        return _svg(fig, salt)


def _clip(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def svg_is_drawn(svg: str) -> bool:
    """Whether an SVG from here holds drawn shapes (for tests and a guard in the renderer)."""
    return bool(re.search(r"<path\b", svg))

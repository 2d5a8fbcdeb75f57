"""``sla-pipeline stackrank``: the stack rank as a terminal table."""

from __future__ import annotations

from pipeline.cli.escalations import printable


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _art(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def table(report: dict) -> str:
    """Rank, engineer, VSAT %, Quality %, % ART, ART, score, samples (and surveys, DSAT)."""
    head = ("rank", "engineer", "VSAT %", "Quality %", "% ART", "ART", "score", "samples", "surveys", "DSAT")
    rows = [head]
    for r in [*report["ranked"], *report["unranked"]]:
        rows.append((
            str(r["rank"]) if r["rank"] is not None else "unranked",
            printable(r["engineer"]), _pct(r["vsat_ratio"]), _pct(r["quality_ratio"]), _pct(r["art_ratio"]),
            _art(r["art_seconds"]), "-" if r["score"] is None else f"{r['score']:.3f}",
            str(r["samples"]), str(r["surveys"]), str(r["dsat"]),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) if i not in (1,) else cell.ljust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))) for row in rows]
    minimum = report["minimum"]
    w = report["weights"]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines.append(f"window {report['window']} to {report['as_of']}; score = {w['vsat']} x VSAT % + {w['quality']} x "
                 f"Quality % + {w['art']} x % ART; ranked with at least {minimum['surveys']} surveys and "
                 f"{minimum['samples']} response samples")
    return "\n".join(lines)

"""The HTML report of ``dolma stat`` (and of a mix preview): one self-contained file.

Curators choose thresholds by looking at distributions, so every distribution is drawn. The plots are SVG
images written here (bars, axes and labels: a histogram needs nothing more) and embedded as ``data:`` URIs,
so the file opens from disk in any browser, without a server, network or plotting library.
"""

from __future__ import annotations

import base64
import html
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from dolma import io

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin-bottom: 0.3em; font-family: monospace; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; font-family: monospace; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plot { border: 1px solid #eee; padding: 0.5em; }
.warning { color: #a40000; font-weight: bold; }
.note { color: #555; }
"""


def _number(value: float) -> str:
    if value == 0 or (abs(value) >= 0.01 and abs(value) < 1e6):
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
        return text or "0"
    return f"{value:.3g}"


def histogram_svg(edges: Sequence[float], counts: Sequence[int], title: str, width: int = 420) -> str:
    """A bar chart of ``counts`` over the bins ``edges`` (len(counts) + 1 edges), with the x range and the
    tallest bar's count as axis labels."""
    height, left, bottom, top = 200, 56, 34, 22
    plot_w, plot_h = width - left - 10, height - bottom - top
    tallest = max(counts) if counts else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    if counts and tallest > 0:
        bar_w = plot_w / len(counts)
        for i, n in enumerate(counts):
            h = plot_h * n / tallest
            if n and h < 1:
                h = 1.0
            x = left + i * bar_w
            parts.append(
                f'<rect x="{x:.2f}" y="{top + plot_h - h:.2f}" width="{max(bar_w - 0.5, 0.5):.2f}" '
                f'height="{h:.2f}" fill="#3b75af"><title>[{_number(edges[i])}, {_number(edges[i + 1])}): '
                f"{n:,}</title></rect>"
            )
        parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{tallest:,}</text>')
        parts.append(f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')
        parts.append(f'<text x="{left}" y="{height - 8}">{_number(edges[0])}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{_number(edges[-1])}</text>')
    else:
        parts.append(f'<text x="{left}" y="{top + plot_h / 2}">no values</text>')
    axis = f"M{left},{top} V{top + plot_h} H{left + plot_w}"
    parts.append(f'<path d="{axis}" stroke="#444" fill="none"/>')
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "%", width: int = 560) -> str:
    """Horizontal bars, one per label (e.g. the share of documents each filter rule drops)."""
    row, left = 22, min(max((len(label) for label in labels), default=10) * 7 + 10, 330)
    height = 30 + row * max(len(labels), 1)
    biggest = max((abs(v) for v in values), default=0.0) or 1.0
    plot_w = width - left - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="4" y="14" font-size="12">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 24 + i * row
        w = plot_w * abs(value) / biggest
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{html.escape(label[-46:])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{max(w, 0.5):.2f}" height="{row - 6}" fill="#c0504d"/>')
        parts.append(f'<text x="{left + w + 4:.2f}" y="{y + 13}">{value:,.2f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def image(svg: str, alt: str) -> str:
    """An ``<img>`` holding the SVG as a ``data:`` URI: self-contained, and a browser reports whether it
    loaded (``complete`` and ``naturalWidth``), which an inline ``<svg>`` element would not."""
    data = base64.b64encode(svg.encode()).decode()
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return _number(value) if math.isfinite(value) else ""
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: Sequence[str]) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def stats_sections(report: dict[str, Any]) -> list[str]:
    """The report's sources and attributes: tables and one histogram per distribution."""
    out = [f'<p class="note">{html.escape(report["sample"]["description"])}; '
           f'{report["sample"]["documents"]:,} documents in the sample.</p>']  # fmt: skip
    rows = []
    plots = []
    for name, source in report["sources"].items():
        tokens = source["tokens_per_document"]
        rows.append([name or "(none)", source["documents"], source["bytes"] / 1e6, source["tokens"],
                     float(tokens.get("mean", math.nan)), float(tokens.get("p50", math.nan))])  # fmt: skip
        hist = tokens.get("histogram")
        if hist:
            svg = histogram_svg(hist["edges"], hist["counts"], f"tokens per document: {name or '(none)'}")
            plots.append(image(svg, f"tokens per document of source {name}"))
    out.append("<h2>Sources</h2>")
    out.append(table(["source", "documents", "MB", "tokens", "mean tokens/doc", "median tokens/doc"], rows))
    out.append(f'<div class="plots">{"".join(plots)}</div>')
    if report["attributes"]:
        out.append("<h2>Attributes</h2>")
        header = ["attribute", "documents", "spans", "mean", "min", "p5", "p50", "p95", "max"]
        rows = [
            [name, a["documents"], a["spans"], *(float(a.get(k, math.nan)) for k in header[3:])]
            for name, a in report["attributes"].items()
        ]
        out.append(table(header, rows))
        plots = []
        for name, attr in report["attributes"].items():
            hist = attr.get("histogram")
            if hist:
                plots.append(image(histogram_svg(hist["edges"], hist["counts"], name), f"histogram of {name}"))
        out.append(f'<div class="plots">{"".join(plots)}</div>')
    return out


def preview_sections(preview: dict[str, Any]) -> list[str]:
    """The mix preview: per stream, a table and a bar chart of what each rule drops or edits, the expected
    output, and warnings in red."""
    sample = preview["sample"]
    out = [
        "<h2>Mix preview</h2>",
        f'<p class="note">Estimated on a {sample["rate"]:.4g} sample of documents by seeded hash of the id '
        f"(seed {sample['seed']}); each document is counted under the first rule that drops it, in the order "
        "the mix applies them, as in the mix's manifest.</p>",
    ]
    for stream in preview["streams"]:
        out.append(f"<h3>{html.escape(stream['name'])}</h3>")
        out.extend(f'<p class="warning">WARNING: {html.escape(w)}</p>' for w in stream["warnings"])
        rows = []
        for row in stream["rules"]:
            if "dropped_pct" in row:
                rows.append([row["rule"], "drops", row["dropped_pct"], row["dropped_documents"],
                             float(row.get("alone_pct", math.nan))])  # fmt: skip
            else:
                rows.append([row["rule"], "edits", row["edited_pct"], row["edited_documents"], math.nan])
        out.append(table(["rule", "", "% of documents", "documents (est.)", "% alone"], rows))
        if rows:
            labels = [f"{r[0]} ({r[1]})" for r in rows]
            svg = bars_svg(labels, [r[2] for r in rows], f"{stream['name']}: documents dropped or edited, by rule")
            out.append(image(svg, f"rules of stream {stream['name']}"))
        e = stream["expected"]
        out.append(
            f"<p>{stream['documents']:,} documents in ({stream['bytes'] / 1e6:,.1f} MB, ~{stream['tokens']:,} "
            f"tokens); expected output: ~{e['documents']:,} documents, ~{e['bytes'] / 1e6:,.1f} MB, "
            f"~{e['tokens']:,} tokens.</p>"
        )
    return out


def write(path: str, title: str, sections: list[str]) -> None:
    """Write the page (local or s3://) and say where, so the user can open it."""
    io.write_bytes(path, page(title, sections).encode())
    print(f"HTML report: {path if io.is_s3(path) else os.path.abspath(path)}", file=sys.stderr)

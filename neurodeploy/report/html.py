"""A self-contained HTML deployment report: summary tables and the plots as inline PNG data.

No external resources (scripts, fonts, images) are referenced, so the file opens offline and can
be mailed as it is. Writes are atomic.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

from .plots import render_plots

__all__ = ["render_html", "write_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;
color:#1d2330;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.15rem;border-bottom:1px solid #ccd;
padding-bottom:.2rem;margin-top:2rem} .sub{color:#556;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem} td,th{border:1px solid #ccd;
padding:.25rem .6rem;text-align:left} th{background:#eef1f6} td.num{text-align:right;
font-variant-numeric:tabular-nums}
.ok{color:#177245;font-weight:600} .bad{color:#b3261e;font-weight:600}
.note{color:#556;font-size:.85rem} img{max-width:100%;border:1px solid #dde}
"""


def _table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cls = " class='num'" if isinstance(v, (int, float)) else ""
            text = f"{v:,.4g}" if isinstance(v, float) else (f"{v:,}" if isinstance(v, int)
                                                              and not isinstance(v, bool)
                                                              else str(v))
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _kv(mapping: dict) -> str:
    return _table([{"item": k, "value": v if isinstance(v, (int, float, str)) else json.dumps(v)}
                   for k, v in mapping.items()])


def render_html(report: dict, spikes=None) -> str:
    """The report as one HTML string (plots inline as base64 PNG)."""
    plots = render_plots(report, spikes)
    verified = report.get("verification") or {}
    exact = verified.get("bit_exact")
    verdict = ("<span class='ok'>bit-exact</span>" if exact else
               "<span class='bad'>NOT bit-exact</span>" if exact is not None else "not run")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>neurodeploy report: {html.escape(str(report.get('model', '')))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Deployment report: {html.escape(str(report.get('model', '')))}</h1>",
        f"<p class='sub'>target {html.escape(str(report.get('target', '')))} · "
        f"neurodeploy {html.escape(str(report.get('neurodeploy_version', '')))} · "
        f"reference vs Lava: {verdict}</p>",
        "<h2>Summary</h2>", _kv(report.get("summary") or {}),
    ]
    for title, png in plots.items():
        data = base64.b64encode(png).decode()
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{data}'>")
    if report.get("accuracy"):
        parts += ["<h2>Accuracy</h2>", _kv(report["accuracy"])]
    if report.get("energy"):
        energy = report["energy"]
        parts += ["<h2>Energy and operations (estimated)</h2>",
                  _kv({k: v for k, v in energy.items() if not isinstance(v, (list, dict))})]
        if isinstance(energy.get("sources"), (dict, list)):
            parts.append(f"<p class='note'>constants: {html.escape(json.dumps(energy['sources']))}"
                         "</p>")
    if report.get("layers"):
        parts += ["<h2>Layers</h2>", _table(report["layers"])]
    if report.get("compatibility"):
        parts += ["<h2>Compatibility</h2>", _table(report["compatibility"])]
    if verified:
        parts += ["<h2>Verification</h2>", _kv({k: v for k, v in verified.items()
                                                if k != "layers"})]
    parts.append("<p class='note'>All energy figures are estimates from the target file's "
                 "constants (sources listed); 'measured' is reserved for hardware numbers."
                 "</p></body></html>")
    return "".join(parts)


def write_html(report: dict, path: str | os.PathLike, spikes=None) -> Path:
    """Render and write atomically (temp file in the same directory + rename)."""
    path = Path(path)
    text = render_html(report, spikes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

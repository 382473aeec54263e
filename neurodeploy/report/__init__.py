"""Deployment reports: PNG plots and a self-contained HTML page built from a report mapping.

The report mapping is the same JSON object ``neurodeploy deploy`` writes to ``report.json``; this
package only renders it (it computes nothing). See :mod:`neurodeploy.report.html`.
"""
from .html import render_html, write_html
from .plots import PLOTS, render_plots

__all__ = ["render_html", "write_html", "render_plots", "PLOTS"]

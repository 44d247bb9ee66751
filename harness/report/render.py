"""A leaderboard (see leaderboard.py) -> Markdown, JSON, CSV and one self-contained HTML file.

The HTML needs no server and no internet: styles, a small sort script and the plots (inline SVG) are
all in the file.
"""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from harness.evaluate.suites import kinds
from harness.files import write_json, write_text
from harness.report.leaderboard import SCHEMA_VERSION


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _signed(value) -> str:
    return "" if value is None else f"{100 * value:+.1f}"


def markdown(board: dict) -> str:
    suites = board["suites"]
    header = ["Model", "Average", "Δ base"] + [f"{s['name']} ({s['metric']})" for s in suites]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(board["rows"], key=lambda r: -(r["average"] or 0)):
        cells = [f"{row['run']} / {row['model']}", _pct(row["average"]), _signed(row["delta_average"])]
        for suite in suites:
            result = row["results"].get(suite["name"])
            if not result:
                cells.append("–")
                continue
            cell = f"{_pct(result['value'])} [{_pct(result['ci_low'])}–{_pct(result['ci_high'])}] n={result['n']}"
            if result.get("delta") is not None:
                cell += f" ({_signed(result['delta'])})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"\n**Warning:** {w}" for w in board.get("warnings", [])]
    notes += [
        "",
        "Scores in %, with a 95% interval (Wilson for accuracies, bootstrap for graded scores) and the "
        "item count; (±) is the change against the run's base model.",
    ]
    notes += cluster_tables(board)
    notes += zero_shot_table(board)
    notes += kind_tables(board)
    settings = {json.dumps(row["generation"], sort_keys=True) for row in board["rows"] if row["generation"]}
    for setting in sorted(settings):
        notes += ["", f"Generation settings: `{setting}`"]
    return "\n".join(lines + notes) + "\n"


CLUSTER_HEADER = ["Cluster", "Status", "Base", "Tuned", "Gain"]


def cluster_rows(run: dict) -> list[list[str]]:
    rows = []
    for cluster, entry in run.get("clusters", {}).items():
        rows.append(
            [
                cluster,
                entry["status"],
                _scored(entry.get("base")),
                _scored(entry.get("tuned")),
                _signed(entry.get("gain")),
            ]
        )
    return rows


def _scored(entry: dict | None) -> str:
    if not entry:
        return "–"
    interval = f" [{_pct(entry['ci_low'])}–{_pct(entry['ci_high'])}]" if entry.get("ci_low") is not None else ""
    return f"{_pct(entry['value'])}{interval} n={entry['n']}"


def gains_line(run: dict) -> str:
    gains = run.get("gains", {})
    parts = [f"{status} {_signed(gains.get(status)) or '–'}" for status in ("held-out", "seen", "not trained")]
    return f"Mean gain (tuned - base, points) over clusters: {', '.join(parts)}"


def cluster_tables(board: dict) -> list[str]:
    """Zero-shot generalization per run: each cluster seen or held out, base and tuned scores, the gain."""
    lines = []
    for run in board.get("runs", []):
        rows = cluster_rows(run)
        if not rows:
            continue
        held_out = ", ".join(run.get("held_out") or []) or "none"
        lines += [
            "",
            f"Zero-shot generalization of {run['run']} (held-out clusters: {held_out}). {gains_line(run)}.",
            "",
        ]
        lines += ["| " + " | ".join(CLUSTER_HEADER) + " |", "|" + "---|" * len(CLUSTER_HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def zero_shot_rows(board: dict) -> list[list[str]]:
    """Per run and suite: clusters with their status, base and tuned scores, contamination, clean-subset scores."""
    rows = []
    by_run: dict[str, dict[str, dict]] = {}
    for row in board["rows"]:
        by_run.setdefault(row["run"], {})[row["model"]] = row
    for run, models in by_run.items():
        base, tuned = models.get("base"), models.get("tuned")
        for suite in board["suites"]:
            results = {label: m["results"].get(suite["name"]) for label, m in (("base", base), ("tuned", tuned)) if m}
            account = next((r["zero_shot"] for r in results.values() if r and r.get("zero_shot")), None)
            if account is None:
                continue
            clusters = ", ".join(f"{c} ({status})" for c, status in account["clusters"].items()) or "no cluster"
            if account["contamination"] == "checked":
                contaminated = str(account["contaminated"])
                clean_scores = f"{_score(results, 'base', 'clean_value')} / {_score(results, 'tuned', 'clean_value')}"
                clean = f"{clean_scores} (n={account['clean_n']})"
            else:
                contaminated, clean = account["contamination"], "–"
            rows.append(
                [
                    run,
                    suite["name"],
                    clusters,
                    f"{_score(results, 'base', 'value')} / {_score(results, 'tuned', 'value')}",
                    contaminated,
                    clean,
                ]
            )
    return rows


def _score(results: dict, label: str, key: str) -> str:
    result = results.get(label)
    if not result:
        return "–"
    return _pct(result["value"] if key == "value" else result["zero_shot"].get(key))


ZERO_SHOT_HEADER = ["Run", "Suite", "Clusters", "Base / tuned", "Contaminated items", "Clean subset: base / tuned"]


def zero_shot_table(board: dict) -> list[str]:
    """Zero-shot checks: whether each suite's clusters were trained on or held out, and how many of its items
    a training row contains (decontamination), with the score on the items none contains."""
    rows = zero_shot_rows(board)
    if not rows:
        return []
    lines = [
        "",
        "Zero-shot checks (clusters seen in training, held out, or not trained; contaminated items; scores on the "
        "clean subset):",
        "",
        "| " + " | ".join(ZERO_SHOT_HEADER) + " |",
        "|" + "---|" * len(ZERO_SHOT_HEADER),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def kind_tables(board: dict) -> list[str]:
    """Each suite kind's own table (its `report_part`), one row per model and suite of the kind."""
    registered = kinds()
    by_kind: dict[str, list[str]] = {}  # kind -> its suites, in the board's order
    for suite in board["suites"]:
        kind = registered.get(suite["kind"])
        if kind and kind.report_part:
            by_kind.setdefault(kind.name, []).append(suite["name"])
    lines = []
    for kind_name, names in by_kind.items():
        part = registered[kind_name].report_part
        rows = [
            (row, name, r.get("details", {}))
            for row in board["rows"]
            for name, r in row["results"].items()
            if name in names
        ]
        if not rows:
            continue
        lines += [
            "",
            part.title,
            "",
            "| Model | Suite | " + " | ".join(header for header, _, _ in part.columns) + " |",
            "|---|---|" + "---|" * len(part.columns),
        ]
        for row, name, details in rows:
            cells = [_pct((details.get(group) or {}).get(key)) for _, group, key in part.columns]
            lines.append(f"| {row['run']} / {row['model']} | {name} | " + " | ".join(cells) + " |")
        if part.note:
            lines += ["", part.note]
    return lines


def csv_text(board: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run", "model", "suite", "metric", "value", "ci_low", "ci_high", "n", "delta"])
    for row in board["rows"]:
        for name, r in row["results"].items():
            writer.writerow(
                [
                    row["run"],
                    row["model"],
                    name,
                    r["metric"],
                    r["value"],
                    r["ci_low"],
                    r["ci_high"],
                    r["n"],
                    r.get("delta"),
                ]
            )
    return out.getvalue()


# --- HTML ---------------------------------------------------------------------------------------

COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]


def svg_lines(title: str, series: dict[str, list[list[float]]], y_label: str, width=560, height=260) -> str:
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    left, bottom, top, right = 50, 30, 30, 10
    x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
    y_min, y_max = min(0.0, min(p[1] for p in points)), max(p[1] for p in points) or 1.0
    x_span, y_span = (x_max - x_min) or 1, (y_max - y_min) or 1

    def xy(p):
        return (
            left + (p[0] - x_min) / x_span * (width - left - right),
            height - bottom - (p[1] - y_min) / y_span * (height - top - bottom),
        )

    parts = [
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" class="title">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{y_max:.3g}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">{y_min:.3g}</text>',
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end">step {x_max:g}</text>',
        f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
        f"{html.escape(y_label)}</text>",
    ]
    for index, (name, values) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, values))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{width - right - 4}" y="{top + 14 * (index + 1)}" text-anchor="end" fill="{color}">'
            f"{html.escape(name)}</text>"
        )
    return "".join(parts) + "</svg>"


def svg_bars(title: str, groups: list[str], series: dict[str, list[float | None]], width=560, height=280) -> str:
    if not groups or not series:
        return ""
    left, bottom, top = 40, 70, 30
    slot = (width - left - 10) / len(groups)
    bar = slot * 0.8 / len(series)
    parts = [
        f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">',
        f'<text x="{width / 2}" y="18" text-anchor="middle" class="title">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">100</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    scale = height - top - bottom
    for s_index, (name, values) in enumerate(series.items()):
        color = COLORS[s_index % len(COLORS)]
        parts.append(
            f'<text x="{width - 12}" y="{top + 14 * (s_index + 1)}" text-anchor="end" fill="{color}">'
            f"{html.escape(name)}</text>"
        )
        for g_index, value in enumerate(values):
            if value is None:
                continue
            x = left + g_index * slot + slot * 0.1 + s_index * bar
            h = max(value, 0) * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{html.escape(name)} {html.escape(groups[g_index])}: {100 * value:.1f}</title></rect>"
            )
    for g_index, group in enumerate(groups):
        x = left + g_index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {height - bottom + 14})">{html.escape(group)}</text>'
        )
    return "".join(parts) + "</svg>"


def plots(board: dict) -> list[str]:
    out = []
    for run in board["runs"]:
        if run.get("loss_curve"):
            out.append(svg_lines(f"Training loss: {run['run']}", {"loss": run["loss_curve"]}, "loss"))
        if run.get("eval_curve"):
            out.append(svg_lines(f"Accuracy during training: {run['run']}", run["eval_curve"], "accuracy"))
    suites = [s["name"] for s in board["suites"]]
    rows = board["rows"]
    out.append(
        svg_bars(
            "Score by suite (%)",
            suites,
            {f"{r['run']}/{r['model']}": [r["results"].get(s, {}).get("value") for s in suites] for r in rows},
        )
    )
    for suite in suites:
        with_tasks = [r for r in rows if "by_task" in r["results"].get(suite, {}).get("details", {})]
        if with_tasks:
            tasks = sorted({t for r in with_tasks for t in r["results"][suite]["details"]["by_task"]})
            out.append(
                svg_bars(
                    f"{suite}: score per task (%)",
                    tasks,
                    {
                        f"{r['run']}/{r['model']}": [r["results"][suite]["details"]["by_task"].get(t) for t in tasks]
                        for r in with_tasks
                    },
                )
            )
    for run in board.get("runs", []):  # per cluster: base and tuned, seen or held out
        clusters = run.get("clusters") or {}
        if clusters:
            names = list(clusters)
            out.append(
                svg_bars(
                    f"{run['run']}: score per cluster (%), held-out clusters marked *",
                    [f"{c}*" if clusters[c]["status"] == "held-out" else c for c in names],
                    {
                        stage: [(clusters[c].get(stage) or {}).get("value") for c in names]
                        for stage in ("base", "tuned")
                    },
                )
            )
    return [p for p in out if p]


STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer}td:first-child,th:first-child{text-align:left}
.ci{color:#777;font-size:0.85em}.up{color:#2a7a2a}.down{color:#b22}
.plot{border:1px solid #eee;margin:8px}.plot text{font-size:11px}.plot .title{font-size:13px;font-weight:600}
.axis{stroke:#888}
"""
SORT_SCRIPT = """
document.querySelectorAll('th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = th.closest('table').querySelector('tbody');
    var rows = Array.from(body.rows);
    var descending = th.dataset.order !== 'desc';
    rows.sort(function (a, b) {
      var x = parseFloat(a.cells[column].dataset.value), y = parseFloat(b.cells[column].dataset.value);
      if (isNaN(x)) { return a.cells[column].textContent.localeCompare(b.cells[column].textContent); }
      return descending ? y - x : x - y;
    });
    th.dataset.order = descending ? 'desc' : 'asc';
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def html_page(board: dict, title: str) -> str:
    suites = board["suites"]
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in ["Model", "Average", "Δ base"] + [f"{s['name']} ({s['metric']})" for s in suites]
    )
    body = []
    for row in sorted(board["rows"], key=lambda r: -(r["average"] or 0)):
        cells = [
            f"<td>{html.escape(row['run'])} / {html.escape(row['model'])}</td>",
            f'<td data-value="{row["average"] or 0}">{_pct(row["average"])}</td>',
            _delta_cell(row["delta_average"]),
        ]
        for suite in suites:
            r = row["results"].get(suite["name"])
            if not r:
                cells.append('<td data-value="-1">–</td>')
                continue
            delta = f" {_delta_span(r.get('delta'))}" if r.get("delta") is not None else ""
            cells.append(
                f'<td data-value="{r["value"] or 0}">{_pct(r["value"])}{delta}<br>'
                f'<span class="ci">[{_pct(r["ci_low"])}–{_pct(r["ci_high"])}] n={r["n"]}</span></td>'
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    settings = sorted({json.dumps(r["generation"], sort_keys=True) for r in board["rows"] if r["generation"]})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Scores in %, 95% interval and item count under each; Δ is the change against the run's base model.
Click a column to sort.</p>
{"".join(f'<p class="down"><b>Warning:</b> {html.escape(w)}</p>' for w in board.get("warnings", []))}
<table id="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
{
        "".join(
            _html_table(f"Zero-shot generalization: {r['run']}", CLUSTER_HEADER, cluster_rows(r), gains_line(r))
            for r in board.get("runs", [])
        )
    }
{_html_table("Zero-shot checks", ZERO_SHOT_HEADER, zero_shot_rows(board))}
<p class="ci">Generation settings: {"<br>".join(html.escape(s) for s in settings)}<br>
{html.escape(board["generated_by"])}, report schema {SCHEMA_VERSION}</p>
<h2>Plots</h2><div id="plots">{"".join(plots(board))}</div>
<script>{SORT_SCRIPT}</script></body></html>
"""


def _html_table(title: str, header: list[str], rows: list[list[str]], note: str = "") -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in rows)
    caption = f"<p>{html.escape(note)}</p>" if note else ""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<h2>{html.escape(title)}</h2>{caption}{table}"


def _delta_span(delta) -> str:
    return f'<span class="{"up" if delta >= 0 else "down"}">({_signed(delta)})</span>'


def _delta_cell(delta) -> str:
    return f'<td data-value="{delta or 0}">{_delta_span(delta) if delta is not None else ""}</td>'


def write_report(board: dict, out_dir: Path, formats: list[str], title: str) -> dict[str, Path]:
    writers = {
        "md": ("report.md", lambda: markdown(board)),
        "csv": ("report.csv", lambda: csv_text(board)),
        "html": ("report.html", lambda: html_page(board, title)),
    }
    written = {}
    for fmt in formats:
        if fmt == "json":
            written[fmt] = write_json(out_dir / "report.json", board)
        else:
            name, render = writers[fmt]
            written[fmt] = write_text(out_dir / name, render())
    return written


def study_rows(study: dict) -> list[list[str]]:
    return [
        [
            cluster,
            entry["run"],
            _pct(entry["base"]),
            _pct(entry["tuned"]),
            _signed(entry["held_out_gain"]) or "–",
            _signed(entry["mean_seen_gain"]) or "–",
        ]
        for cluster, entry in study["clusters"].items()
    ]


STUDY_HEADER = ["Held-out cluster", "Run", "Base", "Tuned", "Held-out gain", "Mean gain on its seen clusters"]


def study_markdown(study: dict) -> str:
    """A leave-one-cluster-out study: per held-out cluster, base and tuned scores on it and the gain."""
    lines = [
        f"# Leave-one-cluster-out study: {study['recipe']}",
        "",
        f"Mean held-out gain {_signed(study['mean_held_out_gain']) or '–'} points; mean gain on seen clusters "
        f"{_signed(study['mean_seen_gain']) or '–'} (each run's seen clusters, averaged over runs).",
        "",
        "| " + " | ".join(STUDY_HEADER) + " |",
        "|" + "---|" * len(STUDY_HEADER),
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in study_rows(study)]
    if len(study["schedule"]) > 1:
        ks = sorted(study["schedule"], key=int)
        lines += ["", "Held-out score (tuned) against the number of training clusters:", ""]
        lines += ["| Held-out cluster | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
        for cluster in study["clusters"]:
            lines.append(f"| {cluster} | " + " | ".join(_pct(study["schedule"][k].get(cluster)) for k in ks) + " |")
    lines += ["", "Each run's seen clusters and contamination: `study.json` (`runs`); each run's own report in runs/."]
    return "\n".join(lines) + "\n"


def study_html(study: dict) -> str:
    clusters = list(study["clusters"])
    bars = svg_bars(
        "Score on each cluster when it is held out (%): base and tuned",
        clusters,
        {stage: [study["clusters"][c][stage] for c in clusters] for stage in ("base", "tuned")},
    )
    curves = ""
    if len(study["schedule"]) > 1:
        series = {
            cluster: [
                [int(k), 100 * v]
                for k, by in sorted(study["schedule"].items(), key=lambda kv: int(kv[0]))
                if (v := by.get(cluster)) is not None
            ]
            for cluster in clusters
        }
        curves = svg_lines("Held-out score against the number of training clusters", series, "score %")
    title = f"Leave-one-cluster-out study: {study['recipe']}"
    note = (
        f"Mean held-out gain {_signed(study['mean_held_out_gain']) or '–'} points; mean gain on seen clusters "
        f"{_signed(study['mean_seen_gain']) or '–'}."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>
{_html_table("Held-out gain per cluster", STUDY_HEADER, study_rows(study), note)}
<div id="plots">{bars}{curves}</div></body></html>
"""

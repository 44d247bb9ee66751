"""Reports: leaderboard tables (Markdown, JSON, CSV, HTML with plots) and the model card."""

from __future__ import annotations

from pathlib import Path

from harness.files import read_json
from harness.recipe import REPORT_FORMATS
from harness.report.leaderboard import collect
from harness.report.model_card import write_model_card
from harness.report.render import write_report
from harness.run_folder import RunFolder


def build_report(
    paths: list[str | Path], out_dir: str | Path, formats: list[str] | None = None, title: str | None = None
) -> dict[str, Path]:
    board = collect(paths)
    written = write_report(board, Path(out_dir), formats or list(REPORT_FORMATS), title or "harness leaderboard")
    for path in map(Path, paths):  # a run folder also gets a model card next to its model
        if RunFolder(path).is_run:
            write_model_card(path, board)
    return written


def headline(board_path: str | Path) -> list[str]:
    """One line per model: the numbers a person looks at first; per run with clusters, the zero-shot gains."""
    board = read_json(board_path)
    lines = []
    for row in board["rows"]:
        parts = [
            f"{name} {100 * r['value']:.1f}%" + (f" ({100 * r['delta']:+.1f})" if r.get("delta") is not None else "")
            for name, r in row["results"].items()
            if r["value"] is not None
        ]
        lines.append(f"{row['run']} / {row['model']}: " + ", ".join(parts))
    for run in board.get("runs", []):
        gains = {status: value for status, value in (run.get("gains") or {}).items() if value is not None}
        if gains:
            shown = ", ".join(f"{status} {100 * value:+.1f}" for status, value in gains.items())
            lines.append(f"{run['run']}: mean gain over clusters (points): {shown}")
    return lines + [f"WARNING: {w}" for w in board.get("warnings", [])]

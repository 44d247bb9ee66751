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


def _group(label: str, group: dict | None) -> str:
    if not group:
        return f"{label} –"
    return f"{label} {100 * group['value']:.1f}% [{100 * group['ci_low']:.1f}-{100 * group['ci_high']:.1f}]"


def headline(board_path: str | Path) -> list[str]:
    """One line per model: the numbers a person looks at first."""
    board = read_json(board_path)
    lines = []
    for row in board["rows"]:
        parts = [
            f"{name} {100 * r['value']:.1f}%" + (f" ({100 * r['delta']:+.1f})" if r.get("delta") is not None else "")
            for name, r in row["results"].items()
            if r["value"] is not None
        ]
        lines.append(f"{row['run']} / {row['model']}: " + ", ".join(parts))
        for name, result in row["results"].items():
            for cluster, split in (result.get("generalization") or {}).items():
                lines.append(
                    f"  {name} {cluster}: "
                    + ", ".join(
                        _group(label, split[key])
                        for key, label in (("seen", "seen"), ("held_out", "held-out (zero-shot)"))
                    )
                )
    return lines + [f"WARNING: {w}" for w in board.get("warnings", [])]

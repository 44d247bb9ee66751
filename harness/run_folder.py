"""A run folder's layout, in one place: what `harness run` and `harness train` write, and what `harness eval`,
`harness report` and `harness serve` read.

    recipe.yaml            the recipe as given, relative paths made absolute (`harness run`)
    recipe.resolved.yaml   the recipe training ran with, defaults filled in (`harness train`)
    environment.json       package versions, git commit, device
    data/report.json       rows per source, malformed rows per reason, fingerprints
    train/                 checkpoints, log_history.json
    model/                 weights or LoRA adapter, tokenizer, chat template, model card
    eval/<stage>/<suite>/  samples.jsonl, summary.json (stage: base, tuned)
    report/                report.md, .json, .csv, .html
    steps.json, .lock      `harness run`'s progress and lock
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def recipe(self) -> Path:
        return self.root / "recipe.yaml"

    @property
    def resolved_recipe(self) -> Path:
        return self.root / "recipe.resolved.yaml"

    @property
    def environment(self) -> Path:
        return self.root / "environment.json"

    @property
    def data_report(self) -> Path:
        return self.root / "data" / "report.json"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def model(self) -> Path:
        return self.root / "model"

    def eval_dir(self, stage: str = "") -> Path:
        return self.root / "eval" / stage if stage else self.root / "eval"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def steps(self) -> Path:
        return self.root / "steps.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def is_run(self) -> bool:
        """A trained run (its model and the recipe it was trained with), not just any folder."""
        return self.model.is_dir() and self.resolved_recipe.exists()

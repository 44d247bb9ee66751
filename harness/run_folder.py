"""A run folder's layout, in one place: what `harness run` and `harness train` write, and what `harness eval`,
`harness report` and `harness serve` read.

    recipe.yaml            the recipe as given, relative paths made absolute (`harness run`)
    recipe.resolved.yaml   the recipe training ran with, defaults filled in (`harness train`)
    environment.json       package versions, git commit, device
    data/report.json       rows per source, malformed rows per reason, fingerprints
    data/generalization.json  clusters of the training rows and suites, held-out rows dropped, contamination
    train/                 checkpoints, log_history.json
    model/                 weights or LoRA adapter, tokenizer, chat template, model card
    eval/<stage>/<suite>/  samples.jsonl, summary.json (stage: base, tuned)
    report/                report.md, .json, .csv, .html
    steps.json, .lock      `harness run`'s progress and lock
"""

from __future__ import annotations

from pathlib import Path


class RunFolder:
    def __init__(self, root: str | Path):
        self.root = root = Path(root)
        self.recipe = root / "recipe.yaml"
        self.resolved_recipe = root / "recipe.resolved.yaml"
        self.environment = root / "environment.json"
        self.data_report = root / "data" / "report.json"
        self.generalization = root / "data" / "generalization.json"
        self.train = root / "train"
        self.model = root / "model"
        self.report = root / "report"
        self.steps = root / "steps.json"
        self.lock = root / ".lock"

    def eval_dir(self, stage: str = "") -> Path:
        return self.root / "eval" / stage if stage else self.root / "eval"

    @property
    def is_run(self) -> bool:
        """A trained run (its model and the recipe it was trained with), not just any folder."""
        return self.model.is_dir() and self.resolved_recipe.exists()

"""A Hugging Face style model card (`README.md` in the model folder) with the eval results in its metadata."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.files import write_text
from harness.report.render import markdown
from harness.run_folder import RunFolder


def write_model_card(run_dir: Path, board: dict) -> Path:
    folder = RunFolder(run_dir)
    recipe = yaml.safe_load(folder.resolved_recipe.read_text())
    tuned = next((r for r in board["rows"] if r["run"] == run_dir.name and not r["is_base"]), None)
    results = []
    for name, result in (tuned or {"results": {}})["results"].items():
        if result["value"] is not None:
            results.append(
                {
                    "task": {"type": "text-generation"},
                    "dataset": {"name": name, "type": f"harness/{name}"},
                    "metrics": [{"type": result["metric"], "value": result["value"], "name": result["metric"]}],
                }
            )
    metadata = {
        "library_name": "transformers" if not (folder.model / "adapter_config.json").exists() else "peft",
        "base_model": recipe["model"]["name"] if recipe["model"]["name"] != "tiny" else None,
        "tags": ["harness", "sft", "trl", recipe["mode"]],
        "model-index": [{"name": recipe["name"], "results": results}],
    }
    metadata = {k: v for k, v in metadata.items() if v is not None}
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    own_rows = {**board, "rows": [r for r in board["rows"] if r["run"] == run_dir.name]}
    body = (
        f"# {recipe['name']}\n\nFine-tuned with supervised fine-tuning (TRL's SFTTrainer) by harness, "
        f"mode `{recipe['mode']}`, from `{recipe['model']['name']}`.\n\n## Evaluation\n\n{markdown(own_rows)}\n"
        "## Training\n\nThe full recipe is in `recipe.resolved.yaml` of the run folder; the chat template is "
        "saved with the tokenizer.\n"
    )
    return write_text(folder.model / "README.md", f"---\n{front}---\n\n{body}")

"""The lm-evaluation-harness bridge: a suite of kind `lm_eval` runs `lm_eval.simple_evaluate`.

Recipe form:
    - suite: lm_eval
      name: gsm8k-lm-eval
      path: data/gsm8k/test.jsonl                # optional: the data file a local task reads
      samples: 50                                # lm_eval's limit
      options: {tasks: [gsm8k_local], include_path: evals, num_fewshot: 0, apply_chat_template: true,
                system_instruction: null, metric: "exact_match,flexible-extract"}
The same model folder is used (LoRA adapters included), with lm_eval's `vllm` model when the eval
backend is vLLM and its `hf` model otherwise. Its summary has the shape of every suite's (its metrics,
headline `accuracy` = the chosen lm_eval metric), plus lm_eval's task versions.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from harness.evaluate.backends import BACKENDS
from harness.evaluate.suites import SuiteKind
from harness.files import package_versions
from harness.models.loading import adapter_base
from harness.run_folder import EvalFolder, SuiteSummary


class LmEvalOptions(BaseModel):
    """lm_eval.simple_evaluate's arguments; those not named here go to it as they are."""

    model_config = ConfigDict(extra="allow")
    tasks: list[str] = Field(min_length=1, description="lm_eval task names (or local task YAMLs in include_path)")
    include_path: str | None = None
    metric: str | None = Field(None, description="The headline, e.g. exact_match,flexible-extract")


def task_configs(tasks: list[str], include_path: Path | None, data_file: Path | None) -> list:
    """Task names, or a local task's YAML as a dict when it reads the suite's data file."""
    configs = []
    for task in tasks:
        local = include_path / f"{task}.yaml" if include_path else None
        if local and local.exists() and data_file:
            config = yaml.safe_load(local.read_text())
            config.setdefault("dataset_kwargs", {})["data_files"] = {config.get("test_split", "test"): str(data_file)}
            configs.append(config)
        else:
            configs.append(task)
    return configs


def load_tasks(tasks: list[str], include: str | None, data_file: Path | None) -> tuple[list, object]:
    """(task configs, lm_eval TaskManager) for the suite's tasks: what running them and reading their documents
    (decontamination) both start from. A loaded recipe's paths are absolute already."""
    from lm_eval.tasks import TaskManager

    include_path = Path(include) if include else None
    manager = TaskManager(include_path=str(include_path)) if include_path else TaskManager()
    return task_configs(tasks, include_path, data_file), manager


def run_lm_eval(
    model: str,
    model_path: str,
    suite,
    backend: str,
    out_dir: Path,
    seed: int = 0,
    dtype: str = "auto",
    reproduce: dict | None = None,
) -> dict:

    import lm_eval
    import torch

    from harness.evaluate.suites import check_options

    options = check_options(suite).model_dump()
    tasks = options.pop("tasks")
    configs, manager = load_tasks(tasks, options.pop("include_path", None), Path(suite.path) if suite.path else None)
    headline = options.pop("metric", None)
    base = adapter_base(model_path)
    model_args = {"pretrained": base or model_path, "dtype": dtype}  # the recipe's model.dtype
    lm_eval_model = BACKENDS[backend].lm_eval_model
    if lm_eval_model == "vllm":
        if base:
            model_args.update(lora_local_path=model_path, enable_lora=True)
    else:
        if base:
            model_args["peft"] = model_path
    results = lm_eval.simple_evaluate(
        model=lm_eval_model,
        model_args=model_args,
        tasks=configs,
        limit=suite.samples,
        task_manager=manager,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
        log_samples=True,
        device=options.pop("device", "cuda" if torch.cuda.is_available() else "cpu"),
        batch_size=options.pop("batch_size", 8),
        **options,
    )
    metrics = {}
    for task, values in results["results"].items():
        for key, value in values.items():
            if isinstance(value, (int, float)) and key != "alias" and "_stderr" not in key:
                metrics[f"{task}/{key}"] = round(float(value), 4)
    first_task = next(iter(results["results"]))
    headline_key = f"{first_task}/{headline}" if headline else next(iter(metrics))
    # lm_eval logs each document once per filter
    records = [
        {
            "task": task,
            "doc_id": s["doc_id"],
            "filter": s.get("filter"),
            "target": s["target"],
            "outputs": s["resps"],
            "filtered": s["filtered_resps"],
            **{k: s[k] for k in s if k in ("exact_match",)},
        }
        for task, samples in results.get("samples", {}).items()
        for s in samples
    ]
    documents = {(r["task"], r["doc_id"]) for r in records}
    name = suite.name or "lm_eval"
    folder = EvalFolder(out_dir.parent)
    folder.write_samples(name, records)
    summary = SuiteSummary(
        suite=name,
        kind="lm_eval",
        model=model,
        model_path=model_path,
        backend=lm_eval_model,
        n_items=len(documents),
        n_samples=len(documents),
        headline_metric=headline_key,
        metrics={**metrics, "accuracy": metrics.get(headline_key)},
        generation={"lm_eval": dict(options)},
        task_versions=results.get("versions", {}),
        packages=package_versions(),
        reproduce=reproduce or {},
    )
    return folder.write_summary(summary)


KIND = SuiteKind("lm_eval", None, options=LmEvalOptions, run=run_lm_eval)

"""Eval summaries from one or many run folders -> one leaderboard.

A row is one evaluated model: a run's `base` and `tuned`, an evaluation folder (`harness eval`, `harness
score`), a study's base and runs (`run_folder.evaluations` finds them).
Each suite contributes its headline metric with the item count and a 95% confidence interval: Wilson
for pass/fail accuracies, a seeded bootstrap over items for graded scores (ROUGE-L). `delta` is the
difference to the base model of the same run.

JSON schema (`report.json`, `schema_version` 1):
    {"schema_version": 1, "generated_by": "harness <version>",
     "suites": [{"name", "kind", "metric"}],
     "rows": [{"run", "model", "model_path", "is_base", "average", "delta_average",
               "results": {suite: {"metric", "value", "n", "ci_low", "ci_high", "delta", "details": {...},
                                   "zero_shot"?: {"clusters": {cluster: "seen" | "held-out" | "not trained"},
                                                  "contamination": "checked" | "not checked: why",
                                                  "contaminated"?, "clean_value"?, "clean_n"?}}},
               "generation": {...}, "backend"}],
     "runs": [{"run", "path", "train_seconds"?, "loss_curve": [[step, loss]], "eval_curve": {...},
               "held_out"?, "sources"?, "clusters"?: {cluster: {"status", "base", "tuned", "gain"}}, "gains"?}]}
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from harness import __version__
from harness.evaluate.suites import kinds, mean
from harness.files import read_json
from harness.run_folder import (
    REPAIR,
    SAMPLES_FILE,
    EvalFolder,
    Evaluation,
    RunFolder,
    SuiteSummary,
    evaluations,
    read_samples,
)

SCHEMA_VERSION = 1
GRADED = {"score"}  # metrics in [0, 1] that are not pass/fail: bootstrap CI


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def bootstrap(values: list[float], rounds: int = 1000, seed: int = 0) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(rounds))
    return round(means[int(0.025 * rounds)], 4), round(means[int(0.975 * rounds) - 1], 4)


def suite_records(suite_dir: Path) -> list[dict]:
    """A suite's per-sample records (samples.jsonl), read once for the intervals and the generalization;
    lines that cannot be read are left out (`damaged_samples` says which)."""
    return read_samples(suite_dir)[0]


def item_scores(records: list[dict], metric: str) -> list[float]:
    key = "score" if metric in GRADED else "correct"
    scores = []
    for record in records:
        verdicts = record["verdicts"]
        scores.append(sum(float(v.get(key) or 0) for v in verdicts) / len(verdicts) if verdicts else 0.0)
    return scores


def collect(paths: list[str | Path]) -> dict:
    rows, suites, runs, run_folders = [], {}, [], []
    for path in paths:
        found = evaluations(path)
        if not found:
            raise ValueError(
                f"{path}: no evaluation found (a run folder, an evaluation folder of <suite>/summary.json as"
                " harness eval and harness score write, or a study)"
            )
        for evaluation in found:
            folder = evaluation.run_folder
            account = read_json(folder.generalization) if folder and folder.generalization.exists() else None
            rows.append(_row(evaluation, suites, account))
            if folder and folder.root not in [f.root for f in run_folders]:
                run_folders.append(folder)
    runs = [_run_info(f.root) for f in run_folders if f.train.is_dir() or f.steps.exists()]
    _add_deltas(rows)
    warnings = [w for folder in run_folders for w in adapter_warnings(folder.root)]
    warnings += [
        f"{row['run']} / {row['model']} / {name}: incomplete: {result['incomplete']['count']} unreadable line(s) in "
        f"{result['incomplete']['file']} ({'; '.join(result['incomplete']['lines'][:3])}); {REPAIR}"
        for row in rows
        for name, result in row["results"].items()
        if result.get("incomplete")
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_by": f"harness {__version__}",
        "suites": list(suites.values()),
        "rows": rows,
        "runs": runs,
        "warnings": warnings,
    }


CANARIES = 8


def adapter_warnings(run_dir: Path) -> list[str]:
    """A LoRA run whose greedy outputs on the first prompts equal the base model's: a known way adapters
    silently fail to load (wrong target modules, an adapter saved empty, a base that was not the trained one)."""
    folder = RunFolder(run_dir)
    tuned, base = folder.eval_dir("tuned"), folder.eval_dir("base")
    if not (folder.model / "adapter_config.json").exists() or not base.is_dir():
        return []
    warnings = []
    for samples in sorted(tuned.glob(f"*/{SAMPLES_FILE}")):
        twin = base / samples.parent.name / SAMPLES_FILE
        if not twin.exists():
            continue
        first = [r["outputs"] for r in suite_records(samples.parent)[:CANARIES]]
        second = [r["outputs"] for r in suite_records(twin.parent)[:CANARIES]]
        if first and first == second:
            warnings.append(
                f"{run_dir.name}: the LoRA model's outputs on the first {len(first)} {samples.parent.name} "
                "prompts equal the base model's: check that the adapter loaded"
            )
    return warnings


def zero_shot(account: dict, name: str, records: list[dict], metric: str) -> dict:
    """A suite's clusters (seen, held-out or not trained), its contaminated items and its score on the clean
    items (GPT-3's clean subset), from the run's `data/generalization.json`."""
    suite = account["suites"].get(name, {"clusters": {}})
    result = {"clusters": {cluster: entry["status"] for cluster, entry in suite["clusters"].items()}}
    checked = (account.get("contamination") or {}).get("suites", {}).get(name)
    if checked is None:
        result["contamination"] = "not checked: decontamination is off"
    elif not checked["checked"]:
        result["contamination"] = f"not checked: {checked['reason']}"
    else:
        contaminated = set() if checked.get("removed_from_training") else set(checked["contaminated"])
        result |= {"contamination": "checked", "contaminated": len(contaminated), "clean_value": None, "clean_n": None}
        if all("verdicts" in r and "id" in r for r in records):  # lm_eval's records are its own, without ids
            scores = item_scores(records, metric)
            clean = [s for r, s in zip(records, scores, strict=True) if r["id"] not in contaminated]
            result |= {"clean_value": mean(clean), "clean_n": len(clean)}
    return result


def _row(evaluation: Evaluation, suites: dict, account: dict | None = None) -> dict:
    results, generation, backend, model_path = {}, None, None, None
    for suite_dir, summary in evaluation.folder.summaries():
        name, kind = summary.suite, summary.kind
        metric = kinds()[kind].headline if kind in kinds() else "accuracy"  # the suite kind's leaderboard column
        suites.setdefault(name, {"name": name, "kind": kind, "metric": metric})
        metrics = summary.metrics
        n = summary.n_items
        value = metrics.get(metric)
        records, damaged = read_samples(suite_dir)
        scores = item_scores(records, metric)
        low, high = bootstrap(scores) if metric in GRADED else wilson((value or 0) * n, n)
        result = {
            "metric": metric,
            "value": value,
            "n": n,
            "ci_low": low,
            "ci_high": high,
            "details": {k: v for k, v in metrics.items() if k != metric},
        }
        if damaged:  # the summary's figures stand; the intervals and checks use the readable records only
            result["incomplete"] = damaged
        if account is not None:
            result["zero_shot"] = zero_shot(account, name, records, metric)
        results[name] = result
        generation, backend, model_path = summary.generation, summary.backend, summary.model_path
    values = [r["value"] for r in results.values() if r["value"] is not None]
    return {
        "run": evaluation.run,
        "model": evaluation.label,
        "model_path": model_path,
        "is_base": evaluation.label == "base",
        "average": round(sum(values) / len(values), 4) if values else None,
        "results": results,
        "generation": generation,
        "backend": backend,
    }


def _add_deltas(rows: list[dict]) -> None:
    bases = {row["run"]: row for row in rows if row["is_base"]}
    for row in rows:
        base = bases.get(row["run"])
        row["delta_average"] = None
        for name, result in row["results"].items():
            base_result = base["results"].get(name) if base and base is not row else None
            result["delta"] = (
                round(result["value"] - base_result["value"], 4)
                if base_result and None not in (result["value"], base_result["value"])
                else None
            )
        if base and base is not row and None not in (row["average"], base["average"]):
            row["delta_average"] = round(row["average"] - base["average"], 4)


def cluster_scores(run_dir: Path) -> dict:
    """Per task cluster of a run's suites: seen, held-out or not trained, and the base and tuned scores of its
    items (each item's headline score, mean over the cluster's items with a 95% bootstrap interval), with the
    gain (tuned - base). lm_eval suites count per task (its metric, one value, no interval)."""
    folder = RunFolder(run_dir)
    if not folder.generalization.exists():
        return {}
    account = read_json(folder.generalization)
    statuses = {c: e["status"] for suite in account["suites"].values() for c, e in suite["clusters"].items()}
    scores: dict[str, dict[str, list[float]]] = {}
    for stage in ("base", "tuned"):
        for suite_dir, summary in EvalFolder(folder.eval_dir(stage)).summaries():
            name = suite_dir.name
            if summary.kind == "lm_eval":
                for task, cluster in _lm_eval_clusters(account, summary):
                    scores.setdefault(cluster, {}).setdefault(stage, []).append(summary.metrics[task])
                continue
            clusters = account.get("item_clusters", {}).get(name, {})
            metric = kinds()[summary.kind].headline if summary.kind in kinds() else "accuracy"
            records = suite_records(suite_dir)
            for record, score in zip(records, item_scores(records, metric), strict=True):
                cluster = clusters.get(record["id"])
                if cluster:
                    scores.setdefault(cluster, {}).setdefault(stage, []).append(score)
    result = {}
    for cluster, stages in sorted(scores.items()):
        entry = {"status": statuses.get(cluster, "not trained")}
        for stage, values in stages.items():
            low, high = bootstrap(values)
            entry[stage] = {
                "value": mean(values),
                "ci_low": low,
                "ci_high": high,
                "n": len(values),
            }
        if "base" in entry and "tuned" in entry:
            entry["gain"] = round(entry["tuned"]["value"] - entry["base"]["value"], 4)
        result[cluster] = entry
    return result


def _lm_eval_clusters(account: dict, summary: SuiteSummary):
    """(metric key, cluster) for each task of an lm_eval summary whose cluster is known: the suite's headline
    metric where the task has it, else the task's first metric (tasks of one suite may score differently)."""
    headline = (summary.headline_metric or "").split("/", 1)[-1]
    clusters = account["suites"].get(summary.suite, {}).get("task_clusters", {})
    for task, cluster in clusters.items():
        own = [key for key in summary.metrics if key.startswith(f"{task}/")]
        key = f"{task}/{headline}" if f"{task}/{headline}" in own else next(iter(own), None)
        if key and cluster:
            yield key, cluster


def gains(clusters: dict) -> dict:
    """Mean gain over held-out clusters and over seen ones: the figure FLAN reports first."""
    return {
        status: mean(e["gain"] for e in clusters.values() if e["status"] == status and "gain" in e)
        for status in ("held-out", "seen", "not trained")
    }


def _run_info(run_dir: Path) -> dict:
    info = {"run": run_dir.name, "path": str(run_dir)}
    history_path = run_dir / "train" / "log_history.json"
    if history_path.exists():
        history = read_json(history_path)
        info["loss_curve"] = [[e["step"], e["loss"]] for e in history if "loss" in e]
        curves: dict[str, list] = {}
        for entry in history:
            for key, value in entry.items():
                if key.startswith("harness_eval/"):
                    curves.setdefault(key.removeprefix("harness_eval/"), []).append([entry["step"], value])
        info["eval_curve"] = curves
    account_path = RunFolder(run_dir).generalization
    if account_path.exists():
        account = read_json(account_path)
        info["held_out"] = account["held_out"]
        info["sources"] = account["sources"]
        info["clusters"] = cluster_scores(run_dir)
        info["gains"] = gains(info["clusters"])
    steps_path = RunFolder(run_dir).steps
    if steps_path.exists():
        info["step_seconds"] = {k: v.get("seconds") for k, v in read_json(steps_path).items()}
    return info

"""Leave-one-cluster-out studies: FLAN's protocol for zero-shot generalization, in one command.

    harness study leave-one-out RECIPE [--clusters a,b,c] [--schedule 1,2,4] [--set key=value ...]

One `harness run` per cluster with that cluster held out (`generalization.held_out`), so each run's suites of
that cluster measure a task type the model never saw; with `--schedule`, runs that train on k of the other
clusters (a seeded choice) for each k, FLAN's "held-out score against the number of training clusters". The
base model is evaluated once and shared by every run; each run resumes as `harness run` does, so a study
interrupted anywhere goes on where it stopped. `study.json` holds, per held-out cluster, the base and tuned
scores on it and `clusters.<name>.held_out_gain`; `report.md` and `report.html` (with plots) sit beside it.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from harness.files import write_json, write_text
from harness.generalization import account
from harness.launch import Launcher
from harness.recipe import Recipe
from harness.run_folder import RunFolder


class StudyError(ValueError):
    pass


def study_clusters(recipe: Recipe, asked: list[str] | None) -> list[str]:
    """The clusters to hold out one at a time: those both trained on and measured by a suite (or `asked`)."""
    result = account(recipe).result()
    trained = {c for source in result["sources"].values() for c in source["clusters"]}
    measured = {c for suite in result["suites"].values() for c in suite["clusters"]}
    candidates = sorted(trained & measured - set(recipe.generalization.held_out))
    if not asked:
        if len(candidates) < 2:
            raise StudyError(
                f"a leave-one-out study needs at least two clusters that are both trained on and measured by a suite; "
                f"trained: {sorted(trained) or 'none'}, measured: {sorted(measured) or 'none'}"
            )
        return candidates
    unknown = [c for c in asked if c not in candidates]
    if unknown:
        raise StudyError(f"--clusters {unknown}: not both trained on and measured here; these are: {candidates}")
    return asked


def plan(recipe: Recipe, clusters: list[str], schedule: list[int] | None) -> list[dict]:
    """[{name, held_out, cluster, trained_clusters}]: one run per held-out cluster (training on all the others),
    and with `schedule`, one per (cluster, k) training on k others drawn with the recipe's seed."""
    kept_out = list(recipe.generalization.held_out)
    runs = [
        {
            "name": f"without-{c}",
            "kind": "leave_one_out",
            "cluster": c,
            "held_out": [*kept_out, c],
            "trained_clusters": len(clusters) - 1,
        }
        for c in clusters
    ]
    for k in schedule or []:
        if not 1 <= k < len(clusters) - 1:  # k = all the others is the leave-one-out run itself
            continue
        for cluster in clusters:
            others = [c for c in clusters if c != cluster]
            random.Random(f"{recipe.seed}/{cluster}").shuffle(others)
            runs.append(
                {
                    "name": f"without-{cluster}-k{k}",
                    "kind": "schedule",
                    "cluster": cluster,
                    "held_out": [*kept_out, cluster, *others[k:]],
                    "trained_clusters": k,
                }
            )
    return runs


def leave_one_out(
    recipe: Recipe,
    study_dir: Path,
    clusters: list[str] | None = None,
    schedule: list[int] | None = None,
    echo=print,
) -> dict:
    from harness.run import RunError, run, step_env

    clusters = study_clusters(recipe, clusters)
    runs = plan(recipe, clusters, schedule)
    echo(f"study of {recipe.name}: {len(runs)} runs holding out {', '.join(clusters)}")
    study_dir.mkdir(parents=True, exist_ok=True)
    recipe_file = study_dir / "recipe.yaml"
    write_text(recipe_file, recipe.dump())
    base_dir = study_dir / "base"
    if not (base_dir / "index.json").exists():  # the evaluation itself resumes from finished samples
        echo(f"base model: evaluating {recipe.model.name} once for every run")
        command = Launcher().wrap(["eval", recipe.model.name, "--recipe", str(recipe_file), "-o", str(base_dir)])
        if subprocess.run(command, env=step_env(True)).returncode != 0:
            raise StudyError("the base model's evaluation failed; fix the cause and run the study again")
    for number, entry in enumerate(runs, start=1):
        echo(f"\n[run {number}/{len(runs)}] {entry['name']}: held out {', '.join(entry['held_out'])}")
        settings = recipe.generalization.model_copy(update={"held_out": entry["held_out"]})
        run_recipe = recipe.model_copy(update={"name": f"{recipe.name}-{entry['name']}", "generalization": settings})
        try:
            run(run_recipe, study_dir / "runs" / entry["name"], echo=echo, shared_base=base_dir)
        except RunError as error:
            raise StudyError(f"run {entry['name']}: {error}") from None
    return write_study(study_dir, recipe, runs)


def write_study(study_dir: Path, recipe: Recipe, runs: list[dict]) -> dict:
    """study.json and the study report, from the runs' own folders."""
    from harness.report.leaderboard import cluster_scores, gains

    study = {"recipe": recipe.name, "clusters": {}, "schedule": {}, "runs": {}}
    for entry in runs:
        run_dir = study_dir / "runs" / entry["name"]
        scores = cluster_scores(run_dir)
        contamination = _contaminated(run_dir)
        study["runs"][entry["name"]] = {**entry, "clusters": scores, "gains": gains(scores), **contamination}
        held = scores.get(entry["cluster"], {})
        if entry["kind"] == "leave_one_out":
            study["clusters"][entry["cluster"]] = {
                "run": entry["name"],
                "base": held.get("base", {}).get("value"),
                "tuned": held.get("tuned", {}).get("value"),
                "held_out_gain": held.get("gain"),
                "mean_seen_gain": gains(scores)["seen"],
            }
        study["schedule"].setdefault(str(entry["trained_clusters"]), {})[entry["cluster"]] = held.get("tuned", {}).get(
            "value"
        )
    held_out = [c["held_out_gain"] for c in study["clusters"].values() if c["held_out_gain"] is not None]
    seen = [c["mean_seen_gain"] for c in study["clusters"].values() if c["mean_seen_gain"] is not None]
    study["mean_held_out_gain"] = round(sum(held_out) / len(held_out), 4) if held_out else None
    study["mean_seen_gain"] = round(sum(seen) / len(seen), 4) if seen else None
    write_json(study_dir / "study.json", study)
    from harness.report.render import study_html, study_markdown

    write_text(study_dir / "report.md", study_markdown(study))
    write_text(study_dir / "report.html", study_html(study))
    return study


def _contaminated(run_dir: Path) -> dict:
    from harness.files import read_json

    path = RunFolder(run_dir).generalization
    contamination = read_json(path).get("contamination") if path.exists() else None
    if not contamination:
        return {"contaminated": None}
    return {
        "contaminated": {
            name: len(suite["contaminated"]) if suite["checked"] else None
            for name, suite in contamination["suites"].items()
        }
    }

"""Leave-one-cluster-out studies: FLAN's protocol for zero-shot generalization, in one command.

    harness study leave-one-out RECIPE [--clusters a,b,c] [--schedule 1,2,4] [--set key=value ...]
    harness study leave-one-out RECIPE --jobs [--job-option slurm_partition=gpu ...]   # one job per run

One `harness run` per cluster with that cluster held out (`generalization.held_out`), so each run's suites of
that cluster measure a task type the model never saw; with `--schedule`, runs that train on k of the other
clusters (a seeded choice) for each k, FLAN's "held-out score against the number of training clusters". The
base model is evaluated once and shared by every run; each run resumes as `harness run` does, so a study
interrupted anywhere goes on where it stopped. `study.json` holds, per held-out cluster, the base and tuned
scores on it and `clusters.<name>.held_out_gain`; `report.md` and `report.html` (with plots) sit beside it.
Runs go one after another here, or with `jobs` (submitit's executor parameters) one job each: on Slurm where
there is one, else as local background processes (submitit's own choice); the base evaluation is a job first.
"""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
from pathlib import Path

from harness.files import read_json, write_json, write_text
from harness.generalization import account
from harness.launch import Launcher
from harness.recipe import Recipe
from harness.run_folder import EvalFolder, RunFolder

log = logging.getLogger(__name__)


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
            log.warning("--schedule %d: not between 1 and %d (the clusters minus two); left out", k, len(clusters) - 2)
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
    jobs: dict | None = None,
) -> dict:
    from harness.run import RunError, run, step_env

    clusters = study_clusters(recipe, clusters)
    runs = plan(recipe, clusters, schedule)
    echo(f"study of {recipe.name}: {len(runs)} runs holding out {', '.join(clusters)}")
    study_dir.mkdir(parents=True, exist_ok=True)
    recipe_file = study_dir / "recipe.yaml"
    write_text(recipe_file, recipe.dump())
    base_dir = study_dir / "base"
    base_command = Launcher().wrap(["eval", recipe.model.name, "--recipe", str(recipe_file), "-o", str(base_dir)])
    made_for = base_dir / "made_for.json"  # what the base evaluation depends on: a change makes it anew
    wanted = {
        "model": recipe.model.model_dump(mode="json"),
        "eval": recipe.eval.model_dump(mode="json"),
        "seed": recipe.seed,
    }
    if made_for.exists() and read_json(made_for) != wanted:
        echo("the model, evaluation settings or seed changed since the base evaluation: evaluating it again")
        shutil.rmtree(base_dir)
    if not EvalFolder(base_dir).is_complete:  # the evaluation itself resumes from finished samples
        echo(f"base model: evaluating {recipe.model.name} once for every run")
        if jobs is not None:
            _wait(_executor(study_dir, jobs), {"base evaluation": base_command}, echo)
        elif subprocess.run(base_command, env=step_env(True)).returncode != 0:
            raise StudyError("the base model's evaluation failed; fix the cause and run the study again")
        write_json(made_for, wanted)
    commands = {}
    for number, entry in enumerate(runs, start=1):
        settings = recipe.generalization.model_copy(update={"held_out": entry["held_out"]})
        run_recipe = recipe.model_copy(update={"name": f"{recipe.name}-{entry['name']}", "generalization": settings})
        run_dir = study_dir / "runs" / entry["name"]
        if jobs is not None:
            path = study_dir / "recipes" / f"{entry['name']}.yaml"
            write_text(path, run_recipe.dump())
            commands[entry["name"]] = Launcher().wrap(
                ["run", str(path), "-o", str(run_dir), "--shared-base", str(base_dir)]
            )
            continue
        echo(f"\n[run {number}/{len(runs)}] {entry['name']}: held out {', '.join(entry['held_out'])}")
        try:
            run(run_recipe, run_dir, echo=echo, shared_base=base_dir)
        except RunError as error:
            raise StudyError(f"run {entry['name']}: {error}") from None
    if commands:
        _wait(_executor(study_dir, jobs), commands, echo)
    return write_study(study_dir, recipe, runs)


def _executor(study_dir: Path, parameters: dict):
    try:
        import submitit
    except ImportError:
        raise StudyError("--jobs needs submitit: pip install 'harness[slurm]'") from None
    executor = submitit.AutoExecutor(folder=study_dir / "jobs")
    try:
        executor.update_parameters(**parameters)
    except (TypeError, ValueError, NameError) as error:  # submitit names an unknown parameter with NameError
        raise StudyError(f"--job-option: {str(error).splitlines()[0]}") from None
    return executor


def _wait(executor, commands: dict[str, list[str]], echo) -> None:
    """Each command as one job; wait for all of them; a failed one is named with its log."""
    from submitit.helpers import CommandFunction

    jobs = {name: executor.submit(CommandFunction(command, verbose=False)) for name, command in commands.items()}
    for name, job in jobs.items():
        echo(f"job {job.job_id}: {name}")
    failed = []
    for name, job in jobs.items():
        try:
            job.result()
        except Exception as error:  # submitit raises FailedJobError, UncompletedJobError, ...
            failed.append(f"{name} (job {job.job_id}, logs {job.paths.stderr}): {str(error).splitlines()[0][:200]}")
    if failed:
        raise StudyError(
            "jobs failed; fix the cause and run the study again (finished runs are kept):\n- " + "\n- ".join(failed)
        )


def write_study(study_dir: Path, recipe: Recipe, runs: list[dict]) -> dict:
    """study.json and the study report, from the runs' own folders."""
    from harness.evaluate.suites import mean
    from harness.report.leaderboard import cluster_scores, gains

    study = {"recipe": recipe.name, "clusters": {}, "schedule": {}, "runs": {}}
    for entry in runs:
        run_dir = study_dir / "runs" / entry["name"]
        scores = cluster_scores(run_dir)
        run_gains = gains(scores)
        study["runs"][entry["name"]] = {**entry, "clusters": scores, "gains": run_gains, **_contaminated(run_dir)}
        held = scores.get(entry["cluster"], {})
        if entry["kind"] == "leave_one_out":
            study["clusters"][entry["cluster"]] = {
                "run": entry["name"],
                "base": held.get("base", {}).get("value"),
                "tuned": held.get("tuned", {}).get("value"),
                "held_out_gain": held.get("gain"),
                "mean_seen_gain": run_gains["seen"],
            }
        study["schedule"].setdefault(str(entry["trained_clusters"]), {})[entry["cluster"]] = held.get("tuned", {}).get(
            "value"
        )
    for key, field in (("mean_held_out_gain", "held_out_gain"), ("mean_seen_gain", "mean_seen_gain")):
        study[key] = mean(c[field] for c in study["clusters"].values() if c[field] is not None)
    write_json(study_dir / "study.json", study)
    from harness.report.render import study_html, study_markdown

    write_text(study_dir / "report.md", study_markdown(study))
    write_text(study_dir / "report.html", study_html(study))
    return study


def _contaminated(run_dir: Path) -> dict:
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

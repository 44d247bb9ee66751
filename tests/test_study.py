"""`harness study leave-one-out` end to end on the built-in instruct world, with short settings."""

import json

import pytest
import yaml
from click.testing import CliRunner
from conftest import FAST_TRAIN

from harness.cli import main
from harness.files import read_json

RECIPE = {
    "name": "loo",
    "mode": "instruct",
    "model": {"name": "tiny"},
    "data": {"sources": [{"builtin": "instruct", "samples": 120}]},
    "train": {**FAST_TRAIN, "max_steps": 6, "save_steps": 6},
    "eval": {"generation": {"max_new_tokens": 12}, "suites": [{"suite": "instruct", "samples": 30}]},
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    (root / "loo.yaml").write_text(yaml.safe_dump(RECIPE))
    arguments = ["study", "leave-one-out", str(root / "loo.yaml"), "-o", str(root / "study")]
    result = CliRunner().invoke(main, [*arguments, "--clusters", "counting,extraction"])
    assert result.exit_code == 0, result.output
    return root, arguments, result.output


def test_one_run_per_held_out_cluster_and_the_study_report(study):
    root, _, output = study
    folder = root / "study"
    result = read_json(folder / "study.json")
    assert set(result["clusters"]) == {"counting", "extraction"}
    for cluster, entry in result["clusters"].items():
        run = folder / "runs" / f"without-{cluster}"
        account = read_json(run / "data" / "generalization.json")
        assert account["held_out"] == [cluster]
        source = account["sources"]["builtin:instruct"]
        assert source["dropped"] == {f"held-out cluster {cluster!r}": source["clusters"][cluster]}
        scores = {}
        for stage in ("base", "tuned"):
            lines = (run / "eval" / stage / "instruct" / "samples.jsonl").read_text().splitlines()
            values = [r["verdicts"][0]["score"] for r in map(json.loads, lines) if r["meta"]["cluster"] == cluster]
            scores[stage] = sum(values) / len(values)
        assert entry["base"] == pytest.approx(scores["base"], abs=1e-4)
        assert entry["tuned"] == pytest.approx(scores["tuned"], abs=1e-4)
        assert entry["held_out_gain"] == pytest.approx(scores["tuned"] - scores["base"], abs=1e-4)
    assert "| counting | without-counting |" in (folder / "report.md").read_text()
    assert "<svg" in (folder / "report.html").read_text()
    assert "Leave-one-cluster-out study: loo" in output


def test_the_base_model_is_evaluated_once_for_every_run(study):
    root, _, _ = study
    folder = root / "study"
    shared = (folder / "base" / "instruct" / "samples.jsonl").read_text()
    for cluster in ("counting", "extraction"):
        run = folder / "runs" / f"without-{cluster}"
        assert read_json(run / "steps.json")["eval_base"]["shared"] == str(folder / "base")
        assert (run / "eval" / "base" / "instruct" / "samples.jsonl").read_text() == shared


def test_a_resumed_study_skips_finished_runs(study):
    root, arguments, _ = study
    folder = root / "study"
    trained = {
        c: (folder / "runs" / f"without-{c}" / "model" / "model.safetensors").stat().st_mtime_ns
        for c in ("counting", "extraction")
    }
    result = CliRunner().invoke(main, [*arguments, "--clusters", "counting,extraction"])
    assert result.exit_code == 0, result.output
    assert result.output.count("train: done earlier, skipped") == 2 and "evaluating tiny once" not in result.output
    for cluster, mtime in trained.items():
        assert (folder / "runs" / f"without-{cluster}" / "model" / "model.safetensors").stat().st_mtime_ns == mtime


def test_a_cluster_that_is_not_trained_and_measured_is_refused(study, tmp_path):
    root, _, _ = study
    result = CliRunner().invoke(
        main, ["study", "leave-one-out", str(root / "loo.yaml"), "-o", str(tmp_path), "--clusters", "nli"]
    )
    assert result.exit_code == 1 and "--clusters ['nli']: not both trained on and measured here" in result.output


def test_runs_as_jobs_go_through_submitit(study, tmp_path):
    """--jobs: the base evaluation and each run as a job (local background processes where there is no Slurm)."""
    root, _, _ = study
    folder = tmp_path / "jobs-study"
    arguments = ["study", "leave-one-out", str(root / "loo.yaml"), "-o", str(folder), "--clusters", "counting,sorting"]
    result = CliRunner().invoke(main, [*arguments, "--jobs", "--job-option", "timeout_min=20"])
    assert result.exit_code == 0, result.output
    assert result.output.count("job ") == 3 and "base evaluation" in result.output
    assert set(read_json(folder / "study.json")["clusters"]) == {"counting", "sorting"}
    for cluster in ("counting", "sorting"):
        steps = read_json(folder / "runs" / f"without-{cluster}" / "steps.json")
        assert steps["eval_base"]["shared"] == str(folder / "base") and steps["report"]["status"] == "done"
    bad = CliRunner().invoke(main, [*arguments, "--jobs", "--job-option", "no_such_parameter=1"])
    assert bad.exit_code == 1 and "--job-option" in bad.output


def test_a_schedule_adds_runs_on_fewer_training_clusters(study, tmp_path):
    """--schedule 1: per held-out cluster, one more run trained on one other cluster (FLAN's curve's first point)."""
    root, _, _ = study
    folder = tmp_path / "schedule"
    arguments = ["study", "leave-one-out", str(root / "loo.yaml"), "-o", str(folder)]
    result = CliRunner().invoke(main, [*arguments, "--clusters", "counting,extraction,sorting", "--schedule", "1,5"])
    assert result.exit_code == 0, result.output
    study = read_json(folder / "study.json")
    assert set(study["schedule"]) == {"1", "2"} and set(study["schedule"]["1"]) == {"counting", "extraction", "sorting"}
    for cluster in ("counting", "extraction", "sorting"):
        held_out = read_json(folder / "runs" / f"without-{cluster}-k1" / "data" / "generalization.json")["held_out"]
        assert held_out[0] == cluster and len(held_out) == 2  # itself and one of the two others
    assert "k=1 | k=2" in (folder / "report.md").read_text()


def test_the_report_of_a_study_has_its_base_and_every_run(study):
    root, _, _ = study
    result = CliRunner().invoke(main, ["report", str(root / "study"), "-o", str(root / "board")])
    assert result.exit_code == 0, result.output
    board = read_json(root / "board" / "report.json")
    rows = [(row["run"], row["model"]) for row in board["rows"]]
    assert rows == [
        ("study", "base"),
        ("without-counting", "base"),
        ("without-counting", "tuned"),
        ("without-extraction", "base"),
        ("without-extraction", "tuned"),
    ]
    assert {run["run"] for run in board["runs"]} == {"without-counting", "without-extraction"}
    held_out = next(r for r in board["runs"] if r["run"] == "without-counting")["clusters"]["counting"]
    assert held_out["status"] == "held-out"

"""`harness run` end to end on a short recipe, the leaderboard report, and the HTML in a real browser."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.files import read_json

RECIPE = {
    "name": "mini",
    "mode": "reasoning",
    "seed": 0,
    "data": {"sources": [{"builtin": "reasoning", "samples": 100}, {"builtin": "instruct", "samples": 60}]},
    "generalization": {"held_out": ["counting"]},
    "train": {
        "max_steps": 20,
        "per_device_train_batch_size": 4,
        "learning_rate": 3e-3,
        "logging_steps": 5,
        "save_steps": 10,
        "disable_tqdm": True,
    },
    "eval": {
        "generation": {"max_new_tokens": 48},
        "suites": [
            {"suite": "reasoning", "samples": 12},
            {"suite": "chat", "samples": 6},
            {"suite": "instruct", "samples": 40},
        ],
    },
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    path = root / "mini.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    run_dir = root / "runs" / "mini"
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "-o", str(run_dir)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return path, run_dir, result.stdout


def test_run_writes_every_step_and_a_summary_screen(finished_run):
    _, run_dir, stdout = finished_run
    assert set(read_json(run_dir / "steps.json")) == {"train", "eval_base", "eval_tuned", "report"}
    for model in ("base", "tuned"):
        for suite in ("reasoning", "chat"):
            assert (run_dir / "eval" / model / suite / "summary.json").exists()
    assert "Done in" in stdout and "report.html" in stdout
    assert "mini / tuned: reasoning" in stdout
    assert "mini: mean gain over clusters (points): held-out " in stdout
    tuned = read_json(run_dir / "eval" / "tuned" / "reasoning" / "summary.json")
    assert tuned["model_path"] == str(run_dir / "model")


def test_the_report_has_a_zero_shot_section_per_cluster(finished_run):
    _, run_dir, _ = finished_run
    dropped = read_json(run_dir / "data" / "report.json")["train"][1]["dropped_rows"]
    assert dropped["held-out cluster 'counting'"]["count"] > 0
    run = read_json(run_dir / "report" / "report.json")["runs"][0]
    clusters = run["clusters"]
    assert clusters["counting"]["status"] == "held-out" and clusters["math"]["status"] == "seen"
    assert clusters["extraction"]["status"] == "seen" and clusters["dialogue"]["status"] == "not trained"
    for stage in ("base", "tuned"):  # a cluster's score: the mean of its items' headline scores
        lines = (run_dir / "eval" / stage / "instruct" / "samples.jsonl").read_text().splitlines()
        scores = [r["verdicts"][0]["score"] for r in map(json.loads, lines) if r["meta"]["cluster"] == "counting"]
        assert clusters["counting"][stage]["value"] == pytest.approx(sum(scores) / len(scores), abs=1e-4)
        assert clusters["counting"][stage]["n"] == len(scores)
    gain = clusters["counting"]["tuned"]["value"] - clusters["counting"]["base"]["value"]
    assert clusters["counting"]["gain"] == pytest.approx(gain, abs=1e-4) and run["gains"]["held-out"] == pytest.approx(
        gain, abs=1e-4
    )
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "Zero-shot generalization of mini (held-out clusters: counting)" in markdown
    assert "| counting | held-out |" in markdown and "| dialogue | not trained |" in markdown


def test_the_report_shows_each_suites_clusters_contamination_and_clean_subset(finished_run):
    _, run_dir, _ = finished_run
    account = read_json(run_dir / "data" / "generalization.json")
    assert account["sources"]["builtin:reasoning"]["clusters"] == {"math": 100}
    instruct = account["sources"]["builtin:instruct"]
    assert instruct["dropped"] == {"held-out cluster 'counting'": instruct["clusters"]["counting"]}
    assert account["suites"]["reasoning"]["clusters"] == {"math": {"items": 12, "status": "seen"}}
    assert account["suites"]["chat"]["clusters"] == {"dialogue": {"items": 6, "status": "not trained"}}
    contaminated = set(account["contamination"]["suites"]["reasoning"]["contaminated"])
    board = read_json(run_dir / "report" / "report.json")
    tuned = next(row for row in board["rows"] if row["model"] == "tuned")
    checks = tuned["results"]["reasoning"]["zero_shot"]
    assert checks["clusters"] == {"math": "seen"} and checks["contaminated"] == len(contaminated)
    records = [json.loads(line) for line in (run_dir / "eval/tuned/reasoning/samples.jsonl").read_text().splitlines()]
    clean = [r["verdicts"][0]["correct"] for r in records if r["id"] not in contaminated]
    assert checks["clean_n"] == len(clean) == 12 - len(contaminated)
    assert checks["clean_value"] == (pytest.approx(sum(clean) / len(clean)) if clean else None)
    markdown = (run_dir / "report" / "report.md").read_text()
    assert "Zero-shot checks" in markdown and "| mini | reasoning | math (seen) |" in markdown
    assert "| mini | chat | dialogue (not trained) |" in markdown


def test_rerun_skips_finished_steps_and_force_redoes_one(finished_run):
    path, run_dir, _ = finished_run
    again = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "-o", str(run_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert again.stdout.count("done earlier, skipped") == 4
    report_time = (run_dir / "report" / "report.json").stat().st_mtime_ns
    forced = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(path), "-o", str(run_dir), "--force", "report"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert forced.stdout.count("done earlier, skipped") == 3
    assert (run_dir / "report" / "report.json").stat().st_mtime_ns != report_time


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(tmp_path / "run"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "run   train" in result.output and "run   report" in result.output and "mode: reasoning" in result.output
    assert not (tmp_path / "run").exists()


def test_unwritable_run_folder_is_reported_before_training(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(blocker / "run")])
    assert result.exit_code != 0 and "cannot write the run folder" in result.output


def test_report_formats_and_schema(finished_run):
    _, run_dir, _ = finished_run
    board = read_json(run_dir / "report" / "report.json")
    assert board["schema_version"] == 1
    rows = {row["model"]: row for row in board["rows"]}
    assert set(rows) == {"base", "tuned"}
    reasoning = rows["tuned"]["results"]["reasoning"]
    assert reasoning["n"] == 12 and reasoning["ci_low"] <= reasoning["value"] <= reasoning["ci_high"]
    assert reasoning["delta"] == pytest.approx(reasoning["value"] - rows["base"]["results"]["reasoning"]["value"])
    assert board["runs"][0]["loss_curve"]
    markdown = (run_dir / "report" / "report.md").read_text()
    assert markdown.startswith("| Model | Average | Δ base | reasoning (accuracy) | chat (accuracy) |")
    with (run_dir / "report" / "report.csv").open() as stream:
        assert len(list(csv.DictReader(stream))) == 2 * len(
            RECIPE["eval"]["suites"]
        )  # base and tuned, one line per suite
    card = (run_dir / "model" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["model-index"][0]["results"][0]["metrics"][0]["type"] == "accuracy"


def test_report_over_several_runs(finished_run, tmp_path):
    _, run_dir, _ = finished_run
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    result = CliRunner().invoke(main, ["report", str(run_dir), str(other), "-o", str(tmp_path / "board")])
    assert result.exit_code == 0, result.output
    assert len(read_json(tmp_path / "board" / "report.json")["rows"]) == 4


def _report_rows(folder, out):
    result = CliRunner().invoke(main, ["report", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return [(row["run"], row["model"]) for row in read_json(out / "report.json")["rows"]]


def test_report_reads_every_folder_a_command_writes(finished_run, tmp_path):
    """A run, an evaluation folder (harness eval's layout: a run's stage), a folder of runs, and harness score's
    output: each is a leaderboard without naming what wrote it."""
    _, run_dir, _ = finished_run
    assert _report_rows(run_dir, tmp_path / "run") == [("mini", "base"), ("mini", "tuned")]
    assert _report_rows(run_dir / "eval" / "tuned", tmp_path / "eval") == [("eval", "tuned")]
    assert _report_rows(run_dir.parent, tmp_path / "runs") == [("mini", "base"), ("mini", "tuned")]
    records = [json.loads(line) for line in (run_dir / "eval/tuned/reasoning/samples.jsonl").read_text().splitlines()]
    predictions = tmp_path / "mine.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": r["outputs"]}) + "\n" for r in records))
    scored = CliRunner().invoke(main, ["score", "--suite", "reasoning", "--predictions", str(predictions)])
    assert scored.exit_code == 0, scored.output
    assert _report_rows(tmp_path / "mine", tmp_path / "score") == [(tmp_path.name, "mine")]
    board = read_json(tmp_path / "score" / "report.json")
    tuned = read_json(tmp_path / "run" / "report.json")["rows"][1]["results"]["reasoning"]["value"]
    assert board["rows"][0]["results"]["reasoning"]["value"] == tuned  # the same outputs, the same score


def test_a_summary_that_is_not_one_is_an_error_naming_its_file_and_field(finished_run, tmp_path):
    _, run_dir, _ = finished_run
    folder = tmp_path / "eval"
    shutil.copytree(run_dir / "eval" / "tuned", folder)
    summary = read_json(folder / "chat" / "summary.json")
    del summary["n_items"]
    (folder / "chat" / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(main, ["report", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "chat/summary.json: not a suite summary: n_items: Field required" in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (.ci/run installs Debian's)")
def test_html_report_renders_in_a_headless_browser_without_errors(finished_run, tmp_path):
    _, run_dir, _ = finished_run
    page = run_dir / "report" / "report.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [CHROMIUM, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert '<table id="leaderboard">' in dom.stdout and dom.stdout.count("<svg") >= 2
    assert "Uncaught" not in dom.stderr and "SyntaxError" not in dom.stderr
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100, "the screenshot is blank"
    assert sum(1 for count in image.resize((60, 80)).histogram() if count) > 5


def test_a_lora_run_answering_exactly_like_its_base_is_flagged(finished_run, tmp_path):
    """Adapters that silently fail to load leave the base model's outputs unchanged."""
    from harness.report.leaderboard import collect

    _, run_dir, _ = finished_run
    run = tmp_path / "lora-run"
    shutil.copytree(run_dir, run)
    assert collect([run])["warnings"] == []  # a full fine-tune whose outputs differ: nothing to flag
    (run / "model" / "adapter_config.json").write_text("{}")
    for suite in ("reasoning", "chat"):
        shutil.copy(run / "eval" / "base" / suite / "samples.jsonl", run / "eval" / "tuned" / suite / "samples.jsonl")
    warnings = collect([run])["warnings"]
    assert len(warnings) == 2 and "check that the adapter loaded" in warnings[0]

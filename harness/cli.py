"""The `harness` command: validate, schema, check-template, train (eval, score, report and run build on it)."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml

from harness.evaluate.backends import backend_names
from harness.recipe import REPORT_FORMATS, RecipeError, SourceSettings, load_recipe, safe_load
from harness.run import STEPS
from harness.run_folder import RunFolder
from harness.serve import ENGINES

log = logging.getLogger("harness")
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe field, e.g. --set train.learning_rate=1e-4 (repeatable).",
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _load(recipe_path: str, overrides: tuple[str, ...]):
    try:
        return load_recipe(recipe_path, list(overrides))
    except RecipeError as error:
        raise click.ClickException(str(error)) from None


def _default_run_dir(recipe) -> Path:
    return Path("runs") / recipe.name


def launcher_options(command):
    """--launcher, --num-processes, --accelerate-config: run the command as several processes."""
    command = click.option("--main-process-port", type=int, help="accelerate: port of the rank-0 process.")(command)
    command = click.option(
        "--accelerate-config",
        type=click.Path(exists=True, dir_okay=False),
        help="accelerate config file (DDP, FSDP, DeepSpeed: see configs/accelerate/).",
    )(command)
    command = click.option(
        "--num-processes", type=int, help="Processes to launch (default: the config's, or one per GPU)."
    )(command)
    return click.option(
        "--launcher",
        type=click.Choice(["none", "accelerate"]),
        default="none",
        show_default=True,
        help="Run as several processes under `accelerate launch`.",
    )(command)


def _launcher(kind, num_processes, config_file, port):
    from harness.launch import Launcher

    return Launcher(kind, num_processes, config_file, port)


def _relaunch_if_asked(launcher) -> None:
    """Re-run this very command line under the launcher; the launched copies do the work."""
    if not launcher.active or os.environ.get("HARNESS_LAUNCHED"):
        return
    import subprocess

    command = launcher.wrap(sys.argv[1:])
    click.echo("launching: " + " ".join(command[1:]), err=True)
    result = subprocess.run(command, env={**os.environ, "HARNESS_LAUNCHED": "1"})
    sys.exit(result.returncode)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="harness")
def main(verbose: bool) -> None:
    """Fine-tune language models with SFT and evaluate them, end to end, from one YAML recipe."""
    _setup_logging(verbose)


@main.command()
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@set_option
def validate(recipe_path: str, overrides: tuple[str, ...]) -> None:
    """Check a recipe without training: fields, the real SFTConfig and LoraConfig, the chat template, and
    the first rows of every data source."""
    from harness.data.sources import DataError, check_source
    from harness.evaluate.suites import SuiteError, check_options
    from harness.models.loading import ModelError
    from harness.train import TrainError

    recipe = _load(recipe_path, overrides)
    try:
        tokenizer, sft_config, template = _training_setup(recipe)
    except (RecipeError, ModelError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    problems = []
    for suite in recipe.eval.suites:  # the suite's kind and its options, without building its items
        try:
            check_options(suite)
        except SuiteError as error:
            problems.append(f"eval.suites: {error}")
    max_length = sft_config.max_length
    for source in recipe.data.sources + recipe.data.eval_sources:
        try:
            valid, report = check_source(
                source,
                recipe,
                limit=VALIDATE_ROWS,
                tokenizer=tokenizer,
                template=template,
                max_length=max_length,
                on_error="skip",
            )
        except DataError as error:
            problems.append(str(error))
            continue
        if not valid:
            problems.append(f"{source.label}: no usable row in the first {report.rows_read}: {report.reasons()}")
        else:
            click.echo(
                f"{source.label}: layout {report.layout}, {len(valid)} of the first {report.rows_read} rows usable"
                + (f"; unused columns {report.unused_columns}" if report.unused_columns else "")
            )
    if not problems:
        problems += _zero_shot_account(recipe)
    if problems:
        raise click.ClickException(f"{recipe_path}:\n- " + "\n- ".join(problems))
    click.echo(f"{recipe_path}: valid ({recipe.mode} recipe {recipe.name!r})")


def _zero_shot_account(recipe, output: Path | None = None) -> list[str]:
    """Clusters, held-out clusters and contamination over every row, printed; the problems that fail."""
    from harness.data.sources import DataError
    from harness.files import write_json
    from harness.generalization import GeneralizationError, ZeroShotCheck, account, contamination_table

    problems = ZeroShotCheck(recipe, items={}).problems()
    if problems:
        return problems
    try:
        check = account(recipe)
    except (DataError, GeneralizationError) as error:
        return [str(error)]
    result = check.result()
    for label, source in result["sources"].items():
        clusters = ", ".join(f"{c} {n}" for c, n in source["clusters"].items()) or "none"
        extra = f"; {source['rows_without_cluster']} rows of no cluster" if source["rows_without_cluster"] else ""
        dropped = "".join(f"; dropped {n} ({reason})" for reason, n in source["dropped"].items())
        click.echo(f"{label}: clusters {clusters}{extra}{dropped}")
        if source["unmapped_tasks"]:
            click.echo(f"  tasks that map to no cluster: {dict(list(source['unmapped_tasks'].items())[:10])}")
    for name, suite in result["suites"].items():
        clusters = ", ".join(f"{c} ({s['status']}, {s['items']})" for c, s in suite["clusters"].items()) or "none"
        click.echo(f"suite {name}: clusters {clusters}")
    for note in check.warnings():
        click.echo(f"note: {note}")
    if result["contamination"] is not None:
        click.echo(contamination_table(result["contamination"]))
        if output is not None:
            write_json(output, result["contamination"])
            click.echo(f"written: {output}")
        try:
            check.check_contamination(result["contamination"])
        except GeneralizationError:
            return ["decontamination.action is fail and the table above shows contaminated items"]
    return []


@main.command()
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the per-suite account as JSON.")
@set_option
def contamination(recipe_path: str, output: str | None, overrides: tuple[str, ...]) -> None:
    """Check every evaluation item of the recipe's suites against every training row (decontamination)."""
    recipe = _load(recipe_path, overrides)
    if not recipe.decontamination.enabled:
        recipe = recipe.model_copy(
            update={"decontamination": recipe.decontamination.model_copy(update={"enabled": True})}
        )
    problems = _zero_shot_account(recipe, Path(output) if output else None)
    if problems:
        raise click.ClickException(f"{recipe_path}:\n- " + "\n- ".join(problems))


VALIDATE_ROWS = 100  # rows `harness validate` reads from each source
SHOWN_ROWS = 2  # rows of each source `harness check-template` renders


def _training_setup(recipe):
    """(tokenizer, SFTConfig, training template) as `harness train` builds them, LoraConfig checked too."""
    from harness.recipe import build_lora_config
    from harness.train import training_setup

    build_lora_config(recipe)
    with tempfile.TemporaryDirectory(prefix="harness-validate-") as scratch:  # nothing is written there
        _, tokenizer, sft_config, template = training_setup(recipe, Path(scratch))
    return tokenizer, sft_config, template


@main.command()
def schema() -> None:
    """Print the recipe's JSON schema."""
    from harness.evaluate.suites import kinds
    from harness.recipe import recipe_json_schema

    click.echo(json.dumps(recipe_json_schema(sorted(kinds())), indent=2))


@main.command("check-template")
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@set_option
def check_template_command(recipe_path: str, overrides: tuple[str, ...]) -> None:
    """Show which tokens carry loss on the recipe's own first rows and on a sample of each mode (tool results
    and thinking included); fail when the recipe's rows would not train."""
    from harness.data import builtin
    from harness.data.sources import DataError, check_source
    from harness.models.loading import ModelError
    from harness.models.template_checks import check_template, template_name
    from harness.train import TrainError

    recipe = _load(recipe_path, overrides)
    try:
        tokenizer, sft_config, template = _training_setup(recipe)
    except (RecipeError, ModelError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"template: {template_name(tokenizer, template)}")
    samples = []
    for source in recipe.data.sources:
        try:
            valid, _ = check_source(
                source, recipe, limit=SHOWN_ROWS, tokenizer=tokenizer, template=template, on_error="skip"
            )
        except DataError as error:
            raise click.ClickException(str(error)) from None
        samples += [(f"{source.label} row {i}", recipe.mode, row, True) for i, row in enumerate(valid)]
    for mode in builtin.MODES:
        example = SourceSettings(builtin=mode, samples=1, split="validation")
        valid, _ = check_source(
            example, recipe.model_copy(update={"mode": mode}), tokenizer=tokenizer, template=template, on_error="skip"
        )
        note = "" if mode == recipe.mode else " (shown for that mode; not this recipe's)"
        samples += [(f"built-in {mode}{note}", mode, row, mode == recipe.mode) for row in valid]
    failed = False
    for title, mode, row, decisive in samples:
        report = check_template(tokenizer, row, mode, template, sft_config.assistant_only_loss)
        status = "ok" if report.ok else ("FAILED" if decisive else "would fail")
        click.secho(
            f"== {title}: {status} (loss on the tokens in [[...]]; end of turn {report.end_of_turn!r})",
            fg="green" if report.ok else "red",
            bold=True,
        )
        click.echo(report.render())
        for problem in report.problems:
            click.secho(f"  problem: {problem}", fg="red")
        for warning in report.warnings:
            click.secho(f"  warning: {warning}", fg="yellow")
        failed |= decisive and not report.ok
    if failed:
        raise click.ClickException("the chat template fails the checks above on this recipe's rows")


@main.command()
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Run folder (default: runs/<recipe name>).")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in the run folder.")
@set_option
@launcher_options
def train(
    recipe_path: str,
    output: str | None,
    resume: bool,
    overrides: tuple[str, ...],
    launcher: str,
    num_processes: int | None,
    accelerate_config: str | None,
    main_process_port: int | None,
) -> None:
    """Fine-tune the recipe's model with TRL's SFTTrainer into a run folder."""
    from harness.data.sources import DataError
    from harness.models.loading import ModelError
    from harness.train import TrainError
    from harness.train import train as run_training

    recipe = _load(recipe_path, overrides)
    _relaunch_if_asked(_launcher(launcher, num_processes, accelerate_config, main_process_port))
    run_dir = Path(output) if output else _default_run_dir(recipe)
    try:
        model_dir = run_training(recipe, run_dir, resume=resume)
    except (RecipeError, DataError, ModelError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"model saved in {model_dir}")


def _eval_settings(recipe, suites: tuple[str, ...], samples: int | None, backend: str | None, base_url: str | None):
    from harness.recipe import SuiteSettings

    settings = recipe.eval.model_copy(deep=True)
    if suites:
        settings.suites = [
            SuiteSettings(suite=name.split(":", 1)[0], path=name.split(":", 1)[1] if ":" in name else None)
            for name in suites
        ]
    if samples:
        for suite in settings.suites:
            suite.samples = samples
    if backend:
        settings.backend = backend
    if base_url:
        settings.base_url = base_url
    return settings


def _recipe_for(target: str, recipe_path: str | None, overrides: tuple[str, ...]):
    run_recipe = RunFolder(target).resolved_recipe
    if recipe_path:
        return _load(recipe_path, overrides)
    if run_recipe.exists():
        return _load(str(run_recipe), overrides)
    from harness.recipe import apply_overrides, parse_recipe

    default = {"name": "eval", "mode": "chat", "data": {"sources": [{"builtin": "chat"}]}}
    try:
        return parse_recipe(apply_overrides(default, list(overrides)))
    except RecipeError as error:
        raise click.ClickException(str(error)) from None


suite_option = click.option(
    "--suite",
    "suites",
    multiple=True,
    metavar="NAME[:PATH]",
    help="Suite to run instead of the recipe's (repeatable), e.g. reasoning, gsm8k:data/test.jsonl.",
)


@main.command("eval")
@click.argument("model")
@click.option("--recipe", "recipe_path", type=click.Path(dir_okay=False), help="Recipe whose eval: section to use.")
@suite_option
@click.option("--samples", type=int, help="Items per suite.")
@click.option("--backend", type=click.Choice(backend_names()))
@click.option("--base-url", help="openai backend: the server's /v1 URL.")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Output folder.")
@set_option
@launcher_options
def eval_command(
    model,
    recipe_path,
    suites,
    samples,
    backend,
    base_url,
    output,
    overrides,
    launcher,
    num_processes,
    accelerate_config,
    main_process_port,
) -> None:
    """Score MODEL (a run folder, a model or adapter folder, a hub id, or 'tiny') on evaluation suites.

    With --launcher accelerate the transformers backend shards the samples over the processes and rank 0
    merges them: the summary is the one a single process writes."""
    from harness.evaluate.backends import BackendError, pick_backend
    from harness.evaluate.runner import evaluate
    from harness.evaluate.suites import SuiteError
    from harness.launch import is_main_process
    from harness.models.loading import ModelError

    recipe = _recipe_for(model, recipe_path, overrides)
    settings = _eval_settings(recipe, suites, samples, backend, base_url)
    if launcher == "accelerate" and pick_backend(settings.backend, sharded=True) != "transformers":
        raise click.ClickException(
            "--launcher accelerate shards the transformers backend only; vLLM parallelises "
            "itself (eval.backend_options: tensor_parallel_size, data_parallel_size)"
        )
    _relaunch_if_asked(_launcher(launcher, num_processes, accelerate_config, main_process_port))
    if not settings.suites:
        raise click.ClickException("no suites: give --suite or a recipe with eval.suites")
    folder = RunFolder(model)
    out = (
        Path(output)
        if output
        else (folder.eval_dir("tuned") if folder.resolved_recipe.exists() else Path("runs") / "eval" / Path(model).name)
    )
    try:
        summaries = evaluate(
            model,
            settings,
            out,
            recipe.seed,
            recipe.model,
        )
    except (ModelError, SuiteError, RecipeError, BackendError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if not is_main_process():
        return
    for name, summary in summaries.items():
        headline = {k: v for k, v in summary["metrics"].items() if isinstance(v, (int, float)) and v is not None}
        click.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in list(headline.items())[:6]))
    click.echo(f"results in {out}")


@main.command()
@click.option("--suite", "suite_name", required=True, help="Suite whose references and rules to use.")
@click.option(
    "--predictions",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="jsonl with id and prediction per line (or BFCL's result files: id and result).",
)
@click.option("--path", "suite_path", help="The suite's data file or folder (gsm8k, bfcl).")
@click.option(
    "--options",
    "suite_options",
    help="The suite's options as YAML, e.g. '{categories: [multi_turn_base]}' (default: the recipe's or none).",
)
@click.option(
    "--recipe", "recipe_path", type=click.Path(dir_okay=False), help="Take the suite's settings from this recipe."
)
@click.option(
    "--output", "-o", type=click.Path(file_okay=False), help="Output folder (default: next to the predictions)."
)
def score(suite_name, predictions, suite_path, suite_options, recipe_path, output) -> None:
    """Score saved predictions against a suite's references, without any model."""
    from harness.evaluate.predictions import score_predictions

    recipe = _load(recipe_path, ()) if recipe_path else None
    out = Path(output) if output else Path(predictions).with_suffix("")
    try:
        options = safe_load(suite_options) if suite_options else None
    except yaml.YAMLError as error:
        raise click.BadParameter(f"not YAML: {error}", param_hint="--options") from None
    if options is not None and not isinstance(options, dict):
        raise click.BadParameter("give a mapping, e.g. '{categories: [multi_turn_base]}'", param_hint="--options")
    try:
        summary = score_predictions(suite_name, predictions, out, suite_path, recipe, options)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({k: v for k, v in summary["metrics"].items() if not isinstance(v, dict)}, indent=2))
    click.echo(
        f"{summary['n_missing']} item(s) had no prediction, {summary['n_unknown']} prediction(s) matched no item"
    )
    if summary.get("unreadable_lines"):
        bad = summary["unreadable_lines"]
        click.echo(f"{bad['count']} line(s) of {bad['file']} could not be used: " + "; ".join(bad["lines"]))
    click.echo(f"results in {out}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--output", "-o", type=click.Path(file_okay=False), help="Folder for the report (default: <first run>/report)."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(REPORT_FORMATS),
    help="Formats to write (default: all, or the recipe's report.formats).",
)
@click.option("--title", help="Report title.")
def report(paths, output, formats, title) -> None:
    """Build a leaderboard from run folders (or folders of eval summaries)."""
    from harness.report import build_report, headline

    first = RunFolder(paths[0])
    recipe = _load(str(first.resolved_recipe), ()) if first.resolved_recipe.exists() else None
    formats = list(formats) or (recipe.report.formats if recipe else list(REPORT_FORMATS))
    title = (
        title
        or (recipe.report.title if recipe and recipe.report.title else None)
        or (f"harness: {recipe.name}" if recipe and len(paths) == 1 else "harness leaderboard")
    )
    out = Path(output) if output else first.report
    try:
        written = build_report(list(paths), out, formats, title)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if "json" in written:
        for line in headline(written["json"]):
            click.echo(line)
    for fmt, path in written.items():
        click.echo(f"{fmt}: {path}")


@main.command("run")
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Run folder (default: runs/<recipe name>).")
@click.option(
    "--force",
    multiple=True,
    type=click.Choice(STEPS),
    help="Redo a finished step (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved recipe and the plan; run nothing.")
@click.option(
    "--shared-base",
    type=click.Path(exists=True, file_okay=False),
    help="A finished base evaluation on the same suites, used instead of evaluating the base again (studies).",
)
@set_option
@launcher_options
def run_command(
    recipe_path,
    output,
    force,
    dry_run,
    shared_base,
    overrides,
    launcher,
    num_processes,
    accelerate_config,
    main_process_port,
) -> None:
    """Train, evaluate the base and the tuned model, and write the report: the whole job."""
    from harness.report import headline
    from harness.run import RunError, run

    recipe = _load(recipe_path, overrides)
    run_dir = Path(output) if output else _default_run_dir(recipe)
    started = time.perf_counter()
    try:
        state = run(
            recipe,
            run_dir,
            force=force,
            dry_run=dry_run,
            echo=click.echo,
            launcher=_launcher(launcher, num_processes, accelerate_config, main_process_port),
            shared_base=Path(shared_base) if shared_base else None,
        )
    except RunError as error:
        raise click.ClickException(str(error)) from None
    if dry_run:
        return
    click.secho(
        f"\nDone in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{name} {step.get('seconds', 0):.0f} s" for name, step in state.items()),
        bold=True,
    )
    folder = RunFolder(run_dir)
    board = folder.report / "report.json"
    if board.exists():
        for line in headline(board):
            click.echo(line)
    for fmt in REPORT_FORMATS:
        if (folder.report / f"report.{fmt}").exists():
            click.echo(f"  {folder.report / f'report.{fmt}'}")
    click.echo(f"  model: {folder.model}")


@main.group()
def study() -> None:
    """Studies of zero-shot generalization: several runs of one recipe, one report."""


@study.command("leave-one-out")
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Study folder (default: runs/<name>-study).")
@click.option(
    "--clusters", help="Clusters to hold out one at a time, comma-separated (default: every one trained and measured)."
)
@click.option("--schedule", help="Numbers of training clusters, e.g. 1,2,4: held-out score against them (FLAN).")
@click.option("--jobs", is_flag=True, help="One job per run: on Slurm where there is one, else local jobs (submitit).")
@click.option(
    "--job-option",
    "job_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A submitit executor parameter for --jobs, e.g. slurm_partition=gpu, timeout_min=120, gpus_per_node=1.",
)
@set_option
def leave_one_out_command(recipe_path, output, clusters, schedule, jobs, job_options, overrides) -> None:
    """One run per cluster with that cluster held out (FLAN's protocol), the base evaluated once, resumable;
    then study.json and the study report: held-out gain per cluster."""
    from harness.data.sources import DataError
    from harness.generalization.study import StudyError, leave_one_out

    recipe = _load(recipe_path, overrides)
    study_dir = Path(output) if output else Path("runs") / f"{recipe.name}-study"
    try:
        ks = [int(k) for k in schedule.split(",")] if schedule else None
    except ValueError:
        raise click.BadParameter(
            f"{schedule!r}: numbers separated by commas, e.g. 1,2,4", param_hint="--schedule"
        ) from None
    wanted = [c.strip() for c in clusters.split(",") if c.strip()] if clusters else None
    parameters = {}
    for option in job_options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{option!r}: expected KEY=VALUE", param_hint="--job-option")
        try:
            parameters[key] = safe_load(value)
        except yaml.YAMLError as error:
            raise click.BadParameter(f"{option!r}: the value is not YAML: {error}", param_hint="--job-option") from None
    try:
        leave_one_out(recipe, study_dir, wanted, ks, echo=click.echo, jobs=parameters if jobs else None)
    except (StudyError, DataError) as error:
        raise click.ClickException(str(error)) from None
    click.echo((study_dir / "report.md").read_text())
    click.echo(f"study: {study_dir / 'study.json'}, {study_dir / 'report.html'}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("model")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="auto",
    show_default=True,
    help="vllm: vLLM's OpenAI server; transformers: harness's own; auto: vLLM where installed.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless told otherwise)."
)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--served-model-name", help="Name in /v1/models and requests [default: the folder's name].")
@click.option("--dtype", default="auto", show_default=True, help="auto: bfloat16 on a GPU, float32 on a CPU.")
@click.option("--trust-remote-code", is_flag=True, help="Run the model repository's own code (off by default).")
@click.argument("engine_args", nargs=-1, type=click.UNPROCESSED)
def serve(model, engine, host, port, served_model_name, dtype, trust_remote_code, engine_args) -> None:
    """Serve MODEL (a run folder, a model or adapter folder, a hub id, 'embedded') over an OpenAI-compatible API.

    /v1/chat/completions (tool calls parsed from the model's chat template), /v1/completions, /v1/models,
    /health; streaming on both completion routes. Arguments after the options go to vLLM's server as they
    are, e.g. `harness serve runs/x -- --tensor-parallel-size 2`."""
    from harness.models.loading import ModelError, resolve_model, served_name
    from harness.serve import pick_engine, run_transformers, vllm_command

    try:
        model_path = resolve_model(model)
    except ModelError as error:
        raise click.ClickException(str(error)) from None
    name = served_model_name or served_name(model)
    engine = pick_engine(engine)
    click.echo(f"serving {model} as {name!r} with {engine} on http://{host}:{port}/v1", err=True)
    if engine == "vllm":
        command, environment = vllm_command(model_path, name, host, port, dtype, trust_remote_code, engine_args)
        click.echo(" ".join(command), err=True)
        os.execvpe(command[0], command, environment)  # vLLM's server owns the process, its signals and exit code
    if engine_args:
        raise click.ClickException(f"extra arguments {' '.join(engine_args)!r} are for --engine vllm only")
    try:
        run_transformers(model_path, name, host, port, dtype, trust_remote_code)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())

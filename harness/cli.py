"""The `harness` command: validate, schema, check-template, train (eval, score, report and run build on it)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from harness.recipe import RecipeError, load_recipe

log = logging.getLogger("harness")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a recipe field, e.g. --set train.learning_rate=1e-4 (repeatable).")  # fmt: skip


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
    """Check a recipe without training: fields, the real SFTConfig and LoraConfig, data files."""
    from harness.recipe import build_lora_config, build_sft_config
    from harness.train import training_defaults

    recipe = _load(recipe_path, overrides)
    try:
        build_sft_config(recipe, "/tmp/harness-validate", **training_defaults(recipe))
        build_lora_config(recipe)
    except RecipeError as error:
        raise click.ClickException(str(error)) from None
    problems = [f"data source {s.path}: no such file" for s in recipe.data.sources + recipe.data.eval_sources
                if s.path and not recipe.resolve(s.path).exists()]  # fmt: skip
    if recipe.model.chat_template not in (None, "harness") and not recipe.resolve(recipe.model.chat_template).exists():
        problems.append(f"model.chat_template {recipe.model.chat_template}: no such file")
    if problems:
        raise click.ClickException(f"{recipe_path}: " + "; ".join(problems))
    click.echo(f"{recipe_path}: valid ({recipe.mode} recipe {recipe.name!r})")


@main.command()
def schema() -> None:
    """Print the recipe's JSON schema."""
    from harness.recipe import recipe_json_schema

    click.echo(json.dumps(recipe_json_schema(), indent=2))


@main.command("check-template")
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@set_option
def check_template_command(recipe_path: str, overrides: tuple[str, ...]) -> None:
    """Show which tokens carry loss for one sample of each mode; fail on a broken template."""
    from harness.data import builtin
    from harness.data.formats import canonical_row
    from harness.models.loading import load_tokenizer, resolve_model
    from harness.models.template_checks import check_template

    recipe = _load(recipe_path, overrides)
    path = resolve_model(recipe.model.name, recipe.model.tiny, recipe.seed)
    tokenizer = load_tokenizer(path, recipe.model.chat_template, recipe.model.trust_remote_code, recipe.model.revision)
    failed = False
    for mode in builtin.MODES:
        row = canonical_row(builtin.generate(mode, "validation", 1, recipe.seed)[0], mode)
        report = check_template(tokenizer, row, mode)
        click.secho(f"== {mode}: {'ok' if report.ok else 'FAILED'} (loss on the tokens in [[...]])",
                    fg="green" if report.ok else "red", bold=True)  # fmt: skip
        click.echo(report.render())
        for problem in report.problems:
            click.secho(f"  problem: {problem}", fg="red")
        failed |= not report.ok
    if failed:
        raise click.ClickException("the chat template fails the checks above")


@main.command()
@click.argument("recipe_path", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Run folder (default: runs/<recipe name>).")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in the run folder.")
@set_option
def train(recipe_path: str, output: str | None, resume: bool, overrides: tuple[str, ...]) -> None:
    """Fine-tune the recipe's model with TRL's SFTTrainer into a run folder."""
    from harness.data.sources import DataError
    from harness.models.loading import ModelError
    from harness.train import TrainError
    from harness.train import train as run_training

    recipe = _load(recipe_path, overrides)
    run_dir = Path(output) if output else _default_run_dir(recipe)
    try:
        model_dir = run_training(recipe, run_dir, resume=resume)
    except (RecipeError, DataError, ModelError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"model saved in {model_dir}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())

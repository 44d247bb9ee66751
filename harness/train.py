"""Recipe -> SFTConfig -> SFTTrainer -> run folder.

The run folder holds `recipe.resolved.yaml`, `environment.json`, `data/report.json` (what each source
contributed, malformed rows, fingerprints), `train/` (checkpoints, `log_history.json`, `metrics.json`)
and `model/` (the model or LoRA adapter with its tokenizer and chat template).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from harness.data.sources import build_mixture, drop_overlong
from harness.files import environment, write_json, write_text
from harness.generalization import GeneralizationError, ZeroShotCheck, contamination_table
from harness.launch import is_main_process, world_size
from harness.models.loading import (
    adapter_base,
    load_model,
    load_tokenizer,
    resolve_model,
)
from harness.models.template_checks import (
    TemplateRefusal,
    check_template,
    stop_token_ids,
    template_name,
    training_template,
)
from harness.recipe import Recipe, build_lora_config, build_sft_config
from harness.run_folder import RunFolder

log = logging.getLogger(__name__)


class TrainError(RuntimeError):
    pass


def training_defaults(recipe: Recipe) -> dict:
    """Settings that work on this device and mode; each applies only where `train:` is silent."""
    import torch

    defaults: dict = {
        "report_to": "none",
        "logging_steps": 10,
        "save_strategy": "steps",
        "save_steps": 100,
        "save_total_limit": 2,
    }
    if recipe.mode == "instruct":
        defaults["completion_only_loss"] = True
    else:
        defaults["assistant_only_loss"] = True
    if not torch.cuda.is_available():
        defaults.update(bf16=False, fp16=False, gradient_checkpointing=False, use_cpu=True)
        device_note = "no GPU: bf16, fp16 and gradient_checkpointing off"
    elif not torch.cuda.is_bf16_supported():
        defaults.update(bf16=False, fp16=True)
        device_note = "GPU without bf16: fp16 on"
    else:
        device_note = "GPU with bf16: TRL's defaults kept"
    chosen = {key: value for key, value in defaults.items() if key not in recipe.train}
    log.info("%s; defaults applied (the recipe's train: section overrides them): %s", device_note, chosen)
    return defaults


def training_setup(recipe: Recipe, train_dir: Path):
    """(model path, tokenizer, SFTConfig, template SFTTrainer will tokenize with or None for the tokenizer's
    own), as training builds them; `harness validate` and `check-template` use the same. A template family
    TRL cannot train is refused here, with the ways out."""
    settings = recipe.model
    model_path = resolve_model(settings.name, settings.tiny, recipe.seed)
    tokenizer = load_tokenizer(model_path, settings.chat_template, settings.trust_remote_code, settings.revision)
    sft_config = build_sft_config(recipe, train_dir, **training_defaults(recipe))
    try:
        template = training_template(tokenizer, sft_config.assistant_only_loss)
    except TemplateRefusal as error:
        raise TrainError(str(error)) from None
    if template is not None:
        log.info(
            "training with %s (the model's own template has no {%% generation %%} markers); the saved "
            "model keeps its own template for inference",
            template_name(tokenizer, template),
        )
    return model_path, tokenizer, sft_config, template


def check_training_rows(tokenizer, dataset, mode: str, template: str | None, assistant_only_loss: bool) -> None:
    """The template checks on the first row, and on the first row with tools or tool calls."""
    rows = [dataset[0]]
    for index in range(min(len(dataset), 1000)):
        row = dataset[index]
        if row.get("tools") or any(m.get("tool_calls") for m in row.get("messages") or []):
            rows.append(row)
            break
    for row in rows:
        report = check_template(tokenizer, row, mode, template, assistant_only_loss)
        for warning in report.warnings:
            log.warning("chat template: %s", warning)
        if not report.ok:
            raise TrainError("chat template check failed on a training row:\n- " + "\n- ".join(report.problems))


def eval_callback(recipe: Recipe, tokenizer):
    """A TrainerCallback that scores a slice of the eval suites every N steps (greedy, in memory)."""
    from transformers import TrainerCallback

    from harness.evaluate.backends.transformers import TransformersBackend
    from harness.evaluate.runner import generate_records
    from harness.evaluate.suites import build_suite, suite_kind, summarize

    settings = recipe.eval.during_training
    suites = [
        build_suite(s.model_copy(update={"samples": min(s.samples or settings.samples, settings.samples)}), recipe.seed)
        for s in recipe.eval.suites
        if suite_kind(s.suite).build  # lm_eval runs after training only
    ]

    class EvalDuringTraining(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % settings.every_steps:
                return
            backend = TransformersBackend.from_objects(model, tokenizer, recipe.eval.batch_size)
            logs = {}
            greedy = recipe.eval.generation.model_copy(update={"n": 1, "temperature": 0.0})
            for suite in suites:
                records = generate_records(suite.items, suite, tokenizer, backend, greedy, "during-training")
                logs[f"harness_eval/{suite.name}"] = summarize(suite, records)["accuracy"]
            state.log_history.append({**logs, "step": state.global_step})
            log.info("step %d: %s", state.global_step, logs)

    return EvalDuringTraining()


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest *complete* checkpoint: a run killed while saving leaves a half-written folder behind,
    which transformers' get_last_checkpoint would pick. The trainer state is written last."""
    if not output_dir.is_dir():
        return None
    folders = sorted(
        (p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for folder in folders:
        try:
            json.loads((folder / "trainer_state.json").read_text())
        except (OSError, ValueError):
            log.warning("%s is incomplete (interrupted while saving): skipped", folder)
            continue
        if any((folder / name).exists() for name in ("model.safetensors", "adapter_model.safetensors")) or any(
            folder.glob("model-*.safetensors")
        ):
            return str(folder)
    return None


def train(recipe: Recipe, run_dir: str | Path, resume: bool = False) -> Path:
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    train_dir, model_dir = folder.train, folder.model
    trainer, tokenizer = build_trainer(recipe, run_dir)
    checkpoint = last_checkpoint(train_dir) if resume else None
    if resume:
        log.info("resuming from %s", checkpoint or "the start (no checkpoint yet)")
    result = trainer.train(resume_from_checkpoint=checkpoint)

    # Generation stops at the template's end-of-turn token (<|im_end|>, <end_of_turn>, ...) whatever eos is.
    generation = getattr(trainer.model, "generation_config", None)
    if generation is not None:
        generation.eos_token_id = sorted(stop_token_ids(tokenizer, generation.eos_token_id))
    trainer.save_model(str(model_dir))  # gathers sharded weights; rank 0 writes
    if is_main_process():
        # The Trainer pickles its arguments next to the weights; a shared model folder holds no pickle.
        (model_dir / "training_args.bin").unlink(missing_ok=True)
        write_text(model_dir / "training_args.json", trainer.args.to_json_string())
        tokenizer.save_pretrained(str(model_dir))
        write_json(train_dir / "log_history.json", trainer.state.log_history)
        write_json(
            train_dir / "metrics.json",
            {**result.metrics, "global_step": trainer.state.global_step, "processes": world_size()},
        )
    log.info("trained %d steps; model in %s", trainer.state.global_step, model_dir)
    return model_dir


def build_trainer(recipe: Recipe, run_dir: Path):
    """(SFTTrainer with its tokenized dataset, tokenizer): everything short of training, every check done."""
    from trl import SFTTrainer

    folder = RunFolder(run_dir)
    train_dir = folder.train
    main_process = is_main_process()  # under a launcher every process trains; rank 0 writes the run folder
    if main_process:
        write_text(folder.resolved_recipe, recipe.dump())
        write_json(folder.environment, {**environment(), "processes": world_size()})

    settings = recipe.model
    model_path, tokenizer, sft_config, template = training_setup(recipe, train_dir)
    zero_shot = ZeroShotCheck(recipe)
    problems = zero_shot.problems()
    if problems:
        raise TrainError("\n".join(problems))

    # Under packing TRL keeps only the token columns, so the harness counts tokens itself; otherwise the
    # over-long rows are read from the trainer's own tokenization (drop_overlong below): one pass, not two.
    count_tokens = bool(sft_config.packing)
    train_data, reports = build_mixture(
        recipe,
        recipe.data.sources,
        tokenizer=tokenizer,
        template=template,
        count_tokens=count_tokens,
        select=zero_shot,
    )
    eval_data = eval_reports = None
    if recipe.data.eval_sources:
        eval_data, eval_reports = build_mixture(
            recipe, recipe.data.eval_sources, tokenizer=tokenizer, template=template, count_tokens=count_tokens
        )

    account = zero_shot.result()
    if main_process:
        write_json(folder.generalization, account)
    for note in zero_shot.warnings():
        log.warning("%s", note)
    if account["contamination"] is not None:
        log.info("%s", contamination_table(account["contamination"]))
    try:
        zero_shot.check_contamination(account["contamination"])
    except GeneralizationError as error:
        raise TrainError(str(error)) from None
    check_training_rows(tokenizer, train_data, recipe.mode, template, sft_config.assistant_only_loss)

    lora = build_lora_config(recipe)
    # A LoRA adapter used as the base (an earlier run's output) is merged first, as a user would.
    model = load_model(
        model_path,
        settings.dtype,
        settings.trust_remote_code,
        settings.revision,
        settings.attn_implementation,
        merge_adapter=True,
    )
    if adapter_base(model_path) and lora is not None:
        log.info("%s is a LoRA adapter: merged into its base before the new adapter is trained", model_path)

    callbacks = []
    if recipe.eval.during_training and recipe.eval.suites:
        if world_size() > 1:  # generating inside a sharded (FSDP, ZeRO-3) step would need every rank
            log.info("eval.during_training is skipped with %d processes; the eval steps score the model", world_size())
        else:
            callbacks.append(eval_callback(recipe, tokenizer))
    try:
        trainer = SFTTrainer(
            model=model,
            args=sft_config,
            train_dataset=train_data,
            eval_dataset=eval_data,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=callbacks,
        )
    except ValueError as error:  # TRL checks combinations of settings (packing, padding_free, max_length, ...)
        where = recipe.source_path or "<recipe>"
        raise TrainError(f"{where}: train: TRL's SFTTrainer refused these settings: {error}") from None
    if not count_tokens:
        cut = (sft_config.max_length, recipe.data.on_error, tokenizer, template)
        trainer.train_dataset = drop_overlong(trainer.train_dataset, train_data, reports, *cut)
        if eval_data is not None:
            trainer.eval_dataset = drop_overlong(trainer.eval_dataset, eval_data, eval_reports, *cut)
    if main_process:
        write_json(
            folder.data_report,
            {
                "train": [r.as_dict() for r in reports],
                "train_rows": len(trainer.train_dataset),
                "train_fingerprint": train_data._fingerprint,
                "eval_rows": len(trainer.eval_dataset) if eval_data is not None else 0,
            },
        )
    return trainer, tokenizer

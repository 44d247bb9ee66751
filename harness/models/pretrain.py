"""Pretrain the embedded base model: the tiny architecture, next-token loss on `builtin/corpus.py` documents.

    python -m harness.models.pretrain --out harness/models/embedded      # the shipped base (see its README)

The random-init tiny model (tokenizer included) is built for `--seed`, then trained with TRL's SFTTrainer
on plain text (documents concatenated and cut into `--length`-token blocks, as pretraining does). The folder
written is an ordinary `save_pretrained` folder with a model card: `model.name: embedded` loads it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from harness.files import write_json, write_text
from harness.models.loading import EMBEDDED_PATH
from harness.models.tiny import tiny_model_path
from harness.recipe import TinySpec

log = logging.getLogger(__name__)

DEFAULTS = {"steps": 3000, "batch_size": 16, "length": 512, "learning_rate": 3e-3, "seed": 0}


def pretrain(out: Path, steps: int, batch_size: int, length: int, learning_rate: float, seed: int) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from harness.data.builtin.corpus import documents

    spec = TinySpec()
    base = tiny_model_path(spec, seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    # Enough documents for every step to see new text (about 60 tokens a document).
    texts = documents(steps * batch_size * length // 50, seed)
    dataset = Dataset.from_dict({"text": texts})
    staging = Path(tempfile.mkdtemp(prefix=".pretraining-", dir=out.parent))
    try:
        config = SFTConfig(
            output_dir=str(staging / "trainer"),
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.02,
            weight_decay=0.01,
            max_length=length,
            packing=True,
            packing_strategy="wrapped",
            dataset_text_field="text",
            logging_steps=max(1, steps // 25),
            save_strategy="no",
            report_to=[],
            seed=seed,
            data_seed=seed,
            bf16=torch.cuda.is_available(),
            dataloader_num_workers=0,
        )
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
        started = time.perf_counter()
        result = trainer.train()
        seconds = round(time.perf_counter() - started, 1)
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        facts = {
            "steps": steps,
            "batch_size": batch_size,
            "length": length,
            "learning_rate": learning_rate,
            "seed": seed,
            "documents": len(texts),
            "tokens_seen": steps * batch_size * length,
            "train_seconds": seconds,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"
            + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"),
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            "train_loss": round(result.training_loss, 4),
            "parameters": model.num_parameters(),
            "copying": copy_probe(trainer.model, tokenizer),
        }
        final = staging / "model"
        trainer.model.save_pretrained(final, safe_serialization=True)
        tokenizer.save_pretrained(final)
        for name in ("tokenizer_config.json", "generation_config.json"):  # as the tiny build pins them
            if (base / name).exists():
                shutil.copy(base / name, final / name)
        write_json(final / "pretraining.json", facts)
        write_text(final / "README.md", model_card(facts))
        if out.exists():
            shutil.rmtree(out)
        os.replace(final, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return facts


def copy_probe(model, tokenizer, n: int = 40) -> dict:
    """Greedy exact-match rates on copying the pretrained model never saw: a random sequence written again,
    and a name and a city read into JSON (what the chat and tools recipes need from it)."""
    import random

    import torch

    from harness.data.builtin.corpus import CITIES, NAMES, random_token

    rng = random.Random("copy-probe")
    model.eval()

    def continuation(prompt: str) -> str:
        ids = tokenizer(prompt, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        return tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)

    repeated = 0
    for _ in range(n):
        sequence = " ".join(random_token(rng) for _ in range(rng.randint(3, 12)))
        repeated += continuation(f"Line: {sequence}\nAgain:").strip().startswith(sequence)
    read = 0
    for _ in range(n):
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        first_line = continuation(f"Name is {name}, the city is {city}.\n").split("\n")[0]
        try:
            data = json.loads(first_line)
        except json.JSONDecodeError:
            continue
        read += isinstance(data, dict) and data.get("name") == name and data.get("city") == city
    return {"sequence_written_again": round(repeated / n, 3), "name_and_city_into_json": round(read / n, 3), "n": n}


def model_card(facts: dict) -> str:
    copying = facts["copying"]
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
---

# harness embedded base

The pretrained base model that `model.name: embedded` loads: a {facts["parameters"]:,}-parameter Llama
(hidden 128, 4 layers, 4 heads, 2 key-value heads, 2,048 positions) with a {TinySpec().vocab_size}-entry
byte-level BPE tokenizer and a ChatML template, pretrained from random weights on synthetic plain text
(`harness/data/builtin/corpus.py`: copying, values read into JSON and `<tool_call>` blocks, facts stated
and recalled, lists, arithmetic, words of four languages and their transformations). It knows no
instruction or conversation format; the recipes fine-tune it into one.

Reproduce it (deterministic for a machine and library set):

    python -m harness.models.pretrain --out harness/models/embedded --steps {facts["steps"]} \\
        --batch-size {facts["batch_size"]} --length {facts["length"]} --learning-rate {facts["learning_rate"]} \\
        --seed {facts["seed"]}

Pretraining: {facts["steps"]:,} steps of {facts["batch_size"]} x {facts["length"]} tokens ({facts["tokens_seen"]:,}
tokens), loss {facts["first_loss"]:.3f} -> {facts["final_loss"]:.3f}, {facts["train_seconds"]:.0f} s on
{facts.get("machine", "the machine that built it")} (`pretraining.json`). Copying, greedy, on {copying["n"]} new
items each: a random sequence written again {100 * copying["sequence_written_again"]:.0f}% exactly, a name and a
city read into JSON {100 * copying["name_and_city_into_json"]:.0f}%. License: Apache-2.0, as the project; the
corpus is generated, no third-party text.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=EMBEDDED_PATH)
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    facts = pretrain(args.out, args.steps, args.batch_size, args.length, args.learning_rate, args.seed)
    print(json.dumps(facts, indent=2))


if __name__ == "__main__":
    main()

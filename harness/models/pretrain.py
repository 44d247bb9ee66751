"""Pretrain a base model in resumable pieces: next-token loss on `builtin/corpus.py` documents.

    nice -n 19 python -m harness.models.pretrain --out DIR --size medium --hours 2     # one piece
    python -m harness.models.pretrain --out DIR --hours 2                               # the next piece

A base worth having takes many CPU hours, more than one sitting, so pretraining runs in pieces that each
continue where the last stopped. The folder holds the newest weights (bf16 safetensors, the part worth
committing), `state.json` (size, settings, steps and tokens so far) and `log.jsonl` (loss every
`--log-every` steps, the `probes.py` skills every `--probe-every` steps). Beside them, `.checkpoint/` keeps
the float32 weights and the optimizer: a piece that finds it resumes exactly; one that finds only the
committed bf16 weights makes a warm restart (a fresh AdamW whose learning rate rises again over
`--rewarm` steps). The data position is the step: batch `k` is drawn from documents seeded by `(seed, k)`,
so a resumed run sees the same text it would have seen without stopping.

The schedule is warmup-stable-decay: constant after the warmup, so any piece can stop anywhere, and down to
zero over the last `--decay` share of `--steps` (the planned total), which the last piece runs. The loop is
written out rather than run by SFTTrainer because pieces, a step-indexed data stream and this schedule are
what `Trainer`'s resume does not give: it replays the data loader to find its position and ties the
schedule to one `max_steps`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import time
from pathlib import Path

from harness.files import write_json, write_text
from harness.recipe import TinySpec

log = logging.getLogger(__name__)

SIZES = {  # name -> the tiny architecture's fields (TinySpec); `small` is the base shipped until now
    "small": {},
    "medium": {
        "hidden_size": 192,
        "intermediate_size": 512,
        "num_hidden_layers": 6,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
    },
    "large": {
        "hidden_size": 256,
        "intermediate_size": 768,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
    },
}
SETTINGS = {  # fixed for a folder by its first piece
    "size": "medium",  # chosen by speed so far (docs in benchmarks/README.md)
    "steps": 40000,
    "batch_size": 8,
    "length": 1024,
    "learning_rate": 2e-3,
    "warmup": 300,
    "decay": 0.1,
    "seed": 0,
}
CHECKPOINT = ".checkpoint"


def spec_for(size: str) -> TinySpec:
    return TinySpec(**SIZES[size])


def learning_rate(step: int, settings: dict, rewarm_from: int | None, rewarm: int) -> float:
    """Warmup-stable-decay, with a second warmup after a warm restart (fresh optimizer moments)."""
    peak, total = settings["learning_rate"], settings["steps"]
    decay_start = int(total * (1 - settings["decay"]))
    rate = peak * min(1.0, (step + 1) / settings["warmup"])
    if step >= decay_start:
        rate = peak * max(0.0, (total - step) / (total - decay_start))
    if rewarm_from is not None and step < rewarm_from + rewarm:
        rate *= (step - rewarm_from + 1) / rewarm
    return rate


def batch(step: int, settings: dict, tokenizer, eos: int):
    """Batch `step`: documents seeded by (seed, step), each ended by the end-of-text token, cut into blocks."""
    import torch

    from harness.data.builtin.corpus import documents_for_step

    need = settings["batch_size"] * settings["length"]
    rng = random.Random(f"pretrain/{settings['seed']}/{step}")
    ids: list[int] = []
    while len(ids) < need:
        texts = documents_for_step(rng, step, settings["steps"], 32)
        for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
            ids += [*encoded, eos]
    return torch.tensor(ids[:need]).view(settings["batch_size"], settings["length"])


def load(out: Path, settings: dict):
    """(model, optimizer, step, rewarm_from): exact resume, warm restart from the bf16 weights, or a new base."""
    import torch
    from transformers import AutoModelForCausalLM

    from harness.models.tiny import tiny_model_path

    step = _read_state(out).get("step", 0)
    rewarm_from = None
    # The newest whole exact checkpoint wins, even over a state.json that a kill left one save behind.
    checkpoint = next((c for c in (out / CHECKPOINT, out / f"{CHECKPOINT}.old") if (c / "step.json").exists()), None)
    if checkpoint is not None and json.loads((checkpoint / "step.json").read_text())["step"] >= step:
        position = json.loads((checkpoint / "step.json").read_text())
        step, rewarm_from = position["step"], position.get("rewarm_from")
        model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
        optimizer = _optimizer(model, settings)
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        log.info("resuming exactly at step %d from %s", step, checkpoint)
    elif step:
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        optimizer = _optimizer(model, settings)
        rewarm_from = step
        log.info("warm restart at step %d from the bf16 weights in %s", step, out)
    else:
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path(spec_for(settings["size"]), settings["seed"]))
        optimizer = _optimizer(model, settings)
        log.info("a new %s base (%d parameters)", settings["size"], model.num_parameters())
    return model, optimizer, step, rewarm_from


def _optimizer(model, settings: dict):
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    rest = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings["learning_rate"], betas=(0.9, 0.95))


def _read_state(out: Path) -> dict:
    path = out / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def pretrain(
    out: Path,
    hours: float,
    settings: dict,
    log_every: int,
    probe_every: int,
    rewarm: int,
    probe_items: int = 60,
    piece_steps: int | None = None,
) -> dict:
    import torch
    from transformers import AutoTokenizer

    from harness.models.probes import probe
    from harness.models.tiny import tiny_model_path

    out.mkdir(parents=True, exist_ok=True)
    state = _read_state(out)
    settings = state.get("settings", settings)  # a folder keeps the settings of its first piece
    model, optimizer, step, rewarm_from = load(out, settings)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path(spec_for(settings["size"]), settings["seed"]))
    eos = tokenizer.eos_token_id
    model.train()
    piece = {"started_step": step, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": torch.get_num_threads()}
    piece["machine"] = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    started = time.perf_counter()
    deadline = started + hours * 3600
    last_checkpoint = started
    losses: list[float] = []
    last = min(settings["steps"], step + piece_steps) if piece_steps else settings["steps"]
    while step < last and time.perf_counter() < deadline:
        rate = learning_rate(step, settings, rewarm_from, rewarm)
        for group in optimizer.param_groups:
            group["lr"] = rate
        ids = batch(step, settings, tokenizer, eos)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        losses.append(loss.item())
        if step % log_every == 0 or step % probe_every == 0:
            entry = {"step": step, "loss": round(sum(losses) / len(losses), 4), "lr": rate}
            entry["seconds"] = round(time.perf_counter() - started, 1)
            if step % probe_every == 0:
                entry["probes"] = {skill: r["rate"] for skill, r in probe(model, tokenizer, probe_items // 2).items()}
            _append_log(out, entry)
            log.info("%s", entry)
            losses = []
        if time.perf_counter() - last_checkpoint > 900:  # a killed piece loses at most 15 minutes
            _save(out, model, optimizer, tokenizer, settings, step, piece, started, rewarm_from)
            last_checkpoint = time.perf_counter()
    final_probes = probe(model, tokenizer, probe_items)
    piece["probes"] = {skill: r["rate"] for skill, r in final_probes.items()}
    return _save(out, model, optimizer, tokenizer, settings, step, piece, started, rewarm_from, final=True)


def _append_log(out: Path, entry: dict) -> None:
    with (out / "log.jsonl").open("a") as handle:
        handle.write(json.dumps(entry) + "\n")


def _save(out: Path, model, optimizer, tokenizer, settings, step, piece, started, rewarm_from, final=False) -> dict:
    """The exact checkpoint (float32 + optimizer, its step last) in `.checkpoint/`; the bf16 weights, state and
    card beside it. The new checkpoint is whole before the old one goes (kept as `.checkpoint.old` until then),
    so a piece killed while saving leaves one to resume from."""
    import torch

    checkpoint, staging, old = out / CHECKPOINT, out / f"{CHECKPOINT}.new", out / f"{CHECKPOINT}.old"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    write_json(staging / "step.json", {"step": step, "rewarm_from": rewarm_from})
    if checkpoint.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(checkpoint, old)
    os.replace(staging, checkpoint)
    shutil.rmtree(old, ignore_errors=True)

    weights = out / ".weights.new"
    shutil.rmtree(weights, ignore_errors=True)
    converted: dict[int, object] = {}  # tied weights stay one tensor
    bf16 = {
        name: converted.setdefault(tensor.data_ptr(), tensor.to(torch.bfloat16))
        for name, tensor in model.state_dict().items()
    }
    model.save_pretrained(weights, state_dict=bf16, safe_serialization=True)
    tokenizer.save_pretrained(weights)
    for name in os.listdir(weights):
        os.replace(weights / name, out / name)
    weights.rmdir()

    state = _read_state(out)
    pieces = state.get("pieces", [])
    piece = {**piece, "steps": step - piece["started_step"], "seconds": round(time.perf_counter() - started, 1)}
    pieces = [p for p in pieces if p["started"] != piece["started"]] + [piece]
    state = {
        "settings": settings,
        "step": step,
        "tokens": step * settings["batch_size"] * settings["length"],
        "parameters": model.num_parameters(),
        "cpu_hours": round(sum(p["seconds"] * p["threads"] for p in pieces) / 3600, 2),
        "pieces": pieces,
    }
    write_json(out / "state.json", state)
    if final:
        write_text(out / "README.md", model_card(state))
    return state


def model_card(state: dict) -> str:
    settings, probes = state["settings"], state["pieces"][-1].get("probes", {})
    spec = spec_for(settings["size"])
    rates = ", ".join(f"{skill} {100 * rate:.0f}%" for skill, rate in probes.items())
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
---

# harness base ({settings["size"]})

A {state["parameters"]:,}-parameter Llama (hidden {spec.hidden_size}, {spec.num_hidden_layers} layers,
{spec.num_attention_heads} heads, {spec.num_key_value_heads} key-value heads) with the tiny model's byte-level
BPE tokenizer and ChatML template, pretrained from random weights on synthetic plain text
(`harness/data/builtin/corpus.py`, a curriculum by step). It knows no instruction or conversation format;
the recipes fine-tune it into one. Weights in bfloat16.

So far: {state["step"]:,} of {settings["steps"]:,} steps of {settings["batch_size"]} x {settings["length"]} tokens
({state["tokens"]:,} tokens), {state["cpu_hours"]} CPU hours in {len(state["pieces"])} pieces (`state.json`,
loss and probes in `log.jsonl`). Probes at the last step (`harness/models/probes.py`, greedy): {rates}.

Continue it (the settings are kept in `state.json`):

    nice -n 19 python -m harness.models.pretrain --out THIS_FOLDER --hours 2

License: Apache-2.0, as the project; the corpus is generated, no third-party text.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the base's folder; continued if it exists")
    parser.add_argument("--hours", type=float, default=2.0, help="length of this piece")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one leaves a core for other work)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--probe-every", type=int, default=500)
    parser.add_argument("--rewarm", type=int, default=100, help="warmup steps after a warm restart")
    parser.add_argument("--piece-steps", type=int, help="stop this piece after so many steps (default: --hours)")
    for name, default in SETTINGS.items():
        kind = str if name == "size" else type(default)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help="first piece only")
    args = parser.parse_args(argv)
    if min(args.log_every, args.probe_every, args.steps, args.batch_size, args.length) < 1:
        parser.error("--log-every, --probe-every, --steps, --batch-size and --length must be at least 1")
    if args.size not in SIZES:
        parser.error(f"--size must be one of {', '.join(SIZES)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    settings = {name: getattr(args, name) for name in SETTINGS}
    state = pretrain(
        args.out, args.hours, settings, args.log_every, args.probe_every, args.rewarm, piece_steps=args.piece_steps
    )
    print(json.dumps(state["pieces"][-1], indent=2))


if __name__ == "__main__":
    main()

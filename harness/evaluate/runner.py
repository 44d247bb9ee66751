"""Render prompts once, generate in chunks, score, write per-sample records and a summary; resume.

Layout: an evaluation folder (`run_folder.py`): per suite, records appended as chunks finish (samples.py)
and the summary (written atomically). A rerun keeps every finished record whose settings
match and generates only the rest, so an interrupted eval ends with the same summary as an
uninterrupted one. A sample that fails to generate or score is recorded as a failure with its reason.

Under a launcher (`harness eval --launcher accelerate`) each process generates every n-th pending item
into `samples.rank<r>.jsonl`; rank 0 merges them into `samples.jsonl` and writes the summary, which is
the one a single process writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from harness.data.sources import SHOWN_ROWS_PER_REASON
from harness.evaluate.backends import BackendError, Generation, Request, pick_backend
from harness.evaluate.episodes import run_episodes
from harness.evaluate.samples import SampleStore, append_records, score_record
from harness.evaluate.suites import Item, Suite, build_suite, suite_kind, summarize
from harness.files import package_versions
from harness.launch import distributed_state, is_main_process
from harness.models.loading import load_tokenizer, resolve_model
from harness.recipe import EvalSettings, GenerationSettings, ModelSettings
from harness.run_folder import EvalFolder, SuiteSummary

log = logging.getLogger(__name__)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_prompt(tokenizer, item: Item, chat_template_kwargs: dict) -> str:
    return tokenizer.apply_chat_template(
        item.messages, tools=item.tools, tokenize=False, add_generation_prompt=True, **chat_template_kwargs
    )


def evaluate(
    model: str,
    settings: EvalSettings,
    out_dir: str | Path,
    seed: int = 0,
    model_settings: ModelSettings | None = None,
    backend=None,
) -> dict:
    """Evaluate a model reference on every suite of `settings`; returns {suite name: summary}."""
    model, model_settings = str(model), model_settings or ModelSettings()
    out_dir = Path(out_dir)
    model_path = resolve_model(model, model_settings.tiny, seed)
    # The recipe's template choice, as in training; the backend renders and stops (end-of-turn token) with it.
    tokenizer = load_tokenizer(model_path, model_settings.chat_template, model_settings.trust_remote_code)
    summaries = {}

    def backend_for():
        """Started on first need: a fully resumed eval never loads the model."""
        nonlocal backend
        if backend is None:
            from harness.evaluate.backends import make_backend

            backend = make_backend(backend_name, settings, model_path, model_settings, reference=model)
        return backend

    built = {id(s): build_suite(s, seed) for s in settings.suites if suite_kind(s.suite).build}
    n_items = sum(len(suite.items) for suite in built.values())  # for `auto`: is vLLM's start-up worth it?
    # Decided once, for every suite (lm_eval's included).
    backend_name = pick_backend(settings.backend, n_items, sharded=distributed_state() is not None)
    detail = f" (auto, {n_items} prompts)" if settings.backend == "auto" else ""
    log.info("evaluation backend: %s%s", backend_name, detail)
    for suite_settings in settings.suites:
        name = suite_settings.name or suite_settings.suite
        reproduce = {
            "suite": suite_settings.model_dump(),
            "seed": seed,
            "backend": settings.backend,
            "batch_size": settings.batch_size,
            "backend_options": settings.backend_options,
            "model_settings": model_settings.model_dump(mode="json"),
        }
        if id(suite_settings) not in built:  # a kind that runs by itself (lm_eval)
            run = suite_kind(suite_settings.suite).run
            summaries[name] = run(
                model,
                model_path,
                suite_settings,
                backend_name,
                out_dir / name,
                seed,
                model_settings.dtype,
                reproduce,
            )
            continue
        suite = built[id(suite_settings)]
        summaries[suite.name] = run_suite(
            suite, tokenizer, backend_for, settings, out_dir / suite.name, model, model_path, reproduce
        )
    if is_main_process():
        EvalFolder(out_dir).write_index(model, list(summaries))
    return summaries


def model_identity(model_path: str) -> str:
    """Names, sizes and modification times of a local model's files (retraining changes them); a hub id as is."""
    folder = Path(model_path)
    if not folder.is_dir():
        return model_path
    return sha256(
        json.dumps(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()))
    )


def _fingerprint(suite: Suite, settings: EvalSettings, tokenizer, model_path: str) -> str:
    """What a finished record depends on: reuse it only if none of this changed."""
    return sha256(
        json.dumps(
            {
                "generation": settings.generation.model_dump(),
                "model": model_path,
                "weights": model_identity(model_path),
                "template": sha256(tokenizer.chat_template or ""),
                "items": [_item_identity(i) for i in suite.items],
            },
            sort_keys=True,
        )
    )


def _item_identity(item: Item) -> str:
    """What the item asks and expects, its conversation's later turns and world included: a regenerated
    suite whose ids name other items does not reuse their records."""
    episode = item.episode
    played = [episode.turns, episode.added_tools] if episode else None
    content = [item.id, item.messages, item.tools, item.reference, item.meta, played]
    return sha256(json.dumps(content, sort_keys=True, default=str))


def run_suite(
    suite: Suite,
    tokenizer,
    backend_for,
    settings: EvalSettings,
    suite_dir: Path,
    model: str,
    model_path: str,
    reproduce: dict | None = None,
) -> dict | None:
    """`backend_for()` gives the backend; it is called only when some item still needs generating.
    `reproduce`: the settings that made the items and outputs, recorded in the summary.
    Returns the summary (None on the ranks other than 0 of a launched group)."""
    fingerprint = _fingerprint(suite, settings, tokenizer, model_path)
    store = SampleStore(suite_dir, fingerprint)
    group = distributed_state()
    rank, ranks = (group.process_index, group.num_processes) if group else (0, 1)
    done = store.load()
    if group:
        group.wait_for_everyone()  # every rank has read the files before rank 0 rewrites them
    if rank == 0:
        suite_dir.mkdir(parents=True, exist_ok=True)
        store.keep_only(suite.items, done)  # only reusable records stay; new ones are appended
    if group:
        group.wait_for_everyone()
    pending = [item for item in suite.items if item.id not in done]
    if done and rank == 0:
        log.info("%s: reusing %d finished samples, %d to go", suite.name, len(done), len(pending))
    started = time.perf_counter()
    mine = pending[rank::ranks]  # interleaved: the length-sorted batches stay alike across ranks
    output_path = store.path if ranks == 1 else store.shard(rank)
    backend = backend_for() if mine else None
    served_before = backend.describe() if hasattr(backend, "describe") else None
    _generate_into(output_path, mine, suite, tokenizer, backend, settings, fingerprint, done)
    if group:
        group.wait_for_everyone()
        if rank != 0:
            return None
        store.merge_shards(done)
    records = [done[item.id] for item in suite.items]
    folder = EvalFolder(suite_dir.parent)
    earlier = folder.summary(suite.name) if not pending else None
    backend_name = (getattr(backend, "name", None) or settings.backend) if pending else earlier and earlier.backend
    server = _served_this_suite(served_before, backend.describe()) if served_before else None
    summary = build_summary(suite, records, model, model_path, backend_name, server, settings, tokenizer, reproduce)
    written = folder.write_summary(summary)
    timing = {"seconds": round(time.perf_counter() - started, 2), "generated": len(pending), "processes": ranks}
    folder.write_timing(suite.name, timing)
    return written


def _skipped(suite: Suite) -> dict:
    return {
        reason: {"count": len(rows), "rows": rows[:SHOWN_ROWS_PER_REASON]} for reason, rows in suite.skipped.items()
    }


def build_summary(
    suite: Suite,
    records: list[dict],
    model: str,
    model_path: str,
    backend_name: str | None,
    server: dict | None,
    settings: EvalSettings,
    tokenizer,
    reproduce: dict | None,
) -> SuiteSummary:
    """The metrics of the records, and everything that made them."""
    system_prompts = sorted({m["content"] for i in suite.items for m in i.messages if m["role"] == "system"})
    return SuiteSummary(
        suite=suite.name,
        kind=suite.kind,
        model=model,
        model_path=model_path,
        backend=backend_name,
        server=server or None,
        n_items=len(records),
        skipped_rows=_skipped(suite) if suite.skipped else None,
        n_samples=sum(len(r["outputs"]) for r in records),
        metrics=summarize(suite, records),
        generation=settings.generation.model_dump(),
        chat_template_sha256=sha256(tokenizer.chat_template or ""),
        system_prompt_sha256=sha256(json.dumps(system_prompts)),
        packages=package_versions(),
        reproduce=reproduce or {},
    )


def _generate_into(
    path: Path,
    items: list[Item],
    suite: Suite,
    tokenizer,
    backend,
    settings: EvalSettings,
    fingerprint: str,
    done: dict,
) -> None:
    """Generate and score in chunks, appending each finished chunk to `path` (synced: a kill loses at most one
    chunk)."""
    from tqdm.auto import tqdm

    chunk = max(settings.batch_size * 4, 16)
    with tqdm(total=len(items), desc=f"eval {suite.name}") as bar:
        for start in range(0, len(items), chunk):
            batch = items[start : start + chunk]
            records = generate_records(batch, suite, tokenizer, backend, settings.generation, fingerprint)
            done.update((record["id"], record) for record in records)
            append_records(path, records)
            bar.update(len(batch))


def generate_records(
    items: list[Item], suite: Suite, tokenizer, backend, generation: GenerationSettings, fingerprint: str
) -> list[dict]:
    """The scored records of `items`: prompts rendered once, generated in one backend call, the conversations
    with tools played (`episodes.py`); an item whose prompt cannot render is a failure saying why."""
    prompts = [_render_or_error(tokenizer, item, generation.chat_template_kwargs) for item in items]
    requests = [
        Request(prompt, item.messages, item.tools)
        for item, prompt in zip(items, prompts, strict=True)
        if not isinstance(prompt, Generation) and item.episode is None
    ]
    generated = iter(_generate(backend, requests, generation) if requests else [])
    playable = [i for i, p in zip(items, prompts, strict=True) if i.episode and not isinstance(p, Generation)]
    played = iter(_play(backend, tokenizer, playable, generation))
    records = []
    for item, prompt in zip(items, prompts, strict=True):
        if isinstance(prompt, Generation):
            outputs = [prompt] * generation.n
        else:
            outputs = next(played) if item.episode else next(generated)
        text = "" if isinstance(prompt, Generation) else prompt
        records.append(score_record(suite, item, text, outputs, fingerprint))
    return records


def _play(backend, tokenizer, items: list[Item], generation) -> list[list[Generation]]:
    """The conversations of items answered by acting with tools (`episodes.py`), every step of all of them
    in one backend call; with n samples, n rounds of play, each with its own seed."""
    if not items:
        return []

    def render(messages: list[dict], tools: list[dict] | None) -> str | Generation:
        return _render_or_error(tokenizer, Item("", messages, None, tools), generation.chat_template_kwargs)

    def generate_with(sample: int):
        settings = generation.model_copy(update={"n": 1, "seed": generation.seed + sample})
        return lambda requests: [outputs[0] for outputs in _generate(backend, requests, settings)]

    plays = [run_episodes(items, render, generate_with(sample)) for sample in range(generation.n)]
    return [list(samples) for samples in zip(*plays, strict=True)]


def _served_this_suite(before: dict, after: dict) -> dict:
    """The server's URL and model, and the requests and tokens it served for this suite."""
    counts = ("requests", "prompt_tokens", "completion_tokens")
    return {key: after[key] - before[key] if key in counts else value for key, value in after.items()}


def _render_or_error(tokenizer, item: Item, chat_template_kwargs: dict) -> str | Generation:
    """The prompt, or a failed generation saying why the template could not render this item."""
    from harness.data.formats import RENDER_ERRORS

    try:
        return render_prompt(tokenizer, item, chat_template_kwargs)
    except RENDER_ERRORS as error:
        return Generation(
            "", "error", error=f"the chat template cannot render this item: {type(error).__name__}: {error}"
        )


def _generate(backend, requests: list[Request], settings) -> list[list[Generation]]:
    """A failing batch is retried one request at a time, so one bad sample cannot sink the others; a backend
    that cannot generate at all stops the evaluation."""
    try:
        return backend.generate(requests, settings)
    except BackendError:
        raise
    except Exception as error:
        log.warning("batch generation failed (%s); retrying one by one", error)
    results = []
    for request in requests:
        try:
            results.append(backend.generate([request], settings)[0])
        except BackendError:
            raise
        except Exception as error:
            results.append([Generation("", "error", error=f"{type(error).__name__}: {error}")] * settings.n)
    return results

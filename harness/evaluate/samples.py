"""Per-sample records: how outputs are scored into them, and where they are kept between runs.

A record is one item's prompt, outputs, finish reasons, reference, verdicts and metadata, with the
fingerprint of what produced it. `score_record` is the one scoring loop (the evaluation runner, `harness
score` and the in-training evaluation all use it); `SampleStore` is a suite's `samples.jsonl`: a rerun
keeps the records whose fingerprint still matches, new ones are appended and synced as they finish, and
under a launcher each process appends to its own `samples.rank<r>.jsonl`, which rank 0 merges.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from harness.evaluate.backends import Generation
from harness.evaluate.suites import Item, Suite
from harness.files import read_jsonl, write_text
from harness.run_folder import SAMPLES_FILE

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """Lone surrogates (invalid UTF-8 from a server's JSON) become U+FFFD, so the record can be written."""
    return LONE_SURROGATE.sub("\ufffd", text)


def valid_data(data):
    """JSON-able data with its text made valid (`valid_text`); None stays None."""
    return None if data is None else json.loads(valid_text(json.dumps(data, ensure_ascii=False, default=str)))


def score_record(suite: Suite, item: Item, prompt: str, outputs: list[Generation], fingerprint: str) -> dict:
    """The record of one item: each output scored by the suite (a failed generation is a failure, with why)."""
    verdicts = []
    outputs = [
        Generation(valid_text(o.text), o.finish_reason, o.tokens, o.error, valid_data(o.trajectory)) for o in outputs
    ]
    for output in outputs:
        verdict = suite.score(output.text, item).as_dict()
        if output.finish_reason == "error":
            verdict.update(correct=False, score=0.0, reason=f"generation failed: {output.error}")
        verdicts.append(verdict)
    return {
        "id": item.id,
        "prompt": prompt,
        "outputs": [o.text for o in outputs],
        "finish_reasons": [o.finish_reason for o in outputs],
        "tokens": [o.tokens for o in outputs],
        "reference": item.reference,
        "verdicts": verdicts,
        "meta": {k: v for k, v in item.meta.items() if k != "tools"},
        **({"trajectories": [o.trajectory for o in outputs]} if any(o.trajectory for o in outputs) else {}),
        "fingerprint": fingerprint,
    }


def read_records(path: Path, fingerprint: str) -> dict[str, dict]:
    """Finished records of an earlier run with the same fingerprint; a damaged line (a torn last one, a
    corrupt one) is left out, so its item is generated again and `keep_only` writes the file whole."""
    records = {}
    if not path.exists():
        return records
    for _, record in read_jsonl(path).rows:  # a damaged line is generated again
        if isinstance(record, dict) and record.get("fingerprint") == fingerprint and isinstance(record.get("id"), str):
            records[record["id"]] = record
    return records


def append_records(path: Path, records: list[dict]) -> None:
    """Append and sync: a kill loses at most the records being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        stream.flush()
        os.fsync(stream.fileno())


class SampleStore:
    """A suite folder's `samples.jsonl` (and the rank shards of a launched run) for one fingerprint."""

    def __init__(self, suite_dir: Path, fingerprint: str):
        self.suite_dir, self.fingerprint = suite_dir, fingerprint
        self.path = suite_dir / SAMPLES_FILE

    def shards(self) -> list[Path]:
        return sorted(self.suite_dir.glob("samples.rank*.jsonl"))

    def shard(self, rank: int) -> Path:
        return self.suite_dir / f"samples.rank{rank}.jsonl"

    def load(self) -> dict[str, dict]:
        """Reusable records: those of samples.jsonl and of shards an interrupted launched run left."""
        done = read_records(self.path, self.fingerprint)
        for shard in self.shards():
            done.update(read_records(shard, self.fingerprint))
        return done

    def keep_only(self, items: list[Item], done: dict[str, dict]) -> None:
        """Rewrite samples.jsonl with the reusable records of these items, in item order; shards go."""
        shards = self.shards()
        if self.path.exists() or shards:
            kept = [json.dumps(done[i.id], ensure_ascii=False) for i in items if i.id in done]
            write_text(self.path, "".join(line + "\n" for line in kept))
            for shard in shards:
                shard.unlink()

    def merge_shards(self, done: dict[str, dict]) -> None:
        """Append every rank's records to samples.jsonl (rank 0, after the others finished), then drop the shards."""
        shards = self.shards()
        merged = []
        for shard in shards:
            records = read_records(shard, self.fingerprint)
            done.update(records)
            merged += records.values()
        append_records(self.path, merged)
        for shard in shards:
            shard.unlink()

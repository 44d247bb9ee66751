"""Deterministic task generators, one module per mode.

Every generator yields rows already in TRL's conversational format plus a `meta` dict. Which split an
item belongs to is decided by a hash of its *content key* (the underlying task, not its wording), so
train, validation and test never share an item whatever the seed: the seed only picks which items of
a split are drawn.
"""

from __future__ import annotations

import hashlib
import importlib
import random
from collections.abc import Callable, Iterator

MODES = ("instruct", "chat", "tools", "reasoning")
SPLITS = ("train", "validation", "test")
# Share of the content-key space per split, in percent.
_SPLIT_BUCKETS = {"train": range(0, 80), "validation": range(80, 90), "test": range(90, 100)}


def split_of(key: str) -> str:
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return next(name for name, buckets in _SPLIT_BUCKETS.items() if bucket in buckets)


def draw(
    make: Callable[[random.Random], tuple[str, dict] | None],
    split: str,
    n: int,
    seed: int,
    namespace: str,
    max_tries_per_item: int = 200,
    assign_split: Callable[[str, dict], str] | None = None,
) -> list[dict]:
    """Draw up to `n` distinct rows of `split` from `make(rng) -> (content_key, row)`.

    Candidates whose key hashes to another split (or that `assign_split` puts elsewhere) are thrown away.
    A small item space can run out;
    the caller sees fewer rows than asked and the source logs the count it really got.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    rng = random.Random(f"{namespace}/{seed}/{split}")
    rows, seen = [], set()
    for _ in range(n * max_tries_per_item):
        if len(rows) >= n:
            break
        made = make(rng)
        if made is None:
            continue
        key, row = made
        home = assign_split(key, row) if assign_split else None
        if key in seen or (home or split_of(f"{namespace}/{key}")) != split:
            continue
        seen.add(key)
        row["id"] = f"{namespace}-{split}-{len(rows):06d}"
        row.setdefault("meta", {})["key"] = key
        rows.append(row)
    return rows


def generate(mode: str, split: str, n: int, seed: int = 0, **options) -> list[dict]:
    if mode not in MODES:
        raise ValueError(f"unknown built-in generator {mode!r}; expected one of {MODES}")
    module = importlib.import_module(f"harness.data.builtin.{mode}")
    return module.generate(split, n, seed, **options)


def iter_text(rows: list[dict]) -> Iterator[str]:
    """All text of rows, for training the tiny tokenizer."""
    for row in rows:
        for key in ("messages", "prompt", "completion"):
            for message in row.get(key) or []:
                yield message.get("content") or ""
                for call in message.get("tool_calls") or []:
                    yield call["function"]["name"] + call["function"]["arguments"]
        if row.get("tools"):
            yield row["tools"]

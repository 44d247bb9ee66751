"""Decontamination: which evaluation items a training row contains, by shared word n-grams.

Every suite's items are normalized (lowercased, punctuation stripped, split into words) and their n-grams
hashed into one index; each training row is streamed against it once, so the cost grows with the training
words, not with rows x items. Two published rules (`DecontaminationSettings`): Tulu 3's, where an item is
contaminated when more than half of its words are covered by n-grams (8) it shares with one training row, and
GPT-3's, any shared 13-gram. An item shorter than n words counts as one n-gram of its own length: it is
contaminated when a training row holds it whole. The item's text is its whole prompt (system turn included),
so a long shared system prompt weighs in the share as any other words do. Items of fewer than `MIN_WORDS`
words are too short to tell a copy from a coincidence and are reported as not checked, never as clean.

No maintained library does this rule: lm-eval removed its 13-gram decontamination (PR 1533), open-instruct's
runs on an Elasticsearch server, datasketch's MinHash LSH estimates Jaccard similarity of whole documents
(an item embedded in a long training row has a low Jaccard). Python dicts of hashes are fast enough for the
sizes a run has (benchmarks/README.md: 200,000 rows against 10,000 items).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

WORD = re.compile(r"\w+")
MIN_WORDS = 3


def words(text: str) -> list[str]:
    """Lowercased words without punctuation: the normalization of GPT-3's and Tulu 3's checks."""
    return WORD.findall(text.lower())


@dataclass
class Match:
    source: int  # the training source's index in the recipe
    row: int  # its row number there
    coverage: float  # the share of the item's words covered by shared n-grams


@dataclass
class NgramIndex:
    """Evaluation items by their hashed n-grams; `match` streams one training text against all of them."""

    n: int
    coverage: float  # an item is contaminated when its covered share exceeds this (0: any shared n-gram)
    items: list[tuple[str, str]] = field(default_factory=list)  # (suite, item id)
    lengths: list[int] = field(default_factory=list)  # words per item
    grams: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))  # hash -> (item, start)
    short_lengths: set[int] = field(default_factory=set)  # lengths (< n) of items indexed whole
    too_short: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # suite -> item ids

    def add(self, suite: str, item_id: str, text: str) -> None:
        tokens = words(text)
        if len(tokens) < MIN_WORDS:
            self.too_short[suite].append(item_id)
            return
        number = len(self.items)
        self.items.append((suite, item_id))
        self.lengths.append(len(tokens))
        size = min(self.n, len(tokens))
        if size < self.n:
            self.short_lengths.add(size)
        for start in range(len(tokens) - size + 1):
            self.grams[hash(tuple(tokens[start : start + size]))].append((number, start))

    def grams_in(self, text: str) -> set[int]:
        """The indexed n-grams (hashes) a training text holds."""
        tokens = words(text)
        found = set()
        for size in {self.n, *self.short_lengths}:
            for begin in range(len(tokens) - size + 1):
                gram = hash(tuple(tokens[begin : begin + size]))
                if gram in self.grams:
                    found.add(gram)
        return found

    def contaminated(self, grams: set[int], boilerplate: set[int] = frozenset()) -> dict[int, float]:
        """Item number -> covered share, for the items a training row with these n-grams contaminates.
        Boilerplate n-grams (in many training rows: a template's words) identify no item and do not count,
        except in a row that holds the item whole: a test item copied into many rows is still a copy."""
        starts: dict[int, set[int]] = defaultdict(set)
        for gram in grams:
            for number, start in self.grams[gram]:
                starts[number].add(start if gram not in boilerplate else -1 - start)
        found = {}
        for number, hits in starts.items():
            length = self.lengths[number]
            size = min(self.n, length)
            whole = len(hits) == length - size + 1  # every n-gram of the item is in this row
            counted = [start if start >= 0 else -1 - start for start in hits if whole or start >= 0]
            covered = len({position for start in counted for position in range(start, start + size)})
            if covered / length > self.coverage:
                found[number] = round(covered / length, 3)
        return found


def contaminating_rows(index: NgramIndex, texts, boilerplate_rows: int) -> dict[int, dict[int, float]]:
    """Row position -> {item number: covered share} over the training texts of one source. Two passes: the
    first counts the rows each indexed n-gram occurs in, so that n-grams in more than `boilerplate_rows`
    rows (prompt templates shared by a task's rows) are not taken as evidence of any one item."""
    grams_per_row = [index.grams_in(text) for text in texts]
    rows_with = Counter(gram for grams in grams_per_row for gram in grams)
    boilerplate = {gram for gram, count in rows_with.items() if count > boilerplate_rows}
    found = {}
    for position, grams in enumerate(grams_per_row):
        if grams:
            items = index.contaminated(grams, boilerplate)
            if items:
                found[position] = items
    return found

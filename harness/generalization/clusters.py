"""Task clusters: which cluster a training row or an evaluation item belongs to.

A source or suite names its cluster (`cluster: nli`), or each row's task or cluster comes from a column
(`cluster_column:`), mapped by the recipe's `clusters:` over the shipped mappings of task names
(`data/flan2021_clusters.json`: FLAN 2021's 62 datasets in its 12 clusters; `data/lm_eval_clusters.json`:
common lm-evaluation-harness tasks). Built-in rows and items carry their cluster in `meta.cluster`.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from pathlib import Path

DATA = Path(__file__).with_name("data")
# Clusters of the built-in generators and suites beyond the shipped mappings' (their rows say which).
BUILTIN_CLUSTERS = {
    "dialogue": "multi-turn conversation (built-in chat)",
    "tool_use": "calling tools from JSON schemas (built-in tools, BFCL)",
    "math": "arithmetic and math word problems (built-in reasoning, GSM8K)",
    "classification": "built-in instruct: sentiment, topic, intent",
    "extraction": "built-in instruct: extractive QA",
    "counting": "built-in instruct: counting words",
    "transformation": "built-in instruct: upper case, reversed words",
    "sorting": "built-in instruct: sorting numbers",
    "translation": "translating words or sentences",
}
# What hub mixtures add to FLAN's task names: "anli_r1_10templates", "anli/r1:0.1.0", "rte_template_0to10_zero_shot",
# "cb_type_3" (data/README.md).
VARIANT = re.compile(r"(:\d+(\.\d+)*$|_\d+templates.*$|_template_.*$|_type_.*$|_(one|two|three|five|ten|multi)_shot$)")


@functools.cache
def shipped() -> dict:
    """The shipped mappings: tasks (name -> cluster), aliases (name -> task), prefixes, clusters (-> description)."""
    tasks, aliases, prefixes, clusters = {}, {}, {}, dict(BUILTIN_CLUSTERS)
    for name in ("flan2021_clusters.json", "lm_eval_clusters.json"):
        data = json.loads((DATA / name).read_text())
        tasks.update({task.lower(): cluster for task, cluster in data["tasks"].items()})
        aliases.update({alias.lower(): task.lower() for alias, task in data.get("aliases", {}).items()})
        prefixes.update(data.get("prefixes", {}))
        clusters.update(data.get("clusters", {}))
    return {"tasks": tasks, "aliases": aliases, "prefixes": prefixes, "clusters": clusters}


def known_clusters() -> set[str]:
    return set(shipped()["clusters"])


def task_cluster(value: str | None, overrides: dict[str, str]) -> str | None:
    """The cluster of a task name (FLAN's, a hub mixture's spelling of it, lm-eval's) or of a value that
    already is a cluster name; None if none is known. The recipe's `overrides` win."""
    if value is None:
        return None
    name = value.strip().lower()
    overrides = {key.strip().lower(): cluster for key, cluster in overrides.items()}
    if name in overrides:
        return overrides[name]
    maps = shipped()
    if name in maps["clusters"]:
        return name
    for candidate in (name, VARIANT.sub("", name)):
        task = maps["aliases"].get(candidate, candidate)
        if task in maps["tasks"]:
            return maps["tasks"][task]
    prefixes = [prefix for prefix in maps["prefixes"] if name.startswith(prefix)]
    return maps["prefixes"][max(prefixes, key=len)] if prefixes else None


def row_cluster(settings, tags: dict | None) -> tuple[str | None, str | None]:
    """(cluster, the task value that named it) of a training row or an evaluation item.

    `settings` is a source's or a suite's (cluster, cluster_column, clusters); `tags` the row's provenance:
    `meta.cluster` of built-in rows, `cluster_value` read from `cluster_column`, `task`."""
    if settings.cluster:
        return settings.cluster, None
    tags = tags or {}
    meta = tags.get("meta") if isinstance(tags.get("meta"), dict) else {}
    value = tags.get("cluster_value")
    if value is None:
        value = meta.get("task", tags.get("task"))
        if value is not None and str(value) in settings.clusters:
            return settings.clusters[str(value)], str(value)
        if meta.get("cluster"):
            return meta["cluster"], None
    value = None if value is None else str(value)
    return task_cluster(value, settings.clusters), value


def did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, sorted(options), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""

"""Zero-shot generalization checks, beside evaluation: task clusters of training rows and evaluation items,
held-out clusters kept out of training, and decontamination of every suite against every training row.

`ZeroShotCheck` is made from a recipe. `run` and `validate` call it; the data layer only gives it each
source's valid rows (`build_mixture(select=...)`), and evaluation does not know it exists. What it finds is
written to the run folder's `data/generalization.json` and shown by `harness validate`, `harness
contamination` and the report.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict

from harness.generalization.clusters import did_you_mean, known_clusters, row_cluster, task_cluster
from harness.generalization.contamination import NgramIndex, contaminating_rows
from harness.recipe import Recipe, SourceSettings, SuiteSettings

log = logging.getLogger(__name__)


class GeneralizationError(ValueError):
    """A recipe whose zero-shot checks cannot hold (a source wholly of a held-out cluster), or contamination
    under `decontamination.action: fail`."""


def item_text(messages: list[dict]) -> str:
    """What of an evaluation item must not be in the training data: its prompt, every turn of it, as Tulu 3
    checks it (not the reference: a long worked answer would outweigh the question)."""
    return "\n".join(str(m.get("content") or "") for m in messages)


def row_text(row: dict) -> str:
    """All the text of a canonical training row: every turn, tool calls included."""
    turns = row.get("messages") or (row.get("prompt") or []) + (row.get("completion") or [])
    parts = []
    for message in turns or []:
        parts.append(str(message.get("content") or ""))
        if message.get("tool_calls"):
            parts.append(json.dumps(message["tool_calls"], ensure_ascii=False))
    return "\n".join(parts)


def suite_name(settings: SuiteSettings) -> str:
    return settings.name or settings.suite


def lm_eval_task_clusters(settings: SuiteSettings) -> dict[str, str | None]:
    """Task -> cluster of an lm_eval suite, by its `cluster`, its `clusters` or the shipped mapping."""
    return {
        task: settings.cluster or task_cluster(task, settings.clusters) for task in settings.options.get("tasks") or []
    }


class ZeroShotCheck:
    """The held-out clusters and the decontamination of one recipe. Called as `build_mixture`'s `select`
    for each source, it drops the rows of held-out clusters (and, under `drop_train`, the rows that contain
    an evaluation item) and records clusters and matches; `result()` is the whole account."""

    def __init__(self, recipe: Recipe, items: dict | None = None):
        self.recipe = recipe
        self.held_out = list(recipe.generalization.held_out)
        settings = recipe.decontamination
        self.decontaminate = settings.enabled
        self.items = items if items is not None else evaluation_items(recipe)
        self.index = NgramIndex(settings.n, settings.coverage)
        for name, entries in self.items.items() if settings.enabled else ():
            for item_id, text, _ in entries["items"]:
                self.index.add(name, item_id, text)
        self.matches: dict[int, list[dict]] = defaultdict(list)  # item number -> training rows containing it
        self.sources: dict[str, dict] = {}
        self.rows_checked = 0

    # --- the recipe, before any row is read -----------------------------------------------------------

    def problems(self) -> list[str]:
        """What makes the recipe's zero-shot figures meaningless: it fails `validate` and `train`."""
        known = known_clusters() | self.named_clusters()
        problems = [
            f"generalization.held_out: unknown cluster {name!r}{did_you_mean(name, known)}"
            for name in self.held_out
            if name not in known
        ]
        for index, source in enumerate(self.recipe.data.sources):
            if source.cluster in self.held_out:
                problems.append(
                    f"data.sources.{index} ({source.label}): all its rows are of the held-out cluster "
                    f"{source.cluster!r}; remove the source or the cluster from generalization.held_out"
                )
        return problems

    def warnings(self) -> list[str]:
        """What the user should know; the run goes on."""
        measured = set()
        notes = []
        for settings in self.recipe.eval.suites:
            clusters = self.suite_clusters(settings)
            measured |= set(clusters)
            if not clusters or None in clusters:
                notes.append(
                    f"suite {suite_name(settings)}: no cluster for {'some of ' if set(clusters) - {None} else ''}its "
                    "items; give it `cluster:` (or `clusters:` per task) to see it as seen or held-out"
                )
        for name in self.held_out:
            if name not in measured:
                notes.append(f"held-out cluster {name!r}: no suite measures it, so nothing shows the zero-shot effect")
        if self.held_out:
            for source in self.recipe.data.sources:
                if not (source.cluster or source.cluster_column or source.builtin):
                    notes.append(
                        f"{source.label}: no cluster (`cluster:` or `cluster_column:`), so its rows cannot be kept "
                        "out of held-out clusters"
                    )
        for name, entries in self.items.items():
            if not entries["checked"] and self.decontaminate:
                notes.append(f"suite {name}: not checked for contamination: {entries['reason']}")
        return notes

    def named_clusters(self) -> set[str]:
        named = set()
        for settings in [*self.recipe.data.sources, *self.recipe.eval.suites]:
            named |= {settings.cluster} if settings.cluster else set()
            named |= set(settings.clusters.values())
        return named

    def suite_clusters(self, settings: SuiteSettings) -> Counter:
        """Cluster -> items of the suite (None: items of no cluster)."""
        entries = self.items.get(suite_name(settings))
        if entries and entries["items"]:
            return Counter(cluster for _, _, cluster in entries["items"])
        if settings.suite == "lm_eval":
            return Counter(lm_eval_task_clusters(settings).values())
        return Counter([settings.cluster]) if settings.cluster else Counter()

    def status(self, cluster: str | None) -> str:
        """held-out (kept out of training), seen (in the training rows), or not trained (in neither)."""
        if cluster in self.held_out:
            return "held-out"
        trained = {c for account in self.sources.values() for c in account["clusters"]}
        return "seen" if cluster in trained else "not trained"

    # --- each source's rows -------------------------------------------------------------------------

    def __call__(self, index: int, source: SourceSettings, dataset):
        """build_mixture's `select`: the rows kept, and the dropped ones per reason."""
        from harness.data.sources import ROW, TAGS

        columns = [c for c in ("messages", "prompt", "completion") if c in dataset.column_names]
        clusters, unmapped, dropped = Counter(), Counter(), defaultdict(list)
        keep = []
        rows = dataset[ROW]
        for position, tags in enumerate(dataset[TAGS]):
            cluster, value = row_cluster(source, tags)
            clusters[cluster] += 1
            if cluster is None and value is not None:
                unmapped[value] += 1
            if cluster is not None and cluster in self.held_out:
                dropped[f"held-out cluster {cluster!r}"].append(rows[position])
            else:
                keep.append(position)
        if self.decontaminate and keep:
            kept = dataset.select(keep) if len(keep) < len(dataset) else dataset
            texts = (row_text(row) for row in kept.select_columns(columns).to_list())
            settings = self.recipe.decontamination
            found = contaminating_rows(self.index, texts, settings.boilerplate_rows)
            self.rows_checked += len(keep)
            for position, items in found.items():
                for number, coverage in items.items():
                    self.matches[number].append(
                        {"source": source.label, "row": rows[keep[position]], "coverage": coverage}
                    )
            if found and settings.action == "drop_train":
                reason = "contains an evaluation item (decontamination: drop_train)"
                dropped[reason] = sorted(rows[keep[position]] for position in found)
                keep = [p for position, p in enumerate(keep) if position not in found]
        if unmapped:
            log.warning(
                "%s: %d row(s) of tasks that map to no cluster (add them to `clusters:`): %s",
                source.label,
                sum(unmapped.values()),
                dict(unmapped.most_common(10)),
            )
        label = source.label if source.label not in self.sources else f"{source.label} (source {index})"
        self.sources[label] = {
            "clusters": {str(k): v for k, v in clusters.most_common() if k is not None},
            "rows_without_cluster": clusters[None],
            "unmapped_tasks": dict(unmapped.most_common()),
            "dropped": {reason: len(rows) for reason, rows in dropped.items()},
        }
        kept = dataset.select(keep) if len(keep) < len(dataset) else dataset
        return kept, dict(dropped)

    # --- the account ----------------------------------------------------------------------------------

    def contamination(self) -> dict:
        """Per suite: items checked, the contaminated ids (`contaminated`), and the training rows of each."""
        settings = self.recipe.decontamination
        suites = {}
        by_suite = defaultdict(dict)
        for number, found in sorted(self.matches.items()):
            suite, item_id = self.index.items[number]
            by_suite[suite][item_id] = found[:5]
        for name, entries in self.items.items():
            if not entries["checked"]:
                suites[name] = {"checked": False, "reason": entries["reason"]}
                continue
            short = self.index.too_short.get(name, [])
            suites[name] = {
                "checked": True,
                "items": len(entries["items"]),
                "items_too_short": len(short),
                "contaminated": list(by_suite[name]),
                "matches": by_suite[name],
                # drop_train: the rows that held them are gone, so the trained model never saw these items
                "removed_from_training": settings.action == "drop_train",
            }
        return {
            "rule": settings.rule,
            "ngram": settings.n,
            "threshold": settings.coverage,
            "action": settings.action,
            "training_rows_checked": self.rows_checked,
            "suites": suites,
        }

    def result(self) -> dict:
        suites = {}
        for settings in self.recipe.eval.suites:
            clusters = self.suite_clusters(settings)
            suites[suite_name(settings)] = {
                "clusters": {str(c): {"items": n, "status": self.status(c)} for c, n in clusters.items() if c},
                "items_without_cluster": clusters.get(None, 0),
            }
            if settings.suite == "lm_eval":
                suites[suite_name(settings)]["task_clusters"] = lm_eval_task_clusters(settings)
        return {
            "held_out": self.held_out,
            "sources": self.sources,
            "suites": suites,
            "item_clusters": {
                name: {item_id: cluster for item_id, _, cluster in entries["items"]}
                for name, entries in self.items.items()
                if entries["items"]
            },
            "contamination": self.contamination() if self.decontaminate else None,
        }

    def check_contamination(self, contamination: dict) -> None:
        """Under `action: fail`, stop (before training) when any item of `contamination()` is contaminated."""
        if contamination is None or self.recipe.decontamination.action != "fail":
            return
        if any(suite.get("contaminated") for suite in contamination["suites"].values()):
            raise GeneralizationError(
                "training rows contain evaluation items (decontamination.action: fail):\n"
                + contamination_table(contamination)
            )


def evaluation_items(recipe: Recipe) -> dict[str, dict]:
    """Suite name -> {checked, reason, items: [(id, text, cluster)]}."""
    from harness.evaluate.suites import SuiteError, build_suite, suite_kind

    found = {}
    for settings in recipe.eval.suites:
        name = suite_name(settings)
        try:
            if suite_kind(settings.suite).build is None:
                entries = _lm_eval_items(settings)
            else:
                suite = build_suite(settings, recipe.seed)
                entries = [(item.id, item_text(_all_turns(item)), item.meta) for item in suite.items]
        except (SuiteError, LmEvalDocsUnavailable) as error:
            found[name] = {"checked": False, "reason": str(error), "items": []}
            continue
        items = [(item_id, text, row_cluster(settings, {"meta": meta, **meta})[0]) for item_id, text, meta in entries]
        found[name] = {"checked": True, "reason": None, "items": items}
    return found


def _all_turns(item) -> list[dict]:
    """An item's messages, and the later user turns of a conversation it is played in."""
    later = [message for turn in item.episode.turns for message in turn] if item.episode else []
    return [*item.messages, *later]


class LmEvalDocsUnavailable(RuntimeError):
    pass


def _lm_eval_items(settings: SuiteSettings) -> list[tuple[str, str, dict]]:
    """An lm_eval suite's documents as (task/doc id, prompt, {task}), where lm-eval can read them
    (offline: local tasks and datasets already in the cache)."""
    from pathlib import Path

    from harness.evaluate.suites.lm_eval import load_tasks

    try:
        data_file = Path(settings.path) if settings.path else None
        configs, manager = load_tasks(
            settings.options.get("tasks") or [], settings.options.get("include_path"), data_file
        )
        tasks = manager.load(configs)["tasks"]
    except Exception as error:  # lm-eval raises many kinds when a dataset cannot be had offline
        message = f"lm-eval could not load its documents ({type(error).__name__}: {error})"
        raise LmEvalDocsUnavailable(message[:300]) from None
    entries = []
    for task_name, task in tasks.items():
        try:
            docs = task.test_docs() if task.has_test_docs() else task.validation_docs()
            for number, doc in enumerate(docs):
                if settings.samples and number >= settings.samples:
                    break
                entries.append((f"{task_name}/{number}", str(task.doc_to_text(doc)), {"task": task_name}))
        except Exception as error:
            raise LmEvalDocsUnavailable(f"task {task_name}: {type(error).__name__}: {error}"[:300]) from None
    return entries


def contamination_table(contamination: dict) -> str:
    """The table `validate`, `contamination` and a failing run print."""
    lines = [
        f"contamination ({contamination['rule']}: {contamination['ngram']}-grams"
        + (f", > {contamination['threshold']:.0%} of an item's words" if contamination["threshold"] else "")
        + f"; {contamination['training_rows_checked']} training rows checked):"
    ]
    for name, suite in contamination["suites"].items():
        if not suite["checked"]:
            lines.append(f"  {name}: not checked ({suite['reason']})")
            continue
        ids = suite["contaminated"]
        short = f", {suite['items_too_short']} too short to check" if suite["items_too_short"] else ""
        shown = ""
        if ids:
            first = suite["matches"][ids[0]][0]
            shown = (
                f": {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''} (e.g. {first['source']} row {first['row']})"
            )
        lines.append(f"  {name}: {len(ids)} of {suite['items']} items contaminated{short}{shown}")
    return "\n".join(lines)


def account(recipe: Recipe) -> ZeroShotCheck:
    """Every source read whole (no tokenizer, malformed rows skipped) through the check: what `harness
    validate` and `harness contamination` show, as training would find it."""
    from harness.data.sources import check_source

    check = ZeroShotCheck(recipe)
    for index, source in enumerate(recipe.data.sources):
        check_source(source, recipe, index, on_error="skip", select=check)
    return check

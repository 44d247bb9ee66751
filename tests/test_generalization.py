"""Zero-shot checks on any data: clusters of sources and suites, held-out clusters, decontamination, the
`file` suite with each scorer."""

import json

import pytest
import yaml
from click.testing import CliRunner
from conftest import FAST_TRAIN, GSM8K, REPO

from harness.cli import main
from harness.files import read_json

# The user's own test file: a task column with FLAN's task names, a reference column.
TEST_ITEMS = [
    {
        "id": "rte-1",
        "prompt": "Premise: the violinist who lives above the bakery practised scales until midnight on Tuesday. "
        "Hypothesis: someone practised music late. Does the premise entail the hypothesis?",
        "reference": "yes",
        "task": "rte",
    },
    {
        "id": "rte-2",
        "prompt": "Premise: every lighthouse keeper on the northern coast reported calm water for three weeks. "
        "Hypothesis: the sea was stormy in the north. Does the premise entail the hypothesis?",
        "reference": "no",
        "task": "rte",
    },
    {
        "id": "sst2-1",
        "prompt": "Review: the orchestra's second movement drifted like fog over an empty harbour, slow and "
        "lovely. Is this review positive or negative?",
        "reference": "positive",
        "task": "sst2",
    },
    {
        "id": "boolq-1",
        "prompt": "Passage: the copper kettle in the museum was forged by a blacksmith from the valley in 1820. "
        "Question: was the kettle made of copper?",
        "reference": "yes",
        "task": "boolq",
    },
]


def training_rows(count: int, task: str, offset: int = 0) -> list[dict]:
    """Rows of one task, written so that no evaluation item's words are in them."""
    return [
        {
            "inputs": f"Example {offset + i} of {task}: counting parcels number {i} at depot {i % 7} "
            f"brings the total to {i * 3} boxes by evening shift {i % 5}.",
            "targets": f"answer {i}",
            "task": f"{task}_10templates",
        }
        for i in range(count)
    ]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def world(tmp_path):
    """A mixture of three file sources (one tagged whole, one by a FLAN task-name column, one untagged) and a
    `file` test suite; `plant=True` hides two test items in the training rows (one verbatim, one embedded)."""

    def make(plant: bool = False, **recipe_fields):
        mixed = training_rows(30, "anli_r1") + training_rows(20, "sst2", 100) + training_rows(5, "mystery", 200)
        tagged = [
            {"prompt": f"Summarise memo {i}: the quarterly shipping report.", "completion": "ok"} for i in range(20)
        ]
        if plant:
            mixed[7] = {"inputs": TEST_ITEMS[0]["prompt"], "targets": "yes", "task": "anli_r1_10templates"}
            tagged[3]["prompt"] = f"Read this carefully. {TEST_ITEMS[3]['prompt']} Answer briefly. Thanks."
        test = write_jsonl(tmp_path / "test.jsonl", TEST_ITEMS)
        recipe = {
            "name": "zero-shot",
            "mode": "instruct",
            "data": {
                "sources": [
                    {"path": str(write_jsonl(tmp_path / "mixed.jsonl", mixed)), "cluster_column": "task"},
                    {"path": str(write_jsonl(tmp_path / "tagged.jsonl", tagged)), "cluster": "summarization"},
                ]
            },
            "train": {**FAST_TRAIN, "max_steps": 2},
            "eval": {
                "suites": [
                    {
                        "suite": "file",
                        "name": "mine",
                        "path": str(test),
                        "cluster_column": "task",
                        "options": {"scorer": "normalized_exact", "task_column": "task"},
                    }
                ]
            },
            **recipe_fields,
        }
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        return path

    return make


def account(path):
    from harness.generalization import account as zero_shot_account
    from harness.recipe import load_recipe

    return zero_shot_account(load_recipe(path)).result()


def test_sources_and_suites_get_their_clusters_and_unmapped_tasks_are_counted(world):
    result = account(world())
    mixed, tagged = result["sources"].values()
    assert mixed["clusters"] == {"nli": 30, "sentiment": 20}
    assert mixed["rows_without_cluster"] == 5 and mixed["unmapped_tasks"] == {"mystery_10templates": 5}
    assert tagged["clusters"] == {"summarization": 20}
    suite = result["suites"]["mine"]["clusters"]
    assert suite == {
        "nli": {"items": 2, "status": "seen"},
        "sentiment": {"items": 1, "status": "seen"},
        "reading_comprehension": {"items": 1, "status": "not trained"},
    }


def test_a_held_out_cluster_drops_its_rows_and_its_suite_items_are_zero_shot(world):
    result = account(world(generalization={"held_out": ["sentiment"]}))
    mixed = next(iter(result["sources"].values()))
    assert mixed["dropped"] == {"held-out cluster 'sentiment'": 20}
    assert result["suites"]["mine"]["clusters"]["sentiment"]["status"] == "held-out"


def test_planted_copies_are_found_and_clean_data_has_none(world):
    clean = account(world())["contamination"]
    assert clean["suites"]["mine"]["contaminated"] == [] and clean["training_rows_checked"] == 75
    found = account(world(plant=True))["contamination"]["suites"]["mine"]
    assert found["contaminated"] == ["rte-1", "boolq-1"]
    assert found["matches"]["rte-1"][0]["row"] == 7 and found["matches"]["rte-1"][0]["coverage"] == 1.0
    assert (
        found["matches"]["boolq-1"][0]["source"].endswith("tagged.jsonl") and found["matches"]["boolq-1"][0]["row"] == 3
    )


def test_the_gpt3_rule_flags_any_shared_13_gram(world, tmp_path):
    path = world(decontamination={"rule": "gpt3"})
    rows = [json.loads(line) for line in (tmp_path / "mixed.jsonl").read_text().splitlines()]
    words = TEST_ITEMS[2]["prompt"].split()
    rows[0]["inputs"] = "Unrelated start. " + " ".join(words[3:16]) + " unrelated end."  # 13 words of 23
    write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert account(path)["contamination"]["suites"]["mine"]["contaminated"] == ["sst2-1"]
    tulu = world(decontamination={"rule": "tulu", "threshold": 0.6})
    write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert account(tulu)["contamination"]["suites"]["mine"]["contaminated"] == []  # 13 of the item's 23 words


def test_drop_train_removes_exactly_the_planted_rows(world, tmp_path):
    from harness.data.sources import build_mixture
    from harness.generalization import ZeroShotCheck
    from harness.recipe import load_recipe

    recipe = load_recipe(world(plant=True, decontamination={"action": "drop_train"}))
    check = ZeroShotCheck(recipe)
    mixture, reports = build_mixture(recipe, recipe.data.sources, select=check)
    reason = "contains an evaluation item (decontamination: drop_train)"
    assert reports[0].dropped_rows == {reason: [7]} and reports[1].dropped_rows == {reason: [3]}
    assert len(mixture) == 75 - 2
    assert 7 not in [row for source, row in zip(mixture["_source"], mixture["_row"], strict=True) if source == 0]


def test_fail_stops_before_training_with_the_table(world, tmp_path):
    path = world(plant=True, decontamination={"action": "fail"})
    result = CliRunner().invoke(main, ["train", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "contain evaluation items" in result.output and "mine: 2 of 4 items contaminated" in result.output
    assert not (tmp_path / "run" / "model").exists() and not list((tmp_path / "run").glob("train/checkpoint-*"))


def test_contamination_command_writes_the_ids_per_suite(world, tmp_path):
    output = tmp_path / "contamination.json"
    result = CliRunner().invoke(main, ["contamination", str(world(plant=True)), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "mine: 2 of 4 items contaminated" in result.output
    assert read_json(output)["suites"]["mine"]["contaminated"] == ["rte-1", "boolq-1"]


def test_validate_refuses_a_source_wholly_held_out_and_an_unknown_cluster(world):
    result = CliRunner().invoke(main, ["validate", str(world(generalization={"held_out": ["summarization"]}))])
    assert (
        result.exit_code == 1
        and "data.sources.1" in result.output
        and "held-out cluster 'summarization'" in result.output
    )
    result = CliRunner().invoke(main, ["validate", str(world(generalization={"held_out": ["sentimnet"]}))])
    assert result.exit_code == 1 and "unknown cluster 'sentimnet' (did you mean 'sentiment'?)" in result.output


def test_validate_notes_what_cannot_be_checked_and_goes_on(world):
    path = world(
        generalization={"held_out": ["translation"]},
        eval={"suites": [{"suite": "lm_eval", "options": {"tasks": ["rte"]}}]},
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "held-out cluster 'translation': no suite measures it" in result.output
    assert "lm_eval: not checked" in result.output and "Offline" not in result.output.split("valid")[-1]


def test_lm_eval_tasks_are_tagged_by_the_shipped_mapping_and_overrides():
    from harness.generalization import ZeroShotCheck
    from harness.recipe import parse_recipe

    tasks = ["rte", "boolq", "gsm8k", "mmlu_abstract_algebra", "hellaswag", "arc_easy", "gsm8k_local"]
    recipe = parse_recipe(
        {
            "name": "t",
            "mode": "instruct",
            "data": {"sources": [{"builtin": "instruct", "samples": 10}]},
            "eval": {
                "suites": [{"suite": "lm_eval", "options": {"tasks": tasks}, "clusters": {"gsm8k_local": "math"}}]
            },
        }
    )
    clusters = ZeroShotCheck(recipe, items={}).suite_clusters(recipe.eval.suites[0])
    assert set(clusters) == {"nli", "reading_comprehension", "math", "knowledge", "commonsense", "closed_book_qa"}
    assert clusters["math"] == 2


def test_an_lm_eval_task_read_offline_is_checked_for_contamination(tmp_path):
    from harness.generalization import account as zero_shot_account
    from harness.recipe import parse_recipe

    question = json.loads(GSM8K.read_text().splitlines()[2])["question"]
    rows = [{"prompt": f"Solve: {question}", "completion": "42"}, {"prompt": "Say hello.", "completion": "hello"}]
    recipe = parse_recipe(
        {
            "name": "t",
            "mode": "instruct",
            "data": {"sources": [{"path": str(write_jsonl(tmp_path / "train.jsonl", rows)), "cluster": "math"}]},
            "eval": {
                "suites": [
                    {
                        "suite": "lm_eval",
                        "name": "gsm8k-lm-eval",
                        "path": str(GSM8K),
                        "samples": 5,
                        "clusters": {"gsm8k_local": "math"},
                        "options": {"tasks": ["gsm8k_local"], "include_path": str(REPO / "evals")},
                    }
                ]
            },
        }
    )
    result = zero_shot_account(recipe).result()
    assert result["contamination"]["suites"]["gsm8k-lm-eval"]["contaminated"] == ["gsm8k_local/2"]
    assert result["suites"]["gsm8k-lm-eval"]["clusters"] == {"math": {"items": 5, "status": "seen"}}


SCORED = {  # scorer -> (reference, a right prediction, a wrong one)
    "exact": ("Paris", " Paris ", "paris"),
    "normalized_exact": ("The Paris.", "paris", "Rome"),
    "contains": ("Paris", "It is Paris, I think.", "It is Parisian."),
    "chrf": ("the cat sat on the mat", "the cat sat on the mat", "a dog ran"),
    "rouge_l": ("the cat sat on the mat", "The cat sat on the mat.", "a dog ran"),
    "math_verify": ("#### 18", "The answer is \\boxed{18}", "The answer is \\boxed{19}"),
    "tool_call": (
        json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo"}}]),
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>',
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>',
    ),
}


@pytest.mark.parametrize("scorer", sorted(SCORED))
def test_the_file_suite_scores_with_each_scorer(scorer, tmp_path):
    from harness.evaluate.suites import build_suite
    from harness.recipe import SuiteSettings

    reference, right, wrong = SCORED[scorer]
    row = {"id": "q1", "prompt": "Where?", "reference": reference}
    if scorer == "tool_call":
        parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        row["tools"] = [{"type": "function", "function": {"name": "get_weather", "parameters": parameters}}]
    path = write_jsonl(tmp_path / "test.jsonl", [row])
    suite = build_suite(SuiteSettings(suite="file", path=str(path), options={"scorer": scorer}))
    assert suite.score(right, suite.items[0]).correct
    verdict = suite.score(wrong, suite.items[0])
    assert not verdict.correct and verdict.score < 1


def test_the_file_suite_reads_training_layouts_and_counts_bad_rows(tmp_path, trained):
    from harness.evaluate.runner import evaluate
    from harness.recipe import EvalSettings, SuiteSettings

    rows = [
        {"instruction": "Say yes.", "input": "", "output": "yes", "task": "a"},
        {"messages": [{"role": "user", "content": "Say no."}, {"role": "assistant", "content": "no"}], "task": "b"},
        {"prompt": [{"role": "user", "content": "Say maybe."}], "reference": "maybe", "task": "b"},
        {"prompt": "No reference here."},
        "not an object",
    ]
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    suite = SuiteSettings(suite="file", path=str(path), options={"scorer": "contains", "task_column": "task"})
    settings = EvalSettings(backend="transformers", suites=[suite])
    summary = evaluate(str(trained["instruct"]), settings, tmp_path / "eval")["file"]
    assert summary["n_items"] == 3 and set(summary["metrics"]["by_task"]) == {"a", "b"}
    assert summary["skipped_rows"] == {
        "no `reference` column and no answer turn to take the reference from": {"count": 1, "rows": [3]},
        "row is a str, not an object": {"count": 1, "rows": [4]},
    }


def test_a_test_item_copied_into_many_rows_is_still_found():
    """Template n-grams in many rows identify no item, but a row holding the whole item is a copy however many
    rows repeat it (a repeated copy must not hide itself)."""
    from harness.generalization.contamination import NgramIndex, contaminating_rows

    index = NgramIndex(8, 0.5)
    index.add("suite", "copied", TEST_ITEMS[0]["prompt"])
    index.add("suite", "templated", "How many words are in this sentence? milk house sun")
    rows = [f"How many words are in this sentence? milk door car {i}" for i in range(30)]
    rows += [f"Note {i}: {TEST_ITEMS[0]['prompt']}" for i in range(12)]
    found = contaminating_rows(index, rows, boilerplate_rows=10)
    assert {number for items in found.values() for number in items} == {0}
    assert sorted(found) == list(range(30, 42))


def test_a_cluster_column_that_is_not_there_is_named(world, tmp_path):
    path = world()
    recipe = yaml.safe_load(path.read_text())
    recipe["data"]["sources"][0]["cluster_column"] = "task_name"
    path.write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(main, ["contamination", str(path)])
    assert result.exit_code == 1 and "cluster_column: 'task_name' not found; the rows have" in result.output


def test_recipe_fields_of_the_zero_shot_checks_are_checked(world):
    from harness.recipe import RecipeError, load_recipe

    with pytest.raises(RecipeError, match="threshold belongs to rule tulu"):
        load_recipe(world(decontamination={"rule": "gpt3", "threshold": 0.3}))
    with pytest.raises(RecipeError, match="generalization.held_out.0: String should match pattern"):
        load_recipe(world(generalization={"held_out": ["a/b"]}))


def test_the_file_suite_takes_the_answer_turn_as_the_reference(tmp_path):
    from harness.evaluate.suites import build_suite
    from harness.recipe import SuiteSettings

    call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    sharegpt = [
        {
            "conversations": [
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello"},
                {"from": "human", "value": "Name?"},
            ],
            "reference": "Ann",
        }
    ]
    suite = build_suite(
        SuiteSettings(suite="file", path=str(write_jsonl(tmp_path / "s.jsonl", sharegpt)), options={"scorer": "exact"})
    )
    assert [m["content"] for m in suite.items[0].messages] == ["Hi", "Hello", "Name?"] and suite.items[
        0
    ].reference == "Ann"
    completion = [
        {"prompt": [{"role": "user", "content": "2+2?"}], "completion": [{"role": "assistant", "content": "4"}]}
    ]
    suite = build_suite(
        SuiteSettings(
            suite="file", path=str(write_jsonl(tmp_path / "c.jsonl", completion)), options={"scorer": "exact"}
        )
    )
    assert suite.items[0].reference == "4"
    tool_rows = [
        {
            "messages": [{"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "tool_calls": [call]}],
            "tools": tools,
        }
    ]
    path = write_jsonl(tmp_path / "tools.jsonl", tool_rows)
    suite = build_suite(SuiteSettings(suite="file", path=str(path), options={"scorer": "tool_call"}))
    assert suite.items[0].reference == [{"get_weather": {"city": ["Oslo"]}}]

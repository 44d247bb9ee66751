"""`harness serve` as its clients use it: the official openai SDK, raw HTTP, lm-evaluation-harness; time-bounded."""

import http.client
import json
import threading
import time
from urllib.parse import urlparse

import pytest
from conftest import REPO, serving
from hypothesis import given
from hypothesis import strategies as st

from harness.evaluate.backends import Request
from harness.evaluate.backends.transformers import TransformersBackend
from harness.evaluate.runner import render_prompt
from harness.evaluate.suites import build_suite
from harness.recipe import GenerationSettings, SuiteSettings

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def tool_model(tmp_path_factory):
    """The embedded base after 60 steps on the tools data (20 s): it writes <tool_call> blocks of valid JSON."""
    from conftest import short_recipe

    from harness.train import train

    recipe = short_recipe(
        "tools",
        model={"name": "embedded"},
        train={"max_steps": 60, "per_device_train_batch_size": 8, "learning_rate": 1.5e-3, "max_length": 768},
    )
    return str(train(recipe, tmp_path_factory.mktemp("served") / "tools"))


@pytest.fixture(scope="module")
def backend(tool_model):
    return TransformersBackend(tool_model, batch_size=8)


@pytest.fixture(scope="module")
def url(backend):
    with serving(backend.model, backend.tokenizer) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=60)


def items(suite, samples):
    return build_suite(SuiteSettings(suite=suite, samples=samples)).items


def post(url: str, path: str, body: bytes, method: str = "POST", timeout: float = 30) -> tuple[int, dict]:
    """A raw request, so bodies no SDK would send can be sent; the answer must come within `timeout`."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    connection.request(method, parts.path + path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    status, data = response.status, response.read()
    connection.close()
    return status, json.loads(data)


def test_greedy_outputs_through_the_sdk_equal_the_transformers_backend(backend, client):
    chat_items = items("chat", 6)
    requests = [Request(render_prompt(backend.tokenizer, item, {}), item.messages) for item in chat_items]
    direct = [g[0].text for g in backend.generate(requests, GenerationSettings(max_new_tokens=32))]
    completions = [
        client.completions.create(model="tiny-test", prompt=r.prompt, max_tokens=32, temperature=0).choices[0].text
        for r in requests
    ]
    chats = [
        client.chat.completions.create(model="tiny-test", messages=item.messages, max_tokens=32, temperature=0)
        .choices[0]
        .message.content
        for item in chat_items
    ]
    streamed = []
    for item in chat_items:
        stream = client.chat.completions.create(
            model="tiny-test", messages=item.messages, max_tokens=32, temperature=0, stream=True
        )
        streamed.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    assert completions == direct and chats == direct and streamed == direct
    assert any(direct)


def test_tool_calls_come_back_parsed_streamed_or_not_with_usage_and_unique_ids(backend, client):
    tool_items = [item for item in items("tools", 8) if item.tools]
    found_calls = 0
    ids = []
    for item in tool_items:
        asked = dict(model="tiny-test", messages=item.messages, tools=item.tools, max_tokens=64, temperature=0)
        whole = client.chat.completions.create(**asked)
        choice = whole.choices[0]
        assert whole.usage.prompt_tokens > 0 and whole.usage.total_tokens == (
            whole.usage.prompt_tokens + whole.usage.completion_tokens
        )
        chunks = list(client.chat.completions.create(**asked, stream=True, stream_options={"include_usage": True}))
        assert chunks[-1].usage == whole.usage and not chunks[-1].choices
        ids += [whole.id, chunks[0].id]
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
            choice.finish_reason
        ]
        assert content == (choice.message.content or "")
        assert [(c.function.name, c.function.arguments) for c in calls] == [
            (c.function.name, c.function.arguments) for c in choice.message.tool_calls or []
        ]
        if choice.message.tool_calls:
            found_calls += 1
            assert choice.finish_reason == "tool_calls"
            for call in choice.message.tool_calls:
                assert call.function.name and isinstance(json.loads(call.function.arguments), dict)
            ids += [call.id for call in choice.message.tool_calls] + [call.id for call in calls]
    assert found_calls >= 2, "the tools model should call tools on most of these items"
    assert len(set(ids)) == len(ids), "ids repeat across responses"


def test_sampling_honours_n_seed_and_logprobs(client):
    asked = dict(model="tiny-test", prompt="Question: 2+3?\nAnswer:", max_tokens=8, temperature=1.0, n=3, seed=7)
    first = client.completions.create(**asked, logprobs=2)
    again = client.completions.create(**asked, logprobs=2)
    assert [c.text for c in first.choices] == [c.text for c in again.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    for choice in first.choices:
        assert len(choice.logprobs.token_logprobs) == len(choice.logprobs.tokens) > 0
        assert all(value <= 0 for value in choice.logprobs.token_logprobs)
        assert all(len(top) <= 2 for top in choice.logprobs.top_logprobs)
    chat = client.chat.completions.create(
        model="tiny-test", messages=[{"role": "user", "content": "hi"}], max_tokens=4, logprobs=True, top_logprobs=3
    )
    assert all(len(entry.top_logprobs) == 3 for entry in chat.choices[0].logprobs.content)


MALFORMED = [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"hello"', "must be a JSON object"),
    (json.dumps({"messages": "hi"}).encode(), "messages"),
    (json.dumps({"messages": []}).encode(), "messages"),
    (json.dumps({"messages": [{"content": "x"}]}).encode(), "messages.0.role"),
    (json.dumps({"messages": [{"role": "user"}]}).encode(), "needs content"),
    (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode(), "messages.0.role"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}).encode(), "max_tokens"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "top_p": 0}).encode(), "top_p"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "n": 0}).encode(), "n"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9}).encode(), "context length"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}).encode(), "temperature"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 1}).encode(), "not supported"),
    (
        json.dumps(
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
        ).encode(),
        "response_format",
    ),
    (
        json.dumps(
            {"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function", "function": {}}}
        ).encode(),
        "tool_choice",
    ),
    (
        json.dumps(
            {"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"tokenize": True}}
        ).encode(),
        "chat_template_kwargs may not set tokenize",
    ),
    (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]},
                ]
            }
        ).encode(),
        "arguments",
    ),
]


@pytest.mark.parametrize("body, says", MALFORMED, ids=[f"chat-{i}" for i in range(len(MALFORMED))])
def test_every_malformed_chat_request_gets_a_400_naming_the_problem(url, body, says):
    status, answer = post(url, "/chat/completions", body, timeout=10)
    assert status == 400 and says in answer["error"]["message"], answer
    assert answer["error"]["type"] == "invalid_request_error"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["messages", "model", "temperature", "top_p", "stop", "stream", "seed", "tools", "tool_choice", "logprobs"]
FIELDS += ["top_logprobs", "response_format", "stream_options", "chat_template_kwargs", "user", "unknown_field"]


@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, min_size=1, max_size=3))
def test_any_body_gets_an_answer_never_a_closed_connection_or_a_500(url, changes):
    body = {"model": "tiny-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **changes}
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    connection.request("POST", parts.path + "/chat/completions", body=json.dumps(body).encode())
    response = connection.getresponse()
    data = response.read()
    connection.close()
    assert response.status in (200, 400, 404), (response.status, data[:300])
    if response.status != 200:
        assert json.loads(data)["error"]["message"]
    elif response.getheader("content-type", "").startswith("text/event-stream"):
        assert data.rstrip().endswith(b"data: [DONE]")
    else:
        assert json.loads(data)["choices"]


def test_malformed_completions_wrong_model_and_unknown_routes_are_answered(url, backend):
    vocabulary = backend.model.get_input_embeddings().num_embeddings
    cases = [
        ("/completions", {"prompt": []}, 400),
        ("/completions", {"prompt": [vocabulary + 5]}, 400),
        ("/completions", {"prompt": [-1]}, 400),
        ("/completions", {"prompt": [[1, 2], "text"]}, 400),
        ("/completions", {"prompt": "x", "max_tokens": 0}, 400),
        ("/completions", {"prompt": "x", "suffix": "y"}, 400),
        ("/completions", {"prompt": "word " * 5000}, 400),
        ("/completions", {"prompt": "x", "model": "gpt-9"}, 404),
        ("/chat/completions", {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}, 404),
        ("/embeddings", {"input": "x"}, 404),
    ]
    for path, body, expected in cases:
        status, answer = post(url, path, json.dumps(body).encode(), timeout=10)
        assert status == expected and answer["error"]["message"], (path, body, answer)
    status, answer = post(url, "/completions", b"", method="GET")
    assert status == 405 and answer["error"]["message"]
    status, answer = post(url, "/completions", b'{"prompt": "' + b"x" * (17 * 1024 * 1024) + b'"}')
    assert status == 413 and "exceeds the limit" in answer["error"]["message"]


def test_health_and_models_name_the_served_model(url, client, backend):
    status, health = post(url.removesuffix("/v1"), "/health", b"", method="GET")
    assert status == 200 and health["status"] == "ok"
    listed = client.models.list().data
    assert [m.id for m in listed] == ["tiny-test"]
    assert client.models.retrieve("tiny-test").id == "tiny-test"


def test_a_long_request_cannot_hold_back_others_and_stops_when_its_client_leaves(url, client):
    long_body = json.dumps(
        {"prompt": "Once", "max_tokens": 1800, "ignore_eos": True, "temperature": 0, "stream": True}
    ).encode()
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(
        "POST", parts.path + "/completions", body=long_body, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 200 and response.readline().startswith(b"data: ")  # it is generating
    started = time.monotonic()
    quick = client.completions.create(model="tiny-test", prompt="Hi", max_tokens=4, temperature=0, timeout=10)
    assert quick.choices[0].finish_reason in ("stop", "length") and time.monotonic() - started < 5
    health_url = url.removesuffix("/v1")
    assert post(health_url, "/health", b"", method="GET")[1]["running"] == 1
    connection.close()  # the client goes away mid-stream
    deadline = time.monotonic() + 10
    while post(health_url, "/health", b"", method="GET")[1]["running"]:
        assert time.monotonic() < deadline, "the abandoned request is still generating"
        time.sleep(0.1)


def test_a_non_streaming_request_is_cancelled_when_its_client_leaves(url):
    parts = urlparse(url)
    body = json.dumps({"prompt": "Once", "max_tokens": 1800, "ignore_eos": True}).encode()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
    connection.request("POST", parts.path + "/completions", body=body, headers={"Content-Type": "application/json"})
    health_url = url.removesuffix("/v1")
    deadline = time.monotonic() + 10
    while not post(health_url, "/health", b"", method="GET")[1]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    connection.close()
    deadline = time.monotonic() + 10
    while post(health_url, "/health", b"", method="GET")[1]["running"]:
        assert time.monotonic() < deadline, "the abandoned request is still generating"
        time.sleep(0.1)


def test_concurrent_clients_all_get_their_own_answers(client, backend):
    prompts = [f"Question: {n} + {n}?\nAnswer:" for n in range(6)]
    expected = [
        g[0].text for g in backend.generate([Request(p, []) for p in prompts], GenerationSettings(max_new_tokens=16))
    ]
    answers = [None] * len(prompts)

    def ask(index):
        answers[index] = (
            client.completions.create(model="tiny-test", prompt=prompts[index], max_tokens=16, temperature=0)
            .choices[0]
            .text
        )

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == expected


lm_eval = pytest.importorskip("lm_eval")

MULTIPLE_CHOICE_TASK = """
task: colours_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
metadata:
  version: 1.0
"""


def test_lm_eval_local_completions_and_chat_completions_run_against_it(url, tool_model, tmp_path):
    """Generation (gsm8k, chat and completions) and log-likelihoods (a multiple-choice task) through the server,
    the log-likelihood answers identical to lm-eval's own `hf` model on the same weights."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    rows = [
        {"question": f"Which colour is item {n}?", "choices": ["red", "green", "blue"], "answer": n % 3}
        for n in range(6)
    ]
    data = tmp_path / "colours.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "colours.yaml").write_text(MULTIPLE_CHOICE_TASK.format(data=data))
    tasks = TaskManager(include_path=[str(REPO / "evals"), str(tmp_path)])
    model_path = tool_model
    common = dict(task_manager=tasks, limit=3, log_samples=True, bootstrap_iters=0)
    started = time.monotonic()
    served = simple_evaluate(
        model="local-completions",
        model_args=f"base_url={url}/completions,model=tiny-test,tokenizer={model_path},tokenizer_backend=huggingface,"
        "num_concurrent=1,max_retries=1,timeout=60",
        tasks=["gsm8k_local", "colours_local"],
        **common,
    )
    chat = simple_evaluate(
        model="local-chat-completions",
        model_args=f"base_url={url}/chat/completions,model=tiny-test,num_concurrent=1,max_retries=1,timeout=60",
        tasks=["gsm8k_local"],
        apply_chat_template=True,
        **common,
    )
    local = simple_evaluate(
        model="hf", model_args=f"pretrained={model_path},dtype=float32", tasks=["colours_local"], device="cpu", **common
    )
    assert time.monotonic() - started < 300
    for results in (served, chat):
        samples = results["samples"]["gsm8k_local"]
        assert {s["doc_id"] for s in samples} == {0, 1, 2}
        assert all(isinstance(s["resps"][0][0], str) for s in samples)

    def loglikelihoods(results):
        return [[round(r[0][0], 3) for r in s["resps"]] for s in results["samples"]["colours_local"]]

    assert loglikelihoods(served) == loglikelihoods(local)


def test_the_vllm_command_carries_the_template_parser_name_and_cpu_settings(tool_model):
    from harness.serve import VLLM_SERVER, vllm_command

    command, environment = vllm_command(tool_model, "tools", "127.0.0.1", 8123, engine_args=("--max-num-seqs", "4"))
    assert command[1:3] == ["-m", VLLM_SERVER]

    def value(flag):
        return command[command.index(flag) + 1]

    assert value("--model") == tool_model and value("--tokenizer") == tool_model
    assert value("--served-model-name") == "tools" and value("--port") == "8123"
    assert command[command.index("--chat-template") + 1].endswith("chat_template.jinja")
    assert command[command.index("--tool-call-parser") + 1] == "hermes" and "--enable-auto-tool-choice" in command
    assert command[command.index("--dtype") + 1] == "float32" and "--enforce-eager" in command
    assert command[-2:] == ["--max-num-seqs", "4"] and environment["VLLM_CPU_KVCACHE_SPACE"]


def test_harness_serve_with_vllm_answers_as_the_transformers_engine_does(tool_model, client):
    """`harness serve --engine vllm`: vLLM's own server, configured from the model folder, gives the same greedy
    texts and tool calls as the transformers engine (vLLM's CPU engine takes about a minute to start)."""
    pytest.importorskip("vllm")
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    from harness.evaluate.backends.openai import openai_messages

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "harness.cli", "serve", tool_model, "--engine", "vllm", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "vLLM's server did not start in 5 minutes"
                time.sleep(1)
        name = os.path.basename(tool_model)
        vllm = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=60)
        assert [m.id for m in vllm.models.list().data] == [name]
        for item in [item for item in items("tools", 6) if item.tools]:
            messages = openai_messages(item.messages)  # ids on tool calls, as OpenAI's API (and vLLM) want them
            asked = dict(messages=messages, tools=item.tools, max_tokens=64, temperature=0)
            theirs = vllm.chat.completions.create(model=name, **asked).choices[0]
            ours = client.chat.completions.create(model="tiny-test", **asked).choices[0]
            assert (theirs.message.content or None) == (ours.message.content or None)
            assert [(c.function.name, json.loads(c.function.arguments)) for c in theirs.message.tool_calls or []] == [
                (c.function.name, json.loads(c.function.arguments)) for c in ours.message.tool_calls or []
            ]
            assert theirs.finish_reason == ours.finish_reason
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_text_before_a_tool_call_stays_content_and_a_broken_call_stays_text():
    from harness.serve.app import _assistant_message, _content_end

    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    message, reason = _assistant_message(f"Let me check. {call}", True, "stop")
    assert message["content"] == "Let me check." and reason == "tool_calls"
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]] == [
        ("get_weather", {"city": "Oslo"})
    ]
    assert _assistant_message(call, False, "stop") == (
        {"role": "assistant", "content": call},
        "stop",
    )  # tool_choice none
    broken = '<tool_call>{"name": "get_weather", "arguments": {"city": '
    assert _assistant_message(broken, True, "length") == ({"role": "assistant", "content": broken}, "length")
    # While streaming, content stops where a tool call may be starting.
    assert [_content_end(text) for text in ("Hello", "Hello <tool", f"Hi {call}", "a<")] == [5, 6, 3, 1]

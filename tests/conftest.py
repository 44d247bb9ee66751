import contextlib
import os
import time
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


# The real public evaluation sets the package ships (harness/evaluate/data/README.md).
SHIPPED_DATA = REPO / "harness" / "evaluate" / "data"
GSM8K = SHIPPED_DATA / "gsm8k" / "test.jsonl"
BFCL = SHIPPED_DATA / "bfcl"


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory):
    """One tiny model build per test session, away from the user's cache."""
    cache = os.environ.get("HARNESS_TEST_CACHE") or str(tmp_path_factory.mktemp("harness-cache"))
    os.environ["HARNESS_CACHE"] = cache
    return Path(cache)


@pytest.fixture(scope="session")
def tiny_path(harness_cache):
    from harness.models.tiny import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def tokenizer(tiny_path):
    from harness.models.loading import load_tokenizer

    return load_tokenizer(str(tiny_path))


# Short real training runs shared by the test modules: enough steps for the loss to fall and the
# outputs to take the trained format, few enough for the suite to stay fast on 2 cores.
FAST_TRAIN = {
    "max_steps": 20,
    "per_device_train_batch_size": 4,
    "learning_rate": 3.0e-3,
    "logging_steps": 5,
    "save_steps": 10,
    "max_length": 512,
    "disable_tqdm": True,
}


def short_recipe(mode, **overrides):
    from harness.recipe import parse_recipe

    data = {
        "name": f"{mode}-test",
        "mode": mode,
        "data": {"sources": [{"builtin": mode, "samples": 100}]},
        "train": {**FAST_TRAIN, **overrides.pop("train", {})},
        **overrides,
    }
    return parse_recipe(data)


@pytest.fixture(scope="session")
def trained(harness_cache, tmp_path_factory):
    """{mode: model folder} after a short full fine-tune of the tiny model in each mode."""
    from harness.train import train

    root = tmp_path_factory.mktemp("trained")
    return {mode: train(short_recipe(mode), root / mode) for mode in ("instruct", "chat", "tools", "reasoning")}


# Property-based tests: the same examples on every run by default (CI stays reproducible);
# `python -m pytest tests/reliability --hypothesis-profile=fuzz` explores new ones, ten times as many.
hypothesis_settings.register_profile("default", derandomize=True, deadline=None, max_examples=100)
hypothesis_settings.register_profile("fuzz", derandomize=False, deadline=None, max_examples=1000)
hypothesis_settings.load_profile("default")


@contextlib.contextmanager
def serving(model, tokenizer, name="tiny-test", wrap=lambda app: app):
    """The transformers engine of `harness serve` over a model in memory, on a free loopback port, in a thread;
    `wrap` may put an ASGI layer around the app (to watch requests)."""
    import socket
    import threading

    import uvicorn

    from harness.serve.app import build_app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(wrap(build_app(model, tokenizer, name)), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

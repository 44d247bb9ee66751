import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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

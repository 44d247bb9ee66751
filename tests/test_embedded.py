"""The pretraining corpus and the pretraining script of the embedded base, on a few real steps."""

import json
import re

import pytest

from harness.data.builtin import corpus, generate
from harness.models.loading import EMBEDDED_PATH, resolve_model


def test_corpus_is_deterministic_and_every_kind_is_in_it():
    first, again = corpus.documents(70, seed=3), corpus.documents(70, seed=3)
    assert first == again and first != corpus.documents(70, seed=4)
    assert len(set(first)) > 60
    assert any("<tool_call>" in d for d in first) and any(" = " in d and d[0].isdigit() for d in first)


def test_record_documents_copy_the_sentences_values_into_json():
    records = [d for d in corpus.documents(700, seed=0) if d.count("\n") >= 1 and "{" in d]
    assert len(records) > 50
    for document in records:
        block = re.search(r"<tool_call>(.*)</tool_call>", document)
        data = json.loads(block.group(1))["arguments"] if block else None
        if data is None:
            line = next(line for line in document.splitlines() if line.startswith("{"))
            data = json.loads(line)
        text = document.split("\n")[0] if not document.startswith("{") else document.split("\n")[1]
        for value in data.values():
            shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            assert shown in text, (document, value)


def test_corpus_holds_no_evaluation_item():
    """No tool name of the generators, and no test conversation of the chat generator, appears verbatim."""
    text = "\n".join(corpus.documents(2000, seed=0))
    assert not any(f'"name": "{name}"' in text for name in corpus.GENERATOR_TOOLS)
    for row in generate("chat", "test", 50):
        assert row["messages"][-1]["content"] not in text or len(row["messages"][-1]["content"]) < 12


def test_every_curriculum_stage_draws_its_kinds_and_no_generator_tool():
    rng = __import__("random").Random(0)
    late = corpus.documents_for_step(rng, 7000, 8000, 400)
    assert any(d.startswith("<tools>") for d in late) and any("Recall: " in d or "Again: " in d for d in late)
    assert not any(f'"name": "{name}"' in d for d in late for name in corpus.GENERATOR_TOOLS)
    for document in (d for d in late if d.startswith("<tools>")):  # the call names a tool listed above it
        called = json.loads(re.findall(r"<tool_call>(.*)</tool_call>", document)[-1])["name"]
        assert f'"name": "{called}"' in document.split("</tools>")[0]
        assert not set(called.split("_")) & corpus.UNSEEN_NAME_PARTS  # the schema probe's names are copied
    early = corpus.documents_for_step(rng, 0, 8000, 400)
    assert not any(d.startswith("<tools>") for d in early)


TINY = {"size": "small", "steps": 4, "batch_size": 2, "length": 64, "learning_rate": 1e-3, "warmup": 2, "decay": 0.5}


def _piece(out, piece_steps=None):
    from harness.models.pretrain import pretrain

    settings = {**TINY, "seed": 0}
    return pretrain(out, 1.0, settings, log_every=1, probe_every=1000, rewarm=2, probe_items=2, piece_steps=piece_steps)


def _losses(folder):
    return [json.loads(line)["loss"] for line in (folder / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_pretraining_in_pieces_resumes_exactly_and_warm_restarts_from_the_committed_weights(tmp_path, caplog):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    whole = _piece(tmp_path / "whole")
    assert whole["step"] == 4 and whole["tokens"] == 4 * 2 * 64 and len(whole["pieces"]) == 1
    # Two pieces of two steps: the second resumes from the exact checkpoint (weights, optimizer, data position).
    assert _piece(tmp_path / "pieces", piece_steps=2)["step"] == 2
    second = _piece(tmp_path / "pieces")
    assert second["step"] == 4 and len(second["pieces"]) == 2
    one, two = (load_file(tmp_path / name / ".checkpoint" / "model.safetensors") for name in ("whole", "pieces"))
    assert all((one[key] == two[key]).all() for key in one)
    assert _losses(tmp_path / "pieces") == _losses(tmp_path / "whole")
    # What is committed: bf16 weights that load, the state and a model card.
    committed = load_file(tmp_path / "pieces" / "model.safetensors")
    assert {str(tensor.dtype) for tensor in committed.values()} == {"torch.bfloat16"}
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "pieces")
    assert (
        model.num_parameters() == second["parameters"] and "2 pieces" in (tmp_path / "pieces" / "README.md").read_text()
    )
    # Without the exact checkpoint (a new session, a fresh clone), the next piece goes on from those weights.
    _piece(tmp_path / "warm", piece_steps=2)
    __import__("shutil").rmtree(tmp_path / "warm" / ".checkpoint")
    with caplog.at_level("INFO", logger="harness.models.pretrain"):
        third = _piece(tmp_path / "warm")
    assert "warm restart at step 2" in caplog.text and third["step"] == 4 and len(third["pieces"]) == 2


def test_embedded_resolves_to_the_shipped_base():
    assert resolve_model("embedded") == str(EMBEDDED_PATH)
    assert (EMBEDDED_PATH / "model.safetensors").stat().st_size < 25 * 2**20

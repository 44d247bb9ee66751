"""Model, tokenizer and LoRA adapter loading, with device-aware defaults.

A model reference is `embedded` (the pretrained base shipped in the package), `tiny` (random weights, built
for the seed: fast tests), a run folder (its `model/`), a local model folder
(full weights or a LoRA adapter) or a hub id. The chat template always travels with the tokenizer:
the model's own, a recipe override, or the bundled ChatML template for models that lack one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from harness.models.tiny import TEMPLATE_PATH, tiny_model_path
from harness.recipe import TinySpec
from harness.run_folder import RunFolder

log = logging.getLogger(__name__)

EMBEDDED_PATH = Path(__file__).with_name("embedded")  # python -m harness.models.pretrain writes it


class ModelError(ValueError):
    """A model reference that cannot be resolved or loaded."""


def resolve_model(name: str, tiny: TinySpec | None = None, seed: int = 0) -> str:
    """A loadable path or hub id for a model reference."""
    if name == "tiny":
        return str(tiny_model_path(tiny, seed))
    if name == "embedded":
        if not (EMBEDDED_PATH / "config.json").exists():
            raise ModelError(f"{EMBEDDED_PATH}: the embedded base is missing (python -m harness.models.pretrain)")
        return str(EMBEDDED_PATH)
    path = Path(name).expanduser()
    if RunFolder(path).is_run:
        return str(RunFolder(path).model)
    if path.is_dir():
        if not any((path / f).exists() for f in ("config.json", "adapter_config.json")):
            raise ModelError(f"{path}: no config.json or adapter_config.json: not a model folder")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"{name}: no such model folder")
    return name  # a hub id


def served_name(reference: str) -> str:
    """The name a model goes by on an OpenAI-compatible server (`harness serve`'s default, the openai backend's
    default): a run or model folder's name, else the reference itself (a hub id, `embedded`)."""
    path = Path(reference).expanduser()
    return path.resolve().name if path.is_dir() else reference


def adapter_base(path: str) -> str | None:
    """The base model of a LoRA adapter folder, None for a full model."""
    config = Path(path) / "adapter_config.json"
    if not config.exists():
        return None
    return json.loads(config.read_text())["base_model_name_or_path"]


def bundled_chat_template() -> str:
    return TEMPLATE_PATH.read_text()


def load_tokenizer(
    path: str, chat_template: str | None = None, trust_remote_code: bool = False, revision: str | None = None
):
    """The tokenizer with its chat template: the model's own, or `chat_template` ("harness" for the
    bundled ChatML one, "trl:NAME" for a template TRL ships, or a Jinja file)."""
    from transformers import AutoTokenizer

    tokenizer = _hub_call(AutoTokenizer.from_pretrained, path, trust_remote_code=trust_remote_code, revision=revision)
    if chat_template == "harness" or (chat_template is None and not tokenizer.chat_template):
        if chat_template is None:
            log.info("%s has no chat template: using the bundled ChatML template", path)
        tokenizer.chat_template = bundled_chat_template()
    elif chat_template:
        tokenizer.chat_template = read_chat_template(chat_template)
    where = (
        f"model.chat_template {chat_template}"
        if chat_template not in (None, "harness")
        else f"the chat template of {path}"
    )
    _check_renders(tokenizer, where)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def read_chat_template(reference: str) -> str:
    """The text of a `model.chat_template` reference other than "harness"."""
    if reference.startswith("trl:"):
        import trl

        folder = Path(trl.__file__).parent / "chat_templates"
        path = folder / f"{reference[4:]}.jinja"
        if not path.is_file():
            names = sorted(p.stem for p in folder.glob("*_training.jinja"))
            raise ModelError(
                f"model.chat_template {reference}: TRL ships no such template; training templates: {names}"
            )
        return path.read_text(encoding="utf-8")
    path = Path(reference)
    if not path.is_file():
        raise ModelError(f"model.chat_template: {reference}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ModelError(f"model.chat_template: {reference}: not UTF-8 text (byte {error.start})") from None


PROBE_CONVERSATION = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


def _check_renders(tokenizer, where: str) -> None:
    """A template that cannot render a two-turn conversation fails here, named, not deep in training."""
    from harness.data.formats import RENDER_ERRORS

    try:
        tokenizer.apply_chat_template(PROBE_CONVERSATION, tokenize=False)
    except RENDER_ERRORS as error:
        raise ModelError(
            f"{where} does not render a user/assistant conversation: {type(error).__name__}: {error}"
        ) from None


def torch_dtype(dtype: str):
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(
    path: str,
    dtype: str = "auto",
    trust_remote_code: bool = False,
    revision: str | None = None,
    attn_implementation: str | None = None,
    merge_adapter: bool = False,
):
    """A causal LM; an adapter folder loads its base with the adapter on top (merged if asked)."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": torch_dtype(dtype), "trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    base = adapter_base(path)
    if base is None:
        return _hub_call(AutoModelForCausalLM.from_pretrained, path, revision=revision, **kwargs)
    from peft import PeftModel

    model = PeftModel.from_pretrained(_hub_call(AutoModelForCausalLM.from_pretrained, base, **kwargs), path)
    return model.merge_and_unload() if merge_adapter else model


def _hub_call(function, name: str, **kwargs):
    import pickle

    try:
        return function(name, **kwargs)
    except ValueError as error:
        if "trust_remote_code" not in str(error):
            raise
        raise ModelError(
            f"model {name!r} ships its own code, which harness does not run unless the recipe says "
            "`model: {trust_remote_code: true}` (read that code first)"
        ) from None
    except pickle.UnpicklingError:
        raise ModelError(
            f"model {name!r}: its pickled weights hold more than tensors; refused (torch.load with "
            "weights_only). Convert them to safetensors from a trusted copy."
        ) from None
    except OSError as error:
        raise ModelError(
            f"model {name!r} could not be loaded: {str(error).rstrip('.')}. If it is a hub id and this machine is "
            "offline, download it elsewhere and give the local folder."
        ) from None

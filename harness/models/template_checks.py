"""Which chat template trains, and checks that it trains what it should (run before training and by
`harness check-template`).

The template is the one TRL's `SFTTrainer` tokenizes with, chosen the way it chooses: the model's own when
it has `{% generation %}` markers (or when `assistant_only_loss` is off), else TRL's training template for
that family (`trl.chat_template_utils.get_training_chat_template`). A family TRL cannot train is refused
with the ways out that fit this tokenizer. On a real rendered sample, the checks catch:
- an empty loss mask: nothing is learned;
- an untrained end-of-turn token (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, ...): the model never stops;
- a template that drops tool schemas or tool calls, for rows that have them;
- a prefix of a conversation that does not render as a prefix of the whole (a warning: some families
  render history differently by design, and TRL trains them so).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.formats import RENDER_ERRORS, conversation_of, tools_of
from harness.models.loading import bundled_chat_template

# Markup that names a template family in messages, most specific first.
FAMILY_MARKERS = [
    ("<|start_header_id|>", "Llama 3"),
    ("<start_of_turn>", "Gemma"),
    ("[INST]", "Mistral"),
    ("<｜Assistant｜>", "DeepSeek"),
    ("<|im_sep|>", "Phi-4"),
    ("<|assistant|>", "Phi-3"),
    ("xml_tools", "SmolLM3"),
    ("<|im_start|>", "ChatML (Qwen, SmolLM, Hermes, ...)"),
]
# TRL training templates of the most used text families, offered first as ways out.
COMMON_TRAINING_TEMPLATES = (
    "qwen2_5_training",
    "qwen3_training",
    "llama3_training",
    "gemma3_training",
    "gemma_training",
    "phi3_5_training",
    "deepseek_r1_distill_training",
)
SENTINEL = "harness_sentinel_7f3a"
PROBE = [
    {"role": "user", "content": "dummy"},
    {"role": "assistant", "content": SENTINEL},
    {"role": "user", "content": "dummy"},
]


class TemplateRefusal(ValueError):
    """A chat template that cannot train this recipe; the message says why and what to do."""


@dataclass
class TemplateReport:
    mode: str
    template: str = ""  # which template was checked
    text: str = ""
    tokens: list[tuple[str, bool]] = field(default_factory=list)  # (token text, carries loss)
    end_of_turn: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        """The sample with the tokens that carry loss shown in [[double brackets]]."""
        out, inside = [], False
        for token, trained in self.tokens:
            if trained != inside:
                out.append("[[" if trained else "]]")
                inside = trained
            out.append(token)
        return "".join(out) + ("]]" if inside else "")


# --- which template ------------------------------------------------------------------------------------


@functools.cache
def _trl_templates() -> dict[str, str]:
    """TRL's shipped templates by file stem: originals (for naming) and `*_training` variants."""
    import trl

    folder = Path(trl.__file__).parent / "chat_templates"
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.jinja"))}


def _template_text(tokenizer) -> str:
    template = tokenizer.chat_template or ""
    return template.get("default", "") if isinstance(template, dict) else template


def template_name(tokenizer, template: str | None = None) -> str:
    """`qwen2_5` for a template TRL knows by identity, else the family its markup suggests."""
    text = template if template is not None else _template_text(tokenizer)
    if text == bundled_chat_template():
        return "harness ChatML"
    known = next((stem for stem, body in _trl_templates().items() if body == text), None)
    if known:
        return f"TRL's {known}" if known.endswith("_training") else known
    family = next((name for marker, name in FAMILY_MARKERS if marker in text), None)
    return f"a {family} template" if family else "a template of no family harness knows"


def training_template(tokenizer, assistant_only_loss: bool) -> str | None:
    """The template SFTTrainer will tokenize with when it differs from the tokenizer's (None: its own)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if not assistant_only_loss or has_generation_markers(_template_text(tokenizer)):
        return None
    try:
        return get_training_chat_template(tokenizer)
    except ValueError:
        raise TemplateRefusal(refusal(tokenizer)) from None


def refusal(tokenizer) -> str:
    ways = [f"model.chat_template: {name}" for name in fitting_templates(tokenizer)]
    ways += [
        "model.chat_template: <file.jinja>: this model's template with {% generation %}...{% endgeneration %} around "
        "all the assistant writes, its end-of-turn token included (TRL's trl/chat_templates/*_training.jinja show how)",
        "train.assistant_only_loss: false: loss on every token, prompts included",
    ]
    return (
        f"the chat template of this model ({template_name(tokenizer)}) cannot train with assistant-only loss: "
        "it has no {% generation %} markers and TRL ships no training template for it. Ways out:\n- "
        + "\n- ".join(ways)
    )


def fitting_templates(tokenizer) -> list[str]:
    """Templates whose end-of-turn token is one token of this vocabulary and trained: `harness` and TRL's."""
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    candidates = {"harness": bundled_chat_template()}
    trl_templates = {stem: body for stem, body in _trl_templates().items() if stem.endswith("_training")}
    for stem in sorted(trl_templates, key=lambda stem: (stem not in COMMON_TRAINING_TEMPLATES, stem)):
        candidates[f"trl:{stem}"] = trl_templates[stem]
    fitting = []
    for name, body in candidates.items():
        try:
            if is_chat_template_stop_token_trained(tokenizer, chat_template=body):
                fitting.append(name)
        except RENDER_ERRORS:
            continue
    return fitting[:4]


def end_of_turn_ids(tokenizer) -> set[int]:
    """The token that closes an assistant turn in the tokenizer's own template (`<|im_end|>`,
    `<|eot_id|>`, `<end_of_turn>`, ...), which generation must stop at, whatever eos says."""
    try:
        text = tokenizer.apply_chat_template(PROBE, tokenize=False)
    except RENDER_ERRORS:
        return set()
    if SENTINEL not in text:
        return set()
    after = tokenizer(text.split(SENTINEL, 1)[1], add_special_tokens=False)["input_ids"]
    special = {*tokenizer.all_special_ids, *tokenizer.get_added_vocab().values()}
    first = next((i for i in after if tokenizer.decode([i]).strip()), None)
    return {first} if first in special else set()


def stop_token_ids(tokenizer, generation_eos=None) -> set[int]:
    """eos ids of the generation config and tokenizer, plus the template's end-of-turn token."""
    eos = generation_eos if isinstance(generation_eos, list) else [generation_eos]
    return {i for i in [*eos, tokenizer.eos_token_id, *end_of_turn_ids(tokenizer)] if i is not None}


def tool_support_problem(tokenizer, template: str | None) -> str | None:
    """Why rows with tools cannot train on this template (None: they can). TRL's `supports_tool_calling`
    covers calls and results; tool schemas passed as `tools` are checked here too (SmolLM3 reads `xml_tools`)."""
    from trl.chat_template_utils import supports_tool_calling

    probe = copy.copy(tokenizer)
    if template is not None:
        probe.chat_template = template
    name = template_name(tokenizer, template)
    if not supports_tool_calling(probe) and not _renders_tool_exchange(probe):
        return (
            f"{name} drops tool calls or tool results (TRL's supports_tool_calling): tool rows would train without them"
        )
    tool = {"type": "function", "function": {"name": SENTINEL, "description": "", "parameters": {"type": "object"}}}
    try:
        text = probe.apply_chat_template(PROBE[:1], tools=[tool], tokenize=False, add_generation_prompt=True)
    except RENDER_ERRORS as error:
        return f"{name} fails when given tools: {type(error).__name__}: {error}"
    if SENTINEL not in text:
        return f"{name} ignores the `tools` argument: the tool schemas would vanish from training"
    return None


def _renders_tool_exchange(tokenizer) -> bool:
    """TRL's probe again with call ids (Mistral's templates refuse calls without 9-character ids)."""
    call = {
        "id": "a1b2c3d4e",
        "type": "function",
        "function": {"name": SENTINEL, "arguments": {"key_7f3a": "value_7f3a"}},
    }
    messages = [
        {"role": "user", "content": "dummy"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "a1b2c3d4e", "name": SENTINEL, "content": "content_7f3a"},
    ]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except RENDER_ERRORS:
        return False
    return all(part in text for part in (SENTINEL, "key_7f3a", "value_7f3a", "content_7f3a"))


# --- the checks ----------------------------------------------------------------------------------------


def check_template(
    tokenizer, row: dict, mode: str, template: str | None = None, assistant_only_loss: bool = True
) -> TemplateReport:
    """Check one canonical row (see data/formats.py) as SFTTrainer would tokenize it with `template`."""
    name = template_name(tokenizer, template)
    report = TemplateReport(mode=mode, template=name)
    tools = tools_of(row)
    kwargs = {"chat_template": template, "tools": tools, **(row.get("chat_template_kwargs") or {})}
    try:
        if "messages" in row:
            ids, mask = _conversation_mask(tokenizer, row["messages"], kwargs, assistant_only_loss)
        else:
            ids, mask = _completion_mask(tokenizer, row["prompt"], row["completion"], kwargs)
        report.text = tokenizer.decode(ids)
        report.tokens = [(tokenizer.decode([i]), bool(m)) for i, m in zip(ids, mask, strict=True)]
        _check_mask(tokenizer, ids, mask, report)
        _check_prefixes(tokenizer, conversation_of(row), kwargs, report)
    except RENDER_ERRORS as error:
        report.problems.append(f"{name} fails to render it: {type(error).__name__}: {error}")
        return report
    has_calls = any(m.get("tool_calls") or m["role"] == "tool" for m in conversation_of(row))
    if tools or has_calls:
        problem = tool_support_problem(tokenizer, template)
        if problem:
            report.problems.append(problem)
    return report


def _conversation_mask(tokenizer, messages, kwargs, assistant_only_loss):
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=assistant_only_loss, **kwargs
    )
    ids = list(out["input_ids"])
    return ids, list(out["assistant_masks"]) if assistant_only_loss else [1] * len(ids)


def _completion_mask(tokenizer, prompt, completion, kwargs):
    """As TRL does for prompt-completion rows: the completion starts where prompt and whole diverge."""
    prompt_ids = tokenizer.apply_chat_template(
        prompt, tokenize=True, add_generation_prompt=True, return_dict=True, **kwargs
    )["input_ids"]
    ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True, **kwargs)["input_ids"]
    start = 0
    while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
        start += 1
    return list(ids), [0] * start + [1] * (len(ids) - start)


def _check_mask(tokenizer, ids, mask, report: TemplateReport) -> None:
    trained = [i for i, m in zip(ids, mask, strict=True) if m]
    if not trained:
        report.problems.append("no token carries loss: the assistant mask is empty")
        return
    stops = {tokenizer.eos_token_id, *tokenizer.all_special_ids, *tokenizer.get_added_vocab().values()}
    last = next((i for i in reversed(trained) if tokenizer.decode([i]).strip()), None)
    if last in stops:
        report.end_of_turn = tokenizer.decode([last])
        return
    report.problems.append(
        f"{report.template}: the last trained token is {tokenizer.decode([last]) if last is not None else None!r}, "
        "not an end-of-turn token: the model would never learn to stop"
    )


def _check_prefixes(tokenizer, messages, kwargs, report: TemplateReport) -> None:
    whole = tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or index == 0:
            continue
        prompt = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True, **kwargs)
        if not whole.startswith(prompt):
            report.warnings.append(
                f"rendering the turns before message {index} (with the generation prompt) is not a prefix of "
                "rendering the whole conversation: the model trains on a context it will not see at inference"
            )
            return

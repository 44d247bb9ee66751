"""Checks that a chat template trains what it should, run by `harness check-template` and before training.

Three classic silent failures are caught on a real rendered sample:
- the assistant mask is empty (no `{% generation %}` markers): nothing is learned, or everything is;
- the end-of-turn token is not trained: the model never learns to stop;
- rendering a prefix of a conversation is not a prefix of rendering the whole (tool turns included):
  the prompts seen at evaluation differ from the contexts seen in training.
TRL's own checks (`trl.chat_template_utils`) are used where they exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.data.formats import conversation_of, tools_of


@dataclass
class TemplateReport:
    mode: str
    text: str = ""
    tokens: list[tuple[str, bool]] = field(default_factory=list)  # (token text, carries loss)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def trained_text(self) -> str:
        return "".join(token for token, trained in self.tokens if trained)

    def render(self) -> str:
        """The sample with the tokens that carry loss shown in [[double brackets]]."""
        out, inside = [], False
        for token, trained in self.tokens:
            if trained != inside:
                out.append("[[" if trained else "]]")
                inside = trained
            out.append(token)
        return "".join(out) + ("]]" if inside else "")


def check_template(tokenizer, row: dict, mode: str) -> TemplateReport:
    """Check one canonical row (see data/formats.py) of the given mode."""
    from jinja2 import TemplateError

    report = TemplateReport(mode=mode)
    tools = tools_of(row)
    try:
        if "messages" in row:
            ids, mask = _assistant_mask(tokenizer, row["messages"], tools)
        else:
            ids, mask = _completion_mask(tokenizer, row["prompt"], row["completion"], tools)
        report.text = tokenizer.decode(ids)
        report.tokens = [(tokenizer.decode([i]), bool(m)) for i, m in zip(ids, mask, strict=True)]
        _check_mask(tokenizer, ids, mask, report)
        _check_prefixes(tokenizer, conversation_of(row), tools, report)
        if mode == "tools" and tools:
            from trl.chat_template_utils import is_chat_template_prefix_preserving

            if not is_chat_template_prefix_preserving(tokenizer):
                report.problems.append("adding a tool turn changes how the earlier turns render (TRL's "
                                       "is_chat_template_prefix_preserving failed)")  # fmt: skip
    except (TemplateError, TypeError, ValueError) as error:
        report.problems.append(f"the chat template failed to render the sample: {error}")
    return report


def _assistant_mask(tokenizer, messages, tools):
    from trl.chat_template_utils import has_generation_markers

    if not has_generation_markers(tokenizer.chat_template or ""):
        raise ValueError("the chat template has no {% generation %} markers, so assistant_only_loss cannot "
                         "tell assistant tokens apart (set model.chat_template: harness, or add them)")  # fmt: skip
    out = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)  # fmt: skip
    return list(out["input_ids"]), list(out["assistant_masks"])


def _completion_mask(tokenizer, prompt, completion, tools):
    """As TRL does for prompt-completion rows: the completion starts where prompt and whole diverge."""
    prompt_ids = tokenizer.apply_chat_template(prompt, tools=tools, tokenize=True, add_generation_prompt=True,
                                               return_dict=True)["input_ids"]  # fmt: skip
    ids = tokenizer.apply_chat_template(prompt + completion, tools=tools, tokenize=True, return_dict=True)["input_ids"]
    start = 0
    while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
        start += 1
    return list(ids), [0] * start + [1] * (len(ids) - start)


def _check_mask(tokenizer, ids, mask, report: TemplateReport) -> None:
    trained = [i for i, m in zip(ids, mask, strict=True) if m]
    if not trained:
        report.problems.append("no token carries loss: the assistant mask is empty")
        return
    stops = {tokenizer.eos_token_id, *tokenizer.get_added_vocab().values()}
    last = next((i for i in reversed(trained) if tokenizer.decode([i]).strip()), None)
    if last not in stops or last != tokenizer.eos_token_id:
        report.problems.append(
            f"the end-of-turn token {tokenizer.eos_token!r} is not trained (the last trained token is "
            f"{tokenizer.decode([last]) if last is not None else None!r}): the model would never learn to stop")


def _check_prefixes(tokenizer, messages, tools, report: TemplateReport) -> None:
    whole = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(messages[:index], tools=tools, tokenize=False, add_generation_prompt=True)
        if not whole.startswith(prompt):
            report.problems.append(f"rendering the turns before message {index} (with the generation prompt) is "
                                   "not a prefix of rendering the whole conversation")  # fmt: skip
            return

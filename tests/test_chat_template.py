"""The bundled ChatML template, rendered exactly, and the checks that guard training against broken templates."""

import json

import pytest

from harness.data import builtin
from harness.data.formats import canonical_row
from harness.models.loading import bundled_chat_template
from harness.models.template_checks import TemplateRefusal, check_template, training_template

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def render(tokenizer, messages, **kwargs):
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def test_turns_render_as_chatml(tokenizer):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert render(tokenizer, messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
    )


def test_generation_prompt_and_thinking_switch(tokenizer):
    messages = [{"role": "user", "content": "Hi"}]
    assert (
        render(tokenizer, messages, add_generation_prompt=True)
        == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render(tokenizer, messages, add_generation_prompt=True, enable_thinking=False).endswith(
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def test_tools_go_into_the_system_turn_and_calls_render_as_tool_call_json(tokenizer):
    messages = [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "content": '{"temperature": 3}'},
        {"role": "assistant", "content": "It is 3 degrees."},
    ]
    assert render(tokenizer, messages, tools=[WEATHER]) == (
        "<|im_start|>system\nYou help.\n\n# Tools\n"
        'To call a tool, answer <tool_call>{"name": ..., "arguments": {...}}</tool_call>.\n<tools>\n'
        + json.dumps(WEATHER)
        + "\n</tools><|im_end|>\n"
        "<|im_start|>user\nWeather in Oslo?<|im_end|>\n"
        "<|im_start|>assistant\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call><|im_end|>\n'
        '<|im_start|>tool\n<tool_response>{"temperature": 3}</tool_response><|im_end|>\n'
        "<|im_start|>assistant\nIt is 3 degrees.<|im_end|>\n"
    )


def test_json_string_arguments_render_like_dict_arguments(tokenizer):
    def call(arguments):
        return [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": arguments}}],
            },
        ]

    assert render(tokenizer, call({"a": 1, "b": "two"})) == render(tokenizer, call('{"a": 1, "b": "two"}'))


def test_parallel_calls_render_back_to_back(tokenizer):
    calls = [{"type": "function", "function": {"name": "f", "arguments": {"x": i}}} for i in (1, 2)]
    text = render(
        tokenizer, [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": calls}]
    )
    assert text.endswith(
        '<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>'
        '<tool_call>{"name": "f", "arguments": {"x": 2}}</tool_call><|im_end|>\n'
    )


def test_reasoning_content_renders_as_think_block_before_the_answer(tokenizer):
    messages = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"},
    ]
    assert render(tokenizer, messages).endswith("<|im_start|>assistant\n<think>\n2+2=4\n</think>\n\n4<|im_end|>\n")


def test_assistant_mask_covers_exactly_the_assistant_output_and_end_of_turn(tokenizer):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "See you."},
    ]
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained = tokenizer.decode([i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    assert trained == "Hello!<|im_end|>See you.<|im_end|>"


@pytest.mark.parametrize("mode", builtin.MODES)
def test_every_mode_passes_the_template_checks(tokenizer, mode):
    row = canonical_row(builtin.generate(mode, "validation", 1, seed=3)[0], mode)
    report = check_template(tokenizer, row, mode)
    assert report.ok, report.problems
    trained = "".join(token for token, carries_loss in report.tokens if carries_loss)
    assert trained.rstrip().endswith("<|im_end|>")
    assert "<|im_start|>user" not in trained


def test_a_template_without_generation_markers_is_refused_with_the_ways_out(tokenizer):
    broken = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    broken.chat_template = bundled_chat_template().replace("{%- generation %}", "").replace("{%- endgeneration %}", "")
    with pytest.raises(TemplateRefusal) as refused:
        training_template(broken, assistant_only_loss=True)
    message = str(refused.value)
    assert "no {% generation %} markers" in message and "ChatML" in message
    # The ways out fit this vocabulary: ChatML templates (its <|im_end|> is one token), never Llama's or Gemma's.
    assert "model.chat_template: harness" in message and "trl:qwen2_5_training" in message
    assert "llama3" not in message and "gemma" not in message
    assert "train.assistant_only_loss: false" in message
    assert training_template(broken, assistant_only_loss=False) is None  # full-sequence loss needs no markers


def test_checks_fail_when_end_of_turn_is_not_trained(tokenizer):
    broken = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    template = bundled_chat_template()
    broken.chat_template = template.replace(
        "{{- '<|im_end|>' }}\n        {%- endgeneration %}", "{%- endgeneration %}\n        {{- '<|im_end|>' }}"
    )
    assert broken.chat_template != template
    row = canonical_row(builtin.generate("reasoning", "validation", 1)[0], "reasoning")
    report = check_template(broken, row, "reasoning")
    assert any("never learn to stop" in problem for problem in report.problems)


def test_checks_fail_when_a_prefix_does_not_render_as_a_prefix(tokenizer):
    broken = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    # A template that closes the conversation differently once it is complete, as some hub templates do.
    broken.chat_template = bundled_chat_template().replace(
        "{%- if add_generation_prompt %}",
        "{%- if not add_generation_prompt %}{{- 'END' }}{%- endif %}\n{%- if add_generation_prompt %}",
    )
    row = canonical_row(builtin.generate("chat", "validation", 1)[0], "chat")
    # Prefix check compares the generation prompt of each assistant turn with the whole rendering:
    broken.chat_template = broken.chat_template.replace(
        "{{- '<|im_start|>assistant\\n' }}\n    {%- if enable", "{{- '<|im_start|>assistant \\n' }}\n    {%- if enable"
    )
    report = check_template(broken, row, "chat")
    assert report.ok and any("not a prefix" in warning for warning in report.warnings)

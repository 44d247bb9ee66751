"""Real-shaped rows of popular dataset layouts: detected, converted to TRL rows, unused columns reported."""

import json

import pytest

from harness.data.sources import DataError, build_mixture, check_source
from harness.recipe import parse_recipe

# One row each, shaped as the public datasets ship them (values shortened).
SHAREGPT = {
    "id": "x1",
    "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "Hi"},
        {"from": "gpt", "value": "Hello"},
    ],
}
LLAMA_FACTORY = {
    "conversations": [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": '{"temp": 3}'},
        {"from": "gpt", "value": "3 degrees."},
    ],
    "tools": '[{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}]',
}
HERMES = {
    "id": "h1",
    "category": "Finance",
    "subcategory": "Stocks",
    "task": "Real-time stock price",
    "conversations": [
        {
            "from": "system",
            "value": "You are a function calling AI model. Here are the available tools: <tools> "
            "[{'type': 'function', 'function': {'name': 'get_stock_price', 'description': 'Price of a stock', "
            "'parameters': {'type': 'object', 'properties': {'symbol': {'type': 'string'}}, 'required': ['symbol']}}}] "
            "</tools> For each call return a json object within <tool_call> </tool_call> XML tags.",
        },
        {"from": "human", "value": "What is TSLA at?"},
        {
            "from": "gpt",
            "value": "<tool_call>\n{'arguments': {'symbol': 'TSLA'}, 'name': 'get_stock_price'}\n</tool_call>",
        },
        {
            "from": "tool",
            "value": '<tool_response>\n{"name": "get_stock_price", "content": {"price": 250}}\n</tool_response>',
        },
        {"from": "gpt", "value": "TSLA trades at 250."},
    ],
}
HERMES_THINKING = {
    "conversations": [
        {
            "role": "system",
            "content": 'You may call tools. <tools> [{"type": "function", "function": {"name": '
            '"convert", "parameters": {"type": "object"}}}] </tools>',
        },
        {"role": "human", "content": "100 USD in EUR?"},
        {
            "role": "model",
            "content": '<think>I should call convert.</think><tool_call>\n{"name": "convert", '
            '"arguments": {"amount": 100}}\n</tool_call>',
        },
        {"role": "tool", "content": '<tool_response>\n{"eur": 92}\n</tool_response>'},
        {"role": "model", "content": "<think>Done.</think>About 92 EUR."},
    ]
}
XLAM = {
    "id": 7,
    "query": "Is 153 an Armstrong number?",
    "answers": '[{"name": "is_armstrong", "arguments": {"num": 153}}]',
    "tools": '[{"name": "is_armstrong", "description": "Armstrong check", "parameters": {"num": '
    '{"description": "The number", "type": "int"}, "base": {"type": "int", "default": 10}}}]',
}
ALPACA = {
    "instruction": "Translate to French.",
    "input": "cat",
    "output": "chat",
    "text": "Below is an instruction... ### Response: chat",
}
SUPER_NI = {
    "id": "task001-1",
    "task_name": "task001_quoref",
    "definition": "Answer the question.",
    "inputs": "Q: 2+2?",
    "targets": "4",
}
FLAN = {
    "inputs": "Premise: x. Hypothesis: y. Entailed?",
    "targets": "yes",
    "task_source": "Flan2021",
    "task_name": "anli",
    "template_type": "zs_opt",
}
GLAIVE = {
    "system": "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
    '{\n    "name": "get_news",\n    "description": "Latest news",\n    "parameters": {"type": "object", '
    '"properties": {"country": {"type": "string"}}}\n}\n',
    "chat": 'USER: Any news from the US?\n\n\nASSISTANT: <functioncall> {"name": "get_news", "arguments": '
    '\'{"country": "US"}\'} <|endoftext|>\n\n\nFUNCTION RESPONSE: {"headline": "Rain"}\n\n\n'
    "ASSISTANT: The headline is: Rain. <|endoftext|>\n\n\n",
}
OASST = {"message_id": "m1", "parent_id": None, "text": "Hello", "role": "prompter", "lang": "en"}


def load(tmp_path, rows, mode="chat", **source):
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    recipe = parse_recipe(
        {"name": "t", "mode": mode, "data": {"sources": [{"path": "data.jsonl", **source}]}},
        source=tmp_path / "recipe.yaml",
    )
    dataset, [report] = build_mixture(recipe, recipe.data.sources)
    return dataset, report


def test_sharegpt_becomes_messages_and_unused_columns_are_reported(tmp_path):
    dataset, report = load(tmp_path, [SHAREGPT])
    assert report.layout == "sharegpt"
    assert dataset[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert report.unused_columns == {"id": 1}


def test_llama_factory_function_call_and_observation_turns_become_a_tool_exchange(tmp_path):
    dataset, report = load(tmp_path, [LLAMA_FACTORY], mode="tools")
    messages = dataset[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"] == [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ]
    assert dataset[0]["tools"][0]["name"] == "get_weather" and report.unused_columns == {}


def test_hermes_function_calling_becomes_structured_tools_and_calls(tmp_path):
    dataset, report = load(tmp_path, [HERMES], mode="tools")
    row = dataset[0]
    assert report.layout == "hermes"
    assert row["tools"][0]["function"]["name"] == "get_stock_price"  # from the Python-literal <tools> block
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    call = row["messages"][1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "get_stock_price", "arguments": {"symbol": "TSLA"}}}
    assert row["messages"][2]["content"] == '{"name": "get_stock_price", "content": {"price": 250}}'
    assert report.unused_columns == {"category": 1, "id": 1, "subcategory": 1}


# The standard Hermes function-calling system prompt names the tags in prose before the real block.
HERMES_STANDARD_PROMPT = {
    "conversations": [
        {
            "from": "system",
            "value": "You are a function calling AI model. You are provided with function signatures within "
            "<tools> </tools> XML tags. You may call one or more functions to assist with the user query. Don't "
            "make assumptions about what values to plug into functions.\n<tools>\n[{'type': 'function', "
            "'function': {'name': 'search_flights', 'description': 'Find flights', 'parameters': {'type': "
            "'object', 'properties': {'origin': {'type': 'string'}, 'destination': {'type': 'string'}}, "
            "'required': ['origin', 'destination']}}}]\n</tools>\nFor each function call return a json object "
            "with function name and arguments within <tool_call> </tool_call> tags with the following schema:\n"
            "<tool_call>\n{'arguments': <args-dict>, 'name': <function-name>}\n</tool_call>\n",
        },
        {"from": "human", "value": "Flights from Oslo to Rome?"},
        {
            "from": "gpt",
            "value": "<tool_call>\n{'arguments': {'origin': 'Oslo', 'destination': 'Rome'}, 'name': "
            "'search_flights'}\n</tool_call>",
        },
    ]
}


def test_hermes_tools_come_from_the_real_block_not_the_tags_named_in_prose(tmp_path):
    dataset, report = load(tmp_path, [HERMES_STANDARD_PROMPT], mode="tools")
    row = dataset[0]
    assert [tool["function"]["name"] for tool in row["tools"]] == ["search_flights"]
    assert row["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"origin": "Oslo", "destination": "Rome"}


def test_hermes_calls_without_any_offered_tool_are_counted_with_the_reason(tmp_path):
    system = {"from": "system", "value": "Functions go within <tools> </tools> XML tags."}
    row = {"conversations": [system, *HERMES_STANDARD_PROMPT["conversations"][1:]]}
    dataset, report = load(tmp_path, [HERMES_STANDARD_PROMPT, row], mode="tools")
    assert len(dataset) == 1
    [(reason, rows)] = report.bad_rows.items()
    assert "no system turn lists them in a <tools> block" in reason and rows == [1]  # numbered from 0


def test_a_columns_mapping_that_breaks_a_detected_layout_says_the_layout_is_read_without_it(tmp_path):
    with pytest.raises(DataError, match="read as layout sharegpt .*drop `columns:`"):
        load(tmp_path, [SHAREGPT], mode="chat", columns={"messages": "conversations"})


def test_python_type_names_in_tool_schemas_become_json_schema_types(tmp_path):
    tools = [
        {
            "name": "find",
            "parameters": {
                "query": {"type": "str"},
                "limit": {"type": "int, optional"},
                "tags": {"type": "List[str]"},
                "ratio": {"type": "float"},
                "strict": {"type": "bool"},
                "extra": {"type": "Dict[str, Any]"},
                "names": {"type": "List[string]"},
                "kind": {"type": "str", "enum": ["str", "int"], "default": {"type": "int"}},
            },
        }
    ]
    row = {"query": "Find cats", "answers": [{"name": "find", "arguments": {"query": "cats"}}], "tools": tools}
    dataset, _ = load(tmp_path, [row], mode="tools")
    parameters = dataset[0]["tools"][0]["function"]["parameters"]
    types = {name: spec["type"] for name, spec in parameters["properties"].items()}
    assert types == {
        "query": "string",
        "limit": "integer",
        "tags": "array",
        "ratio": "number",
        "strict": "boolean",
        "extra": "object",
        "names": "array",
        "kind": "string",
    }
    assert parameters["properties"]["tags"]["items"] == parameters["properties"]["names"]["items"] == {"type": "string"}
    assert parameters["properties"]["kind"]["enum"] == ["str", "int"]  # values, not types: as they were
    assert parameters["properties"]["kind"]["default"] == {"type": "int"}
    assert "limit" not in parameters["required"]


def test_hermes_thinking_variant_keeps_the_thoughts_as_reasoning_content(tmp_path):
    dataset, _ = load(tmp_path, [HERMES_THINKING], mode="tools")
    messages = dataset[0]["messages"]
    assert messages[1]["reasoning_content"] == "I should call convert."
    assert messages[1]["tool_calls"][0]["function"] == {"name": "convert", "arguments": {"amount": 100}}
    assert messages[3] == {"role": "assistant", "reasoning_content": "Done.", "content": "About 92 EUR."}


def test_xlam_answers_become_tool_calls_and_parameter_maps_json_schemas(tmp_path):
    dataset, report = load(tmp_path, [XLAM], mode="tools")
    row = dataset[0]
    assert report.layout == "xlam"
    assert row["messages"][1]["tool_calls"][0]["function"] == {"name": "is_armstrong", "arguments": {"num": 153}}
    parameters = row["tools"][0]["function"]["parameters"]
    assert parameters["type"] == "object" and parameters["required"] == ["num"]  # `base` has a default
    assert report.unused_columns == {"id": 1}


def test_alpaca_joins_instruction_and_input(tmp_path):
    dataset, report = load(tmp_path, [ALPACA, {**ALPACA, "input": ""}], mode="instruct")
    assert report.layout == "alpaca"
    assert dataset[0]["prompt"] == [{"role": "user", "content": "Translate to French.\n\ncat"}]
    assert dataset[1]["prompt"] == [{"role": "user", "content": "Translate to French."}]
    assert dataset[0]["completion"] == [{"role": "assistant", "content": "chat"}]
    assert report.unused_columns == {"text": 2}  # Alpaca's pre-rendered prompt, not trained on


def test_super_natural_instructions_keep_the_definition(tmp_path):
    dataset, report = load(tmp_path, [SUPER_NI], mode="instruct")
    assert report.layout == "natural_instructions"
    assert dataset[0]["prompt"][0]["content"] == "Answer the question.\n\nQ: 2+2?"
    assert report.unused_columns == {"id": 1, "task_name": 1}


def test_flan_inputs_and_targets(tmp_path):
    dataset, report = load(tmp_path, [FLAN], mode="instruct")
    assert report.layout == "flan" and dataset[0]["completion"][0]["content"] == "yes"
    assert set(report.unused_columns) == {"task_source", "task_name", "template_type"}


def test_glaive_chat_text_is_parsed_into_turns_and_calls(tmp_path):
    dataset, report = load(tmp_path, [GLAIVE], mode="tools")
    messages = dataset[0]["messages"]
    assert report.layout == "glaive"
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["tool_calls"][0]["function"] == {"name": "get_news", "arguments": {"country": "US"}}
    assert messages[3]["content"] == "The headline is: Rain."
    assert dataset[0]["tools"][0]["function"]["name"] == "get_news"


def test_glaive_text_that_cannot_be_parsed_is_counted_with_a_hint(tmp_path):
    _, report = load(
        tmp_path, [GLAIVE, {"system": "", "chat": "USER: hi\n\nASSISTANT: <functioncall> {broken"}], mode="tools"
    )
    [(reason, rows)] = report.bad_rows.items()
    assert rows == [1] and "functioncall is neither JSON nor a literal" in reason


def test_oasst_trees_are_refused_with_a_hint(tmp_path):
    with pytest.raises(DataError, match="message_id/parent_id.*flattened export"):
        load(tmp_path, [OASST])


def test_unknown_layouts_name_the_columns_and_the_ways_to_map_them(tmp_path):
    with pytest.raises(DataError, match=r"no known layout for rows with columns \['answer', 'question'\].*columns:"):
        load(tmp_path, [{"question": "q", "answer": "a"}])
    with pytest.raises(DataError, match="layout: unknown 'sharegtp'"):
        load(tmp_path, [SHAREGPT], layout="sharegtp")


def test_columns_can_build_one_field_from_several(tmp_path):
    dataset, report = load(
        tmp_path, [ALPACA], mode="instruct", columns={"prompt": ["instruction", "input"], "completion": "output"}
    )
    assert report.layout == "prompt_completion"
    assert dataset[0]["prompt"][0]["content"] == "Translate to French.\n\ncat"
    assert report.unused_columns == {"text": 1}


def test_validate_reads_the_first_rows_and_fails_on_a_source_without_usable_rows(tmp_path):
    (tmp_path / "data.jsonl").write_text(
        "\n".join(json.dumps({"messages": [{"role": "user", "content": "q"}]}) for _ in range(300)) + "\n"
    )
    recipe = parse_recipe(
        {"name": "t", "mode": "chat", "data": {"sources": [{"path": "data.jsonl"}]}}, source=tmp_path / "recipe.yaml"
    )
    valid, report = check_source(recipe.data.sources[0], recipe, limit=100)
    assert report.rows_read == 100 and len(valid) == 0
    from click.testing import CliRunner

    from harness.cli import main

    (tmp_path / "recipe.yaml").write_text("name: t\nmode: chat\ndata:\n  sources:\n    - path: data.jsonl\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    assert "data.jsonl: no usable row in the first 100" in result.output and "no assistant turn" in result.output


def test_check_template_renders_the_recipes_own_rows_with_their_loss(tmp_path, harness_cache):
    from click.testing import CliRunner

    from harness.cli import main

    (tmp_path / "data.jsonl").write_text(json.dumps(LLAMA_FACTORY) + "\n")
    (tmp_path / "recipe.yaml").write_text("name: t\nmode: tools\ndata:\n  sources:\n    - path: data.jsonl\n")
    result = CliRunner().invoke(main, ["check-template", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 0, result.output
    assert "== data.jsonl row 0: ok" in result.output and "end of turn '<|im_end|>'" in result.output
    assert (
        '[[<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call><|im_end|>]]' in result.output
    )
    assert '<tool_response>{"temp": 3}</tool_response>' in result.output  # the tool result, without loss
    assert "== built-in reasoning (shown for that mode; not this recipe's): ok" in result.output

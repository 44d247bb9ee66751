"""What a base model can do before fine-tuning: greedy probes in the pretraining corpus's plain-text forms.

Pretraining logs them every few hundred steps and `benchmarks/base_skills.py` prints them for any base, so a
candidate base is judged by the skills the recipes need before a recipe is run on it. All on items the corpus
never holds:
- near: a random sequence written again right after it (what the chat and tools recipes copy with);
- far: the same, 150-450 tokens of other documents later (a call copies its name from a tool list that far up);
- recall: a fact stated among others, asked about ("Where does Tom live?\\nTom lives in" -> the city);
- dictionary: the translation test pairs of the instruct suite, in the corpus's dictionary forms;
- schema: an unseen tool's schema, its request, then `<tool_call>{"name": "` -> the offered tool's name.
"""

from __future__ import annotations

import json
import random

SKILLS = ("near", "far", "recall", "dictionary", "schema")
N = 60


def continuation(model, tokenizer, prompt: str, tokens: int) -> str:
    import torch

    ids = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)


def cases(tokenizer, n: int = N) -> dict[str, list[tuple[str, str]]]:
    """Skill -> [(prompt, expected start of the continuation)]."""
    from harness.data.builtin import corpus, generate
    from harness.data.builtin.instruct import LANGUAGES, VOCABULARY

    rng = random.Random("base-skills")
    near, far, recall = [], [], []
    for _ in range(n):
        sequence = " ".join(corpus.random_token(rng) for _ in range(rng.randint(3, 8)))
        near.append((f"Line: {sequence}\nAgain:", f" {sequence}"))
        filler = ""
        target = rng.randint(150, 450)
        while len(tokenizer(filler)["input_ids"]) < target:
            filler += corpus.KINDS[rng.choice(["record", "facts", "list", "arithmetic"])](rng) + "\n"
        far.append((f"Line: {sequence}\n{filler}Again:", f" {sequence}"))
        people = rng.sample(corpus.NAMES, 3)
        homes = [rng.choice(corpus.CITIES) for _ in people]
        statements = " ".join(f"{person} lives in {home}." for person, home in zip(people, homes, strict=True))
        asked = rng.randrange(3)
        recall.append((f"{statements}\nWhere does {people[asked]} live?\n{people[asked]} lives in", f" {homes[asked]}"))
    dictionary = []
    for row in generate("instruct", "test", 400, families=["translate_word"]):
        entry = next(e for e in VOCABULARY if e[0] == row["meta"]["key"].split(":")[-1])
        target = LANGUAGES.index(row["meta"]["language"])
        if target == 0:  # the corpus names English last: "fr: chat / en: cat"
            dictionary.append((f"fr: {entry[1]} / en:", f" {entry[0]}"))
        else:  # and the others in a row: "cat = chat = Katze = gato"
            dictionary.append((" = ".join(entry[:target]) + " =", f" {entry[target]}"))
    schema = []
    for row in generate("tools", "test", 400, unseen_share=1.0):
        if row["meta"]["category"] != "simple":
            continue
        tools = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in json.loads(row["tools"]))
        request = row["messages"][0]["content"]
        schema.append((f'<tools>\n{tools}\n</tools>\n{request}\n<tool_call>{{"name": "', row["meta"]["tool"]))
    return {"near": near, "far": far, "recall": recall, "dictionary": dictionary, "schema": schema[:n]}


def probe(model, tokenizer, n: int = N) -> dict:
    """Skill -> {rate, n}: the share of greedy continuations that start as expected."""
    was_training = model.training
    model.eval()
    result = {}
    for skill, items in cases(tokenizer, n).items():
        hits = sum(continuation(model, tokenizer, prompt, 24).startswith(expected) for prompt, expected in items)
        result[skill] = {"rate": round(hits / len(items), 3), "n": len(items)}
    model.train(was_training)
    return result

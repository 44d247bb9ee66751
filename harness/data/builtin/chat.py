"""Multi-turn conversations, some with a system prompt, whose last answer depends on earlier turns.

Kinds: `recall` (a fact stated earlier), `list` (state kept across turns), `persona` (the system prompt
names the assistant), `style` (the system prompt sets the form of every answer), `number` (a value
updated turn by turn). The last assistant turn is the one evaluation scores.
"""

from __future__ import annotations

import random

from harness.data.builtin import draw

NAMES = ["Anna", "Tom", "Li", "Omar", "Sara", "Ivan", "Nora", "Paul", "Maya", "Hugo"]
FACTS = {
    "name": ("My name is {v}.", "What is my name?", "Your name is {v}.", NAMES),
    "colour": (
        "My favourite colour is {v}.",
        "What is my favourite colour?",
        "Your favourite colour is {v}.",
        ["blue", "green", "red", "yellow", "purple", "orange"],
    ),
    "city": (
        "I live in {v}.",
        "Where do I live?",
        "You live in {v}.",
        ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Seoul"],
    ),
    "pet": (
        "My dog is called {v}.",
        "What is my dog called?",
        "Your dog is called {v}.",
        ["Rex", "Bella", "Max", "Luna", "Coco"],
    ),
}
ITEMS = ["eggs", "milk", "bread", "rice", "apples", "cheese", "tea", "butter"]
BOTS = ["Ada", "Orbit", "Pixel", "Sage", "Nova", "Echo"]
GREETINGS = ["Say hello to {n}.", "Greet {n}.", "Say good morning to {n}."]


def _recall(rng):
    kinds = rng.sample(sorted(FACTS), 2)
    values = {k: rng.choice(FACTS[k][3]) for k in kinds}
    messages = []
    for kind in kinds:
        messages += [
            {"role": "user", "content": FACTS[kind][0].format(v=values[kind])},
            {"role": "assistant", "content": "Got it."},
        ]
    asked = rng.choice(kinds)
    messages += [
        {"role": "user", "content": FACTS[asked][1]},
        {"role": "assistant", "content": FACTS[asked][2].format(v=values[asked])},
    ]
    return f"recall:{sorted(values.items())}:{asked}", messages


def _list(rng):
    items = rng.sample(ITEMS, rng.randint(2, 4))
    messages = [
        {"role": "user", "content": f"Start a shopping list with {items[0]}."},
        {"role": "assistant", "content": f"Your list: {items[0]}."},
    ]
    for i, item in enumerate(items[1:], start=2):
        messages += [
            {"role": "user", "content": f"Add {item}."},
            {"role": "assistant", "content": f"Your list: {', '.join(items[:i])}."},
        ]
    if rng.random() < 0.5:
        messages += [
            {"role": "user", "content": "How many items are on my list?"},
            {"role": "assistant", "content": f"There are {len(items)} items on your list."},
        ]
    else:
        messages += [
            {"role": "user", "content": "What is the first item on my list?"},
            {"role": "assistant", "content": f"The first item is {items[0]}."},
        ]
    return f"list:{items}:{messages[-2]['content']}", messages


def _persona(rng):
    bot, user = rng.choice(BOTS), rng.choice(NAMES)
    question, answer = rng.choice(
        [("What is your name?", f"My name is {bot}."), ("Who are you?", f"I am {bot}, your assistant.")]
    )
    messages = [
        {"role": "system", "content": f"You are {bot}, a helpful assistant."},
        {"role": "user", "content": f"Hi, I am {user}."},
        {"role": "assistant", "content": f"Hello {user}!"},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]
    return f"persona:{bot}:{user}:{question}", messages


def _style(rng):
    name, greeting = rng.choice(NAMES), rng.choice(GREETINGS)
    styles = {
        "upper": ("Always answer in uppercase.", str.upper),
        "plain": ("You are a friendly assistant.", str),
        "excited": ("Always end your answer with three exclamation marks.", lambda s: s.rstrip(".!") + "!!!"),
    }
    style = rng.choice(sorted(styles))
    system, apply = styles[style]
    phrase = {
        "Say hello to {n}.": "Hello {n}.",
        "Greet {n}.": "Hi {n}, nice to meet you.",
        "Say good morning to {n}.": "Good morning {n}.",
    }[greeting].format(n=name)
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": greeting.format(n=name)},
        {"role": "assistant", "content": apply(phrase)},
    ]
    return f"style:{style}:{greeting}:{name}", messages


def _number(rng):
    start, add = rng.randint(2, 60), rng.randint(2, 30)
    total = start + add
    messages = [
        {"role": "user", "content": f"Remember the number {start}."},
        {"role": "assistant", "content": f"I will remember {start}."},
        {"role": "user", "content": f"Add {add} to it."},
        {"role": "assistant", "content": f"{start} + {add} = {total}."},
        {"role": "user", "content": "What is the number now?"},
        {"role": "assistant", "content": f"The number is {total}."},
    ]
    return f"number:{start}+{add}", messages


KINDS = {"recall": _recall, "list": _list, "persona": _persona, "style": _style, "number": _number}


def _example(rng: random.Random):
    kind = rng.choice(sorted(KINDS))
    key, messages = KINDS[kind](rng)
    for message in messages:
        message["tool_calls"] = None
    return key, {
        "messages": messages,
        "tools": None,
        "meta": {"task": f"chat/{kind}", "kind": kind, "cluster": "dialogue"},
    }


def generate(split: str, n: int, seed: int = 0) -> list[dict]:
    return draw(_example, split, n, seed, namespace="chat")

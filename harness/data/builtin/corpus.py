"""Plain-text documents for pretraining the embedded base: the skills the four modes need, as text.

Nothing here is an instruction or a conversation: copying (a sequence written twice), reading values
into JSON objects and `<tool_call>` blocks, facts stated and recalled, lists kept up to date, arithmetic,
and the four languages' words with their transformations (upper case, reversed, sorted, counted). A
fine-tune then only has to learn to follow instructions with these skills (FLAN's premise). The pools
are the generators' own words; the sentences, function names and layouts are not the generators', so
no evaluation item appears here.
"""

from __future__ import annotations

import json
import random
import string

from harness.data.builtin.chat import BOTS, ITEMS, NAMES
from harness.data.builtin.instruct import VOCABULARY
from harness.data.builtin.tools import TOOLS, UNSEEN_TOOLS

LANGUAGES = ("en", "fr", "de", "es")
CITIES = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Seoul", "Tokyo", "Madrid", "Berlin", "Quito", "Dakar", "Perth"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
COLOURS = ["blue", "green", "red", "yellow", "purple", "orange", "black", "white"]
WORDS = [word for entry in VOCABULARY for word in entry] + ITEMS + COLOURS + DAYS

# Generic fields for records: name -> how to draw a value.
FIELDS = {
    "name": lambda rng: rng.choice(NAMES),
    "city": lambda rng: rng.choice(CITIES),
    "day": lambda rng: rng.choice(DAYS),
    "colour": lambda rng: rng.choice(COLOURS),
    "count": lambda rng: rng.randint(1, 99),
    "year": lambda rng: rng.randint(1950, 2030),
    "price": lambda rng: rng.randint(1, 500),
    "item": lambda rng: rng.choice(ITEMS),
    "word": lambda rng: rng.choice(WORDS),
    "code": lambda rng: _code(rng),
    "title": lambda rng: " ".join(rng.sample(WORDS, 2)),
    "size": lambda rng: rng.choice(["small", "medium", "large"]),
    "enabled": lambda rng: rng.random() < 0.5,
    "level": lambda rng: rng.randint(0, 10),
}
VERBS = ["find", "get", "list", "open", "check", "create", "update", "delete", "add", "show", "order", "rate"]
OBJECTS = ["note", "file", "order", "ticket", "song", "room", "car", "task", "photo", "event", "plant", "card"]
GENERATOR_TOOLS = {tool.name for tool in TOOLS + UNSEEN_TOOLS}

FACT_FORMS = {  # relation -> statement, question, answer
    "city": ("{n} lives in {v}.", "Where does {n} live?", "{n} lives in {v}."),
    "colour": ("{n} likes the colour {v}.", "Which colour does {n} like?", "{n} likes {v}."),
    "pet": ("{n} has a pet called {v}.", "What is the pet of {n} called?", "It is called {v}."),
    "day": ("{n} works on {v}.", "When does {n} work?", "On {v}."),
}
PETS = ["Rex", "Bella", "Max", "Luna", "Coco", "Milo", "Kiwi"]


def _code(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randint(3, 6)))


def random_token(rng: random.Random) -> str:
    """A word, a name or a city (60%), a number, or a random code."""
    kind = rng.random()
    if kind < 0.6:
        return rng.choice(WORDS + NAMES + CITIES)
    return str(rng.randint(0, 999)) if kind < 0.8 else _code(rng)


def _repeat(rng):
    """A sequence written again (and again): what induction heads, and so all copying, are learned from."""
    sequence = " ".join(random_token(rng) for _ in range(rng.randint(3, 16)))
    form = rng.choice(["{s}\n{s}", "A: {s}\nB: {s}", "{s} | {s}", "Line: {s}\nAgain: {s}", "{s}\n{s}\n{s}"])
    return form.format(s=sequence)


def _value_text(value) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _record(rng):
    fields = rng.sample(sorted(FIELDS), rng.randint(1, 4))
    record = {field: FIELDS[field](rng) for field in fields}
    clauses = [
        rng.choice(["{k} is {v}", "the {k} is {v}", "{k}: {v}", "{k} = {v}"]).format(k=k, v=_value_text(v))
        for k, v in record.items()
    ]
    sentence = ", ".join(clauses)
    sentence = sentence[0].upper() + sentence[1:] + "."
    if rng.random() < 0.4:
        name = f"{rng.choice(VERBS)}_{rng.choice(OBJECTS)}"
        while name in GENERATOR_TOOLS:
            name = f"{rng.choice(VERBS)}_{rng.choice(OBJECTS)}"
        call = json.dumps({"name": name, "arguments": record})
        return f"{sentence}\nCall {name} with these values:\n<tool_call>{call}</tool_call>"
    data = json.dumps(record)
    return f"{sentence}\n{data}" if rng.random() < 0.7 else f"{data}\n{sentence}"


def _time(rng):
    hour, minute = rng.randint(0, 23), rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50])
    text = f"{hour}:{minute:02d}"
    return rng.choice(
        [
            f"At {text} the hour is {hour} and the minute is {minute}.",
            f"{text}\n{json.dumps({'hour': hour, 'minute': minute})}",
            f"The time {text} has hour {hour}, minute {minute}.",
        ]
    )


def _facts(rng):
    people = rng.sample(NAMES, rng.randint(2, 4))
    pools = {"city": CITIES, "colour": COLOURS, "pet": PETS, "day": DAYS}
    facts = [
        (person, relation, rng.choice(pools[relation]))
        for person in people
        for relation in rng.sample(sorted(FACT_FORMS), rng.randint(1, 2))
    ]
    rng.shuffle(facts)
    lines = [FACT_FORMS[relation][0].format(n=person, v=value) for person, relation, value in facts]
    for person, relation, value in rng.sample(facts, min(len(facts), rng.randint(1, 3))):
        lines += [FACT_FORMS[relation][1].format(n=person), FACT_FORMS[relation][2].format(n=person, v=value)]
    if rng.random() < 0.3:
        bot = rng.choice(BOTS)
        lines = [f"This is {bot}, an assistant.", *lines, "Who is the assistant?", f"The assistant is {bot}."]
    return "\n".join(lines)


def _list(rng):
    items = rng.sample(ITEMS + COLOURS, rng.randint(2, 5))
    lines = [f"List: {items[0]}."]
    for i, item in enumerate(items[1:], start=2):
        lines += [f"Add {item}.", f"List: {', '.join(items[:i])}."]
    lines += [f"Items: {len(items)}. First: {items[0]}. Last: {items[-1]}."]
    return "\n".join(lines)


def _arithmetic(rng):
    value = rng.randint(1, 99)
    lines = []
    for _ in range(rng.randint(1, 4)):
        other = rng.randint(1, 99)
        if rng.random() < 0.5 or other > value:
            lines.append(f"{value} + {other} = {value + other}")
            value += other
        else:
            lines.append(f"{value} - {other} = {value - other}")
            value -= other
    return ". ".join(lines) + "."


def _words(rng):
    language = rng.randrange(len(LANGUAGES))
    words = [entry[language] for entry in rng.sample(VOCABULARY, rng.randint(2, 5))]
    numbers = rng.sample(range(1, 100), rng.randint(3, 6))
    forms = [
        f"{' '.join(words)}\n{' '.join(words).upper()}",
        f"{' '.join(words)}\n{' '.join(reversed(words))}",
        f"{' '.join(words)} ({len(words)} words)",
        f"{' '.join(map(str, numbers))}\n{' '.join(map(str, sorted(numbers)))}",
        " = ".join(rng.choice(VOCABULARY)),
        "\n".join(f"{LANGUAGES[language]}: {entry[language]} / en: {entry[0]}" for entry in rng.sample(VOCABULARY, 3)),
    ]
    return rng.choice(forms)


def _far_repeat(rng):
    """A sequence, a few hundred tokens of other documents, then the sequence again: copying from far up, as a
    tool call copies a name from a tool list hundreds of tokens earlier."""
    sequence = " ".join(random_token(rng) for _ in range(rng.randint(3, 10)))
    filler = "\n".join(
        KINDS[rng.choice(["record", "facts", "list", "arithmetic", "words"])](rng) for _ in range(rng.randint(2, 10))
    )
    first, again = rng.choice(
        [
            ("Line: {s}", "Again: {s}"),
            ("Code: {s}", "The code was {s}"),
            ("Remember: {s}", "Recall: {s}"),
            ("{s}", "{s}"),
        ]
    )
    return f"{first.format(s=sequence)}\n{filler}\n{again.format(s=sequence)}"


API_VERBS = VERBS + ["send", "search", "set", "play", "track", "cancel", "count", "fetch", "convert", "plan", "share"]
API_NOUNS = sorted(
    {entry[0] for entry in VOCABULARY}
    | set(ITEMS + OBJECTS)
    | {"price", "score", "user", "account", "flight", "hotel", "recipe", "movie", "invoice", "balance", "route"}
    | {"distance", "forecast", "meeting", "alarm", "playlist", "message", "budget", "stock", "news", "review"}
    | {"parcel", "contact", "profile", "lesson", "garden", "train", "rating", "title", "language", "colour"}
)
# No part of an unseen tool's name: the schema probe asks for one of those names, so its words must be copied.
UNSEEN_NAME_PARTS = {part for tool in UNSEEN_TOOLS for part in tool.name.split("_")} - set(API_VERBS)
API_NOUNS = [noun for noun in API_NOUNS if noun not in UNSEEN_NAME_PARTS]


def _api_name(rng) -> str:
    """verb_noun or verb_noun_noun, never a tool of the built-in tools generator (training or unseen)."""
    while True:
        parts = [rng.choice(API_VERBS), *rng.sample(API_NOUNS, 1 if rng.random() < 0.75 else 2)]
        name = "_".join(parts)
        if name not in GENERATOR_TOOLS:
            return name


def _api_tool(rng, name: str) -> tuple[dict, dict]:
    """An invented tool's JSON schema and the arguments of one call to it."""
    fields = rng.sample(sorted(FIELDS), rng.randint(1, 3))
    types = {bool: "boolean", int: "integer", str: "string"}
    arguments = {field: FIELDS[field](rng) for field in fields}
    properties = {
        field: {"type": types[type(value)], "description": rng.choice([f"The {field}", field.capitalize()])}
        for field, value in arguments.items()
    }
    verb, *nouns = name.split("_")
    thing = " ".join(nouns)
    description = rng.choice([f"{verb.capitalize()} the {thing}.", f"{verb.capitalize()} a {thing} by {fields[0]}."])
    schema = {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": fields},
        },
    }
    return schema, arguments


def _api(rng):
    """API documentation: one to six tools (JSON schemas), other text, then a request and the call it takes.
    The request names the tool's subject, seldom its verb, so the call's name has to be copied from the
    listing (an unseen tool's name comes only from its schema), not put together from the request. Names
    are never the built-in tools generator's (its training and unseen tools), so no evaluation tool appears."""
    names = []
    count = 1 if rng.random() < 0.35 else rng.randint(2, 6)
    while len(names) < count:
        name = _api_name(rng)
        if all(name.split("_")[1:] != other.split("_")[1:] for other in names):  # one tool per subject
            names.append(name)
    tools = [_api_tool(rng, name) for name in names]
    chosen, arguments = rng.choice(tools)
    name = chosen["function"]["name"]
    listing = "\n".join(json.dumps(schema) for schema, _ in tools)
    filler = "\n".join(KINDS[rng.choice(["record", "facts", "words"])](rng) for _ in range(rng.randint(0, 6)))
    values = " and ".join(f"{k} {_value_text(v)}" for k, v in arguments.items())
    verb, *nouns = name.split("_")
    thing = " ".join(nouns)
    request = rng.choice(
        [
            f"What is the {thing} for {values}?",
            f"I need the {thing}: {values}.",
            f"Can you help with the {thing}? {values}.",
            f"{values[0].upper()}{values[1:]}, the {thing} please.",
            f"Please {verb} the {thing} with {values}.",
        ]
    )
    call = json.dumps({"name": name, "arguments": arguments})
    return f"<tools>\n{listing}\n</tools>\n{filler}\n{request}\n<tool_call>{call}</tool_call>".replace("\n\n", "\n")


def _dictionary(rng):
    """One word of the four languages in one of many phrasings: knowledge stated in many forms is what makes
    it extractable later (Allen-Zhu and Li, Physics of Language Models 3.1)."""
    entry = rng.choice(VOCABULARY)
    source, target = rng.sample(range(len(LANGUAGES)), 2)
    names = {"en": "English", "fr": "French", "de": "German", "es": "Spanish"}
    a, b = entry[source], entry[target]
    la, lb = LANGUAGES[source], LANGUAGES[target]
    return rng.choice(
        [
            f"The {names[lb]} word for {a} is {b}.",
            f"{a} ({la}) means {b} in {names[lb]}.",
            f"{la}: {a} / {lb}: {b}",
            f"In {names[lb]}, {a} is {b}.",
            f"{a} -> {b} ({names[la]} to {names[lb]})",
            " = ".join(entry),
        ]
    )


KINDS = {  # kind -> maker; WEIGHTS: documents of each kind in every 12
    "repeat": _repeat,
    "record": _record,
    "time": _time,
    "facts": _facts,
    "list": _list,
    "arithmetic": _arithmetic,
    "words": _words,
    "far_repeat": _far_repeat,
    "api": _api,
    "dictionary": _dictionary,
}


WEIGHTS = {"repeat": 4, "record": 2, "facts": 2, "time": 1, "list": 1, "arithmetic": 1, "words": 1}


def documents(n: int, seed: int = 0) -> list[str]:
    """`n` documents, the kinds in the proportions of WEIGHTS (copying most: it is learned last)."""
    rng = random.Random(f"corpus/{seed}")
    cycle = [kind for kind, weight in WEIGHTS.items() for _ in range(weight)]
    return [KINDS[cycle[i % len(cycle)]](rng) for i in range(n)]


CURRICULUM = [  # (share of the planned steps where a stage starts, the mix of that stage); the last started runs
    (0.0, WEIGHTS),  # the shipped corpus's copy-heavy mix first, so that induction heads form
    # then copying from far up, API documents whose calls name a tool listed earlier, words in many phrasings
    (0.15, {**WEIGHTS, "repeat": 2, "far_repeat": 2, "api": 3, "dictionary": 3}),
]


def documents_for_step(rng: random.Random, step: int, total: int, n: int) -> list[str]:
    """`n` documents for pretraining step `step` of `total`, in the mix of the curriculum stage it is in."""
    weights = [stage for start, stage in CURRICULUM if step >= start * total][-1]
    cycle = [kind for kind, weight in weights.items() for _ in range(weight)]
    return [KINDS[rng.choice(cycle)](rng) for _ in range(n)]

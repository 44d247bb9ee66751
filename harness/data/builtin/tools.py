"""Tool-calling conversations over JSON-schema tools.

Categories (as BFCL names them): `simple` (one tool offered, one call), `multiple` (several offered,
one right), `parallel` (two calls in one turn), `irrelevance` (no offered tool fits: answer in words),
`response` (a tool result comes back and the assistant answers from it), and `multi_step` (a conversation
played in one of `environments.py`'s worlds: look up, act on the result, answer, over one or two user
turns). `UNSEEN_TOOLS` never
appear in train or validation rows: on the test split they check that the model reads the schema it
is given instead of recalling tools it was trained on. Arguments are stored as JSON strings, as Arrow
cannot hold argument values of mixed types.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from harness.data.builtin import draw

CITIES = ["Paris", "Rome", "Berlin", "Madrid", "Tokyo", "Cairo", "Lima", "Oslo", "Seoul", "Dublin", "Lisbon", "Vienna"]
PEOPLE = ["anna", "tom", "li", "omar", "sara", "ivan", "nora", "paul"]
WORDS = ["hello", "thank you", "good night", "see you soon", "where is the station", "I like tea"]
CURRENCIES = ["USD", "EUR", "JPY", "GBP"]
LANGUAGES = ["french", "german", "spanish", "italian"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "TSLA", "GOOG"]
ARTISTS = ["Adele", "Queen", "Miles Davis", "Bach", "Shakira", "Daft Punk"]
COUNTRIES = ["France", "Japan", "Brazil", "Kenya", "Canada", "India"]
RESTAURANTS = ["Luigi's", "The Blue Door", "Sakura", "El Patio"]
OFF_TOPIC = [
    "Tell me a joke about cats.",
    "Write a short poem about the sea.",
    "What is your favourite colour?",
    "How do I tie a tie?",
    "Give me a fun fact about owls.",
    "Can you recommend a good book?",
    "What is the meaning of life?",
    "How are you today?",
]
NO_TOOL_ANSWER = "I cannot help with that using the available tools."


def _schema(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def _string(description: str, enum: list[str] | None = None) -> dict:
    return {"type": "string", "description": description, **({"enum": enum} if enum else {})}


@dataclass(frozen=True)
class Tool:
    schema: dict
    # rng -> (request sentence, arguments); `phrase` of a second call joins parallel requests.
    request: Callable[[random.Random], tuple[str, dict]]
    # arguments -> (tool result, final answer from it)
    respond: Callable[[dict], tuple[dict, str]]

    @property
    def name(self) -> str:
        return self.schema["function"]["name"]


def _weather(rng):
    city = rng.choice(CITIES)
    if rng.random() < 0.4:
        unit = rng.choice(["celsius", "fahrenheit"])
        return rng.choice([f"What is the weather in {city} in {unit}?", f"Tell me the {city} weather in {unit}."]), {
            "city": city,
            "unit": unit,
        }
    return rng.choice([f"What is the weather in {city}?", f"How is the weather in {city} today?"]), {"city": city}


def _currency(rng):
    source, target = rng.sample(CURRENCIES, 2)
    amount = rng.randint(2, 500)
    text = rng.choice([f"Convert {amount} {source} to {target}.", f"How much is {amount} {source} in {target}?"])
    return text, {"amount": amount, "from_currency": source, "to_currency": target}


def _alarm(rng):
    hour, minute = rng.randint(0, 23), rng.choice([0, 5, 10, 15, 20, 30, 45, 50])
    if rng.random() < 0.3:
        label = rng.choice(["gym", "work", "medicine", "call mom"])
        return f"Set an alarm for {hour}:{minute:02d} called {label}.", {"hour": hour, "minute": minute, "label": label}
    return rng.choice([f"Set an alarm for {hour}:{minute:02d}.", f"Wake me up at {hour}:{minute:02d}."]), {
        "hour": hour,
        "minute": minute,
    }


def _email(rng):
    person, subject = rng.choice(PEOPLE), rng.choice(["lunch", "the report", "holidays", "the meeting"])
    return f"Send an email to {person}@example.com about {subject}.", {
        "to": f"{person}@example.com",
        "subject": subject,
    }


def _flights(rng):
    origin, destination = rng.sample(CITIES, 2)
    if rng.random() < 0.4:
        count = rng.randint(2, 6)
        return f"Find flights from {origin} to {destination} for {count} people.", {
            "origin": origin,
            "destination": destination,
            "passengers": count,
        }
    return rng.choice(
        [f"Find flights from {origin} to {destination}.", f"Search flights {origin} to {destination}."]
    ), {"origin": origin, "destination": destination}


def _tip(rng):
    bill, percent = round(rng.randint(500, 20000) / 100, 2), rng.choice([10, 12, 15, 18, 20, 25])
    return rng.choice(
        [f"What is a {percent}% tip on {bill}?", f"Calculate a {percent} percent tip for a bill of {bill}."]
    ), {"bill": bill, "percent": percent}


def _translate(rng):
    text, language = rng.choice(WORDS), rng.choice(LANGUAGES)
    return rng.choice([f"Translate '{text}' into {language}.", f"How do you say '{text}' in {language}?"]), {
        "text": text,
        "target_language": language,
    }


def _stock(rng):
    symbol = rng.choice(SYMBOLS)
    return rng.choice([f"What is the stock price of {symbol}?", f"Get me the price of {symbol} shares."]), {
        "symbol": symbol
    }


def _music(rng):
    artist = rng.choice(ARTISTS)
    if rng.random() < 0.3:
        return f"Play {artist} on shuffle.", {"artist": artist, "shuffle": True}
    return rng.choice([f"Play some {artist}.", f"Put on music by {artist}."]), {"artist": artist}


def _table(rng):
    restaurant, people = rng.choice(RESTAURANTS), rng.randint(2, 8)
    if rng.random() < 0.4:
        time = rng.choice(["19:00", "20:30", "12:15"])
        return f"Book a table at {restaurant} for {people} at {time}.", {
            "restaurant": restaurant,
            "people": people,
            "time": time,
        }
    return f"Reserve a table for {people} at {restaurant}.", {"restaurant": restaurant, "people": people}


def _population(rng):
    country = rng.choice(COUNTRIES)
    if rng.random() < 0.4:
        year = rng.choice([1990, 2000, 2010, 2020])
        return f"What was the population of {country} in {year}?", {"country": country, "year": year}
    return f"What is the population of {country}?", {"country": country}


def _reminder(rng):
    text, day = rng.choice(["buy milk", "pay rent", "water plants", "call the bank"]), rng.choice(DAYS)
    return rng.choice([f"Remind me to {text} on {day}.", f"Create a reminder on {day} to {text}."]), {
        "text": text,
        "day": day,
    }


def _respond_number(key: str, unit: str):
    def respond(args):
        value = sum(ord(c) for c in json.dumps(args, sort_keys=True)) % 90 + 5
        return {key: value}, f"The {key.replace('_', ' ')} is {value}{unit}."

    return respond


def _respond_done(args):
    return {"status": "ok"}, "Done."


TOOLS = [
    Tool(
        _schema(
            "get_weather",
            "Get the current weather in a city.",
            {"city": _string("City name"), "unit": _string("Temperature unit", ["celsius", "fahrenheit"])},
            ["city"],
        ),
        _weather,
        _respond_number("temperature", " degrees"),
    ),
    Tool(
        _schema(
            "convert_currency",
            "Convert an amount of money between currencies.",
            {
                "amount": {"type": "number", "description": "Amount to convert"},
                "from_currency": _string("Currency code to convert from", CURRENCIES),
                "to_currency": _string("Currency code to convert to", CURRENCIES),
            },
            ["amount", "from_currency", "to_currency"],
        ),
        _currency,
        _respond_number("converted_amount", ""),
    ),
    Tool(
        _schema(
            "set_alarm",
            "Set an alarm.",
            {
                "hour": {"type": "integer", "description": "Hour, 0-23"},
                "minute": {"type": "integer", "description": "Minute"},
                "label": _string("Name of the alarm"),
            },
            ["hour", "minute"],
        ),
        _alarm,
        _respond_done,
    ),
    Tool(
        _schema(
            "send_email",
            "Send an email.",
            {"to": _string("Recipient address"), "subject": _string("Subject line")},
            ["to", "subject"],
        ),
        _email,
        _respond_done,
    ),
    Tool(
        _schema(
            "search_flights",
            "Search for flights between two cities.",
            {
                "origin": _string("Departure city"),
                "destination": _string("Arrival city"),
                "passengers": {"type": "integer", "description": "Number of passengers"},
            },
            ["origin", "destination"],
        ),
        _flights,
        _respond_number("flights_found", ""),
    ),
    Tool(
        _schema(
            "calculate_tip",
            "Calculate the tip for a restaurant bill.",
            {
                "bill": {"type": "number", "description": "Bill amount"},
                "percent": {"type": "integer", "description": "Tip percentage"},
            },
            ["bill", "percent"],
        ),
        _tip,
        _respond_number("tip", ""),
    ),
    Tool(
        _schema(
            "translate_text",
            "Translate text into another language.",
            {"text": _string("Text to translate"), "target_language": _string("Language to translate into", LANGUAGES)},
            ["text", "target_language"],
        ),
        _translate,
        _respond_done,
    ),
    Tool(
        _schema(
            "get_stock_price", "Get the latest price of a stock.", {"symbol": _string("Ticker symbol")}, ["symbol"]
        ),
        _stock,
        _respond_number("price", " dollars"),
    ),
    Tool(
        _schema(
            "play_music",
            "Play music by an artist.",
            {"artist": _string("Artist name"), "shuffle": {"type": "boolean", "description": "Shuffle the tracks"}},
            ["artist"],
        ),
        _music,
        _respond_done,
    ),
]
UNSEEN_TOOLS = [
    Tool(
        _schema(
            "book_table",
            "Book a table at a restaurant.",
            {
                "restaurant": _string("Restaurant name"),
                "people": {"type": "integer", "description": "Number of people"},
                "time": _string("Time, HH:MM"),
            },
            ["restaurant", "people"],
        ),
        _table,
        _respond_done,
    ),
    Tool(
        _schema(
            "get_population",
            "Get the population of a country.",
            {"country": _string("Country name"), "year": {"type": "integer", "description": "Year"}},
            ["country"],
        ),
        _population,
        _respond_number("population_millions", " million"),
    ),
    Tool(
        _schema(
            "create_reminder",
            "Create a reminder for a day of the week.",
            {"text": _string("What to remember"), "day": _string("Day of the week", DAYS)},
            ["text", "day"],
        ),
        _reminder,
        _respond_done,
    ),
]
CATEGORIES = ("simple", "multiple", "parallel", "irrelevance", "response", "multi_step")


def _call(name: str, arguments: dict) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _example(rng: random.Random, split: str, unseen_share: float) -> tuple[str, dict]:
    category = rng.choice(CATEGORIES)
    if category == "multi_step":
        from harness.data.builtin.environments import trajectory  # it builds its tools with this module's helpers

        key, row = trajectory(rng)
        row["meta"] |= {"task": "tools/multi_step", "cluster": "tool_use", "category": category, "tool_set": "seen"}
        row["meta"]["tool"] = row["meta"]["world"]
        for message in row["messages"]:
            message.setdefault("tool_calls", None)
        return key, row
    use_unseen = split == "test" and rng.random() < unseen_share
    pool = UNSEEN_TOOLS if use_unseen else TOOLS
    tool = rng.choice(pool)
    distractors = rng.sample([t for t in TOOLS + (UNSEEN_TOOLS if split == "test" else []) if t is not tool], 2)
    if category == "simple":
        offered = [tool]
    elif category == "irrelevance":
        offered = [tool] + distractors[: rng.randint(0, 1)]
    else:
        offered = [tool] + distractors[: rng.randint(1, 2)]
    rng.shuffle(offered)

    text, arguments = tool.request(rng)
    messages = [{"role": "user", "content": text}]
    calls = [_call(tool.name, arguments)]
    key = f"{category}:{tool.name}:{json.dumps(arguments, sort_keys=True)}"
    if category == "parallel":
        second_text, second_arguments = tool.request(rng)
        if second_arguments == arguments:
            return None
        messages[0]["content"] = f"{text[:-1]}, and also: {second_text[0].lower()}{second_text[1:]}"
        calls.append(_call(tool.name, second_arguments))
        key += json.dumps(second_arguments, sort_keys=True)
    if category == "irrelevance":
        question = rng.choice(OFF_TOPIC)
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": NO_TOOL_ANSWER}]
        key = f"{category}:{question}:{','.join(sorted(t.name for t in offered))}"
    else:
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
    if category == "response":
        result, answer = tool.respond(arguments)
        messages += [{"role": "tool", "content": json.dumps(result)}, {"role": "assistant", "content": answer}]
    for message in messages:
        message.setdefault("tool_calls", None)
    row = {
        "messages": messages,
        "tools": json.dumps([t.schema for t in offered]),
        "meta": {
            "task": f"tools/{category}",
            "cluster": "tool_use",
            "category": category,
            "tool": tool.name,
            "tool_set": "unseen" if use_unseen else "seen",
        },
    }
    return key, row


def generate(split: str, n: int, seed: int = 0, unseen_share: float = 0.3) -> list[dict]:
    return draw(lambda rng: _example(rng, split, unseen_share), split, n, seed, namespace="tools")

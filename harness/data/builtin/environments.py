"""Small executable worlds for the built-in tools mode: a folder of files, a shop, a calendar.

Each is pure Python and deterministic: a world is made from a seed (its files, products and events, with
their ids), its tools are JSON schemas, and `call(name, arguments)` answers with JSON text, an error included
(an unknown tool, a missing argument, an id it does not hold), never an exception. The generator plays gold
trajectories in them (look something up, act on what came back, answer; a second user turn that refers to
the first), and the evaluation plays the model's calls in a fresh copy and compares the world's state after
each turn with the gold's (`evaluate/scorers/trajectory.py`).
"""

from __future__ import annotations

import inspect
import json
import random

from harness.data.builtin.tools import DAYS, _schema, _string

FILE_NAMES = ["notes.txt", "todo.txt", "ideas.txt", "plan.txt", "list.txt", "draft.txt", "log.txt"]
FILE_TEXTS = ["buy milk and eggs", "call the plumber", "visit grandma on sunday", "read two chapters", "fix the bike"]
PRODUCTS = ["green tea", "coffee beans", "honey", "rice", "olive oil", "dark chocolate", "oat milk", "pasta"]
EVENTS = ["dentist", "team meeting", "yoga class", "lunch with sara", "car service", "piano lesson"]


class WorldError(ValueError):
    pass


class World:
    """A world's tools are its public methods listed in `TOOLS` (the schemas say what they take)."""

    TOOLS: list[dict] = []

    def call(self, name: str, arguments: dict) -> str:
        method = getattr(self, name, None) if name in self.tool_names() else None
        if method is None:
            return json.dumps({"error": f"no tool named {name!r}"})
        try:
            inspect.signature(method).bind(**arguments)
            return json.dumps(method(**arguments))
        except TypeError as error:
            return json.dumps({"error": f"bad arguments for {name}: {error}"})
        except WorldError as error:
            return json.dumps({"error": str(error)})

    @classmethod
    def tool_names(cls) -> set[str]:
        return {tool["function"]["name"] for tool in cls.TOOLS}


class Files(World):
    TOOLS = [
        _schema("read_file", "Read a file.", {"name": _string("File name")}, ["name"]),
        _schema(
            "write_file",
            "Write text to a file.",
            {"name": _string("File name"), "content": _string("Text to write")},
            ["name", "content"],
        ),
        _schema("delete_file", "Delete a file.", {"name": _string("File name")}, ["name"]),
    ]

    def __init__(self, seed: int):
        rng = random.Random(f"files/{seed}")
        self.files = dict(zip(rng.sample(FILE_NAMES, 3), rng.sample(FILE_TEXTS, 3), strict=True))

    def read_file(self, name: str) -> dict:
        if name not in self.files:
            raise WorldError(f"no file named {name!r}")
        return {"content": self.files[name]}

    def write_file(self, name: str, content: str) -> dict:
        self.files[str(name)] = str(content)
        return {"status": "ok"}

    def delete_file(self, name: str) -> dict:
        if self.files.pop(name, None) is None:
            raise WorldError(f"no file named {name!r}")
        return {"status": "ok"}

    def state(self) -> dict:
        return {"files": dict(sorted(self.files.items()))}

    def task(self, rng: random.Random) -> list[tuple[str, list[tuple[str, dict]], str]]:
        source = rng.choice(sorted(self.files))
        target = rng.choice([n for n in FILE_NAMES if n not in self.files])
        text = self.files[source]
        turns = [
            (
                rng.choice([f"Copy {source} to {target}.", f"Make a copy of {source} called {target}."]),
                [("read_file", {"name": source}), ("write_file", {"name": target, "content": text})],
                f"Copied {source} to {target}.",
            )
        ]
        if rng.random() < 0.5:
            turns.append(
                (
                    rng.choice(["Now delete the original.", "Then remove the old file."]),
                    [("delete_file", {"name": source})],
                    f"Deleted {source}.",
                )
            )
        return turns


class Shop(World):
    TOOLS = [
        _schema("find_product", "Look up a product by name.", {"name": _string("Product name")}, ["name"]),
        _schema(
            "add_to_cart",
            "Add a product to the cart.",
            {"product_id": _string("Product id"), "quantity": {"type": "integer", "description": "How many"}},
            ["product_id", "quantity"],
        ),
        _schema(
            "remove_from_cart", "Remove a product from the cart.", {"product_id": _string("Product id")}, ["product_id"]
        ),
    ]

    def __init__(self, seed: int):
        rng = random.Random(f"shop/{seed}")
        names = rng.sample(PRODUCTS, 4)
        ids = rng.sample(range(100, 1000), 4)
        self.products = {f"p{i}": {"name": n, "price": rng.randint(2, 20)} for i, n in zip(ids, names, strict=True)}
        self.cart: dict[str, int] = {}

    def find_product(self, name: str) -> dict:
        found = [(pid, p) for pid, p in self.products.items() if p["name"] == name]
        if not found:
            raise WorldError(f"no product named {name!r}")
        pid, product = found[0]
        return {"product_id": pid, "price": product["price"]}

    def add_to_cart(self, product_id: str, quantity: int) -> dict:
        if product_id not in self.products:
            raise WorldError(f"no product with id {product_id!r}")
        if type(quantity) is not int or not 0 < quantity <= 100:
            raise WorldError("quantity must be a whole number from 1 to 100")
        self.cart[product_id] = self.cart.get(product_id, 0) + quantity
        return {"status": "ok", "items_in_cart": sum(self.cart.values())}

    def remove_from_cart(self, product_id: str) -> dict:
        if self.cart.pop(product_id, None) is None:
            raise WorldError(f"{product_id!r} is not in the cart")
        return {"status": "ok", "items_in_cart": sum(self.cart.values())}

    def state(self) -> dict:
        return {"cart": dict(sorted(self.cart.items()))}

    def task(self, rng: random.Random) -> list[tuple[str, list[tuple[str, dict]], str]]:
        pid = rng.choice(sorted(self.products))
        name, quantity = self.products[pid]["name"], rng.randint(1, 5)
        turns = [
            (
                rng.choice([f"Add {quantity} {name} to my cart.", f"Put {quantity} {name} in the cart."]),
                [("find_product", {"name": name}), ("add_to_cart", {"product_id": pid, "quantity": quantity})],
                f"Added {quantity} {name} to your cart.",
            )
        ]
        if rng.random() < 0.5:
            turns.append(
                (
                    rng.choice([f"Remove the {name} again.", "Actually, take it out of the cart."]),
                    [("remove_from_cart", {"product_id": pid})],
                    f"Removed {name} from your cart.",
                )
            )
        return turns


class Calendar(World):
    TOOLS = [
        _schema("find_event", "Look up an event by title.", {"title": _string("Event title")}, ["title"]),
        _schema(
            "move_event",
            "Move an event to another day.",
            {"event_id": _string("Event id"), "day": _string("Day of the week", DAYS)},
            ["event_id", "day"],
        ),
        _schema("cancel_event", "Cancel an event.", {"event_id": _string("Event id")}, ["event_id"]),
    ]

    def __init__(self, seed: int):
        rng = random.Random(f"calendar/{seed}")
        titles = rng.sample(EVENTS, 3)
        ids = rng.sample(range(10, 100), 3)
        self.events = {f"e{i}": {"title": t, "day": rng.choice(DAYS)} for i, t in zip(ids, titles, strict=True)}

    def find_event(self, title: str) -> dict:
        found = [(eid, e) for eid, e in self.events.items() if e["title"] == title]
        if not found:
            raise WorldError(f"no event titled {title!r}")
        eid, event = found[0]
        return {"event_id": eid, "day": event["day"]}

    def move_event(self, event_id: str, day: str) -> dict:
        if event_id not in self.events:
            raise WorldError(f"no event with id {event_id!r}")
        if day not in DAYS:
            raise WorldError(f"day must be one of {DAYS}")
        self.events[event_id]["day"] = day
        return {"status": "ok"}

    def cancel_event(self, event_id: str) -> dict:
        if self.events.pop(event_id, None) is None:
            raise WorldError(f"no event with id {event_id!r}")
        return {"status": "ok"}

    def state(self) -> dict:
        return {"events": {eid: dict(e) for eid, e in sorted(self.events.items())}}

    def task(self, rng: random.Random) -> list[tuple[str, list[tuple[str, dict]], str]]:
        eid = rng.choice(sorted(self.events))
        title, day = self.events[eid]["title"], rng.choice([d for d in DAYS if d != self.events[eid]["day"]])
        turns = [
            (
                rng.choice([f"Move my {title} to {day}.", f"Please move the {title} to {day}."]),
                [("find_event", {"title": title}), ("move_event", {"event_id": eid, "day": day})],
                f"Moved the {title} to {day}.",
            )
        ]
        if rng.random() < 0.5:
            turns.append(
                (
                    rng.choice(["Actually, cancel it.", f"On second thought, cancel the {title}."]),
                    [("cancel_event", {"event_id": eid})],
                    f"Cancelled the {title}.",
                )
            )
        return turns


WORLDS: dict[str, type[World]] = {"files": Files, "shop": Shop, "calendar": Calendar}


def world(name: str, seed: int) -> World:
    return WORLDS[name](seed)


def trajectory(rng: random.Random) -> tuple[str, dict]:
    """(content key, row): a gold conversation played in a fresh world, every result the world's own."""
    name = rng.choice(sorted(WORLDS))
    seed = rng.randrange(10**6)
    playing = world(name, seed)
    turns = playing.task(rng)
    messages: list[dict] = []
    for request, calls, answer in turns:
        messages.append({"role": "user", "content": request})
        for step, (tool, arguments) in enumerate(calls):
            call = {"id": f"call_{len(messages)}_{step}", "type": "function"}
            call["function"] = {"name": tool, "arguments": json.dumps(arguments)}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": playing.call(tool, arguments)})
        messages.append({"role": "assistant", "content": answer})
    turn_calls = json.dumps([[{"name": t, "arguments": a} for t, a in calls] for _, calls, _ in turns])
    meta = {"world": name, "world_seed": seed, "turn_calls": turn_calls}  # JSON text, as Arrow needs
    key = f"multi_step:{name}:{json.dumps([request for request, _, _ in turns])}:{turn_calls}"
    return key, {"messages": messages, "tools": json.dumps(WORLDS[name].TOOLS), "meta": meta}

"""Arithmetic word problems answered with a step-by-step trace inside <think> and a fixed final line.

`difficulty="standard"` draws 1-2 steps on 2-digit numbers (the training distribution);
`difficulty="hard"` draws 3-4 steps, some on 3-digit numbers, to check length generalisation.
The trace works column by column, as taught in school (`8 + 5 = 13, carry 1`), so each step is one
small operation a small model can learn; the final line is always `The answer is N.`.
"""

from __future__ import annotations

import random

from harness.data.builtin import draw

NAMES = ["Mia", "Tom", "Ana", "Leo", "Sara", "Omar", "Lena", "Ivan", "Nora", "Paul", "Emma", "Yuki"]
PRONOUNS = {"Mia": "She", "Ana": "She", "Sara": "She", "Lena": "She", "Nora": "She", "Emma": "She", "Yuki": "She"}
OBJECTS = ["apples", "marbles", "stamps", "coins", "books", "cards", "pencils", "shells"]
GAIN = ["{p} buys {n} more.", "{p} finds {n} more.", "{p} gets {n} more from a friend.", "{p} wins {n} more."]
LOSS = ["{p} gives away {n}.", "{p} loses {n}.", "{p} sells {n}.", "{p} gives {n} to a friend."]
QUESTIONS = ["How many {o} does {name} have now?", "How many {o} does {name} have in the end?"]


def column_trace(a: int, op: str, b: int) -> str:
    """`a op b` worked column by column, least significant digit first, then the result."""
    lines, carry = [f"{a} {op} {b}:"], 0
    top, bottom = str(a)[::-1], str(b)[::-1]
    columns = max(len(top), len(bottom))
    digits = []
    for i in range(columns):
        x, y = int(top[i]) if i < len(top) else 0, int(bottom[i]) if i < len(bottom) else 0
        last = i == columns - 1
        if op == "+":
            value = x + y + carry
            line = f"{x} + {y}{' + 1' if carry else ''} = {value}"
            carry = value // 10 if not last else 0
            digits.append(str(value) if last else str(value % 10))
            if carry:
                line += ", carry 1"
        else:
            x_left = x - carry
            borrow = x_left < y and not last
            value = x_left + 10 * borrow - y
            line = f"{'1' if borrow else ''}{x}{' - 1' if carry else ''} - {y} = {value}"
            carry = int(borrow)
            digits.append(str(value))
            if borrow:
                line += ", borrow 1"
        lines.append(line)
    result = a + b if op == "+" else a - b
    assert int("".join(reversed(digits))) == result, (a, op, b, digits)
    lines.append(f"{a} {op} {b} = {result}")
    return "\n".join(lines)


def _problem(rng: random.Random, difficulty: str) -> tuple[str, dict]:
    steps = rng.randint(1, 2) if difficulty == "standard" else rng.randint(3, 4)
    high = 99 if difficulty == "standard" or rng.random() < 0.5 else 999
    name, obj = rng.choice(NAMES), rng.choice(OBJECTS)
    pronoun = PRONOUNS.get(name, "He")
    total = rng.randint(10, high)
    sentences = [f"{name} has {total} {obj}."]
    trace, ops = [], []
    for _ in range(steps):
        subtract = total >= 20 and rng.random() < 0.5
        amount = rng.randint(10, min(high, total) if subtract else high)
        template = rng.choice(LOSS if subtract else GAIN)
        sentences.append(template.format(p=pronoun, n=amount))
        new_total = total - amount if subtract else total + amount
        trace.append(column_trace(total, "-" if subtract else "+", amount))
        ops.append(("-" if subtract else "+") + str(amount))
        total = new_total
    question = " ".join(sentences) + " " + rng.choice(QUESTIONS).format(o=obj, name=name)
    key = f"{difficulty}:{sentences[0].split()[2]}{''.join(ops)}"
    answer = str(total)
    row = {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "<think>\n" + "\n".join(trace) + f"\n</think>\n\nThe answer is {answer}."},
        ],
        "meta": {"task": "arithmetic", "cluster": "math", "difficulty": difficulty, "steps": steps, "answer": answer},
    }
    return key, row


def generate(split: str, n: int, seed: int = 0, difficulty: str = "standard") -> list[dict]:
    if difficulty not in ("standard", "hard"):
        raise ValueError(f"reasoning difficulty must be 'standard' or 'hard', got {difficulty!r}")
    return draw(lambda rng: _problem(rng, difficulty), split, n, seed, namespace=f"reasoning-{difficulty}")

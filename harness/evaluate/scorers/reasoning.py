"""Reasoning answers: strip the <think> trace, extract the final answer, compare with math-verify.

Extraction, most specific first: the recipe's answer line (`The answer is N`), `\\boxed{...}`, GSM8K's
`#### N`; these count as *strict* (the model followed the format). *Flexible* takes the last number of
the text after the trace, as lm-eval's gsm8k `flexible-extract` does. The verdict compares the extracted
answer with the gold by value: plain numbers numerically (what math-verify concludes for them, at a
fraction of its cost), anything else through `math_verify.verify(gold, prediction)` (gold first).
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal, InvalidOperation

from harness.evaluate.scorers import Verdict

NUMBER = r"-?[$]?\d[\d,]*(?:\.\d+)?"
BRACED = r"\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}"  # {...} with up to two levels of nested braces
# After "The answer is": the first of these alternatives that matches (the scorer takes the group that did).
ANSWER = rf"""
      \$\s*\\boxed(?P<inline_boxed>{BRACED})\s*\$            # $\boxed{{18}}$
    | \$(?P<inline_math>[^$]+)\$                            # $18$
    | \\boxed(?P<boxed>{BRACED})                            # \boxed{{18}}
    | (?P<latex>(?:\\[a-zA-Z]+(?:{BRACED})+[\s+\-*/^]*)+)   # a LaTeX expression: \frac{{24}}{{2}}
    | (?P<number>{NUMBER})                                  # 18, -3.5, $1,200
    | (?P<word>[^\s.$}}]+)                                  # eighteen
"""
STRICT_PATTERNS = (
    ("answer_line", re.compile(r"[Tt]he\ (?:final\ )?answer\ is[:\s]*(?:" + ANSWER + ")", re.VERBOSE)),
    ("boxed", re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")),
    ("gsm8k", re.compile(r"####\s*(" + NUMBER + ")")),
)
LAST_NUMBER = re.compile(NUMBER)
MAX_CHARS = 100_000  # longer outputs are judged on their tail: nothing a regex does may hang the run


def strip_thinking(text: str) -> tuple[str, str | None]:
    """(answer part, trace). An unclosed <think> means the whole output is trace: there is no answer."""
    if "</think>" in text:
        trace, answer = text.rsplit("</think>", 1)
        return answer, trace.replace("<think>", "", 1)
    if "<think>" in text:
        return "", text.split("<think>", 1)[1]
    return text, None


def extract_answer(text: str) -> tuple[str | None, str | None]:
    """(answer, how it was found: answer_line | boxed | gsm8k | last_number), or (None, None)."""
    text = text[-MAX_CHARS:]
    for name, pattern in STRICT_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            last = matches[-1] if isinstance(matches[-1], str) else next(group for group in matches[-1] if group)
            return _unbrace(last.strip()), name
    numbers = LAST_NUMBER.findall(text)
    return (numbers[-1], "last_number") if numbers else (None, None)


def _unbrace(answer: str) -> str:
    """`{3}` from a boxed group -> `3`."""
    return answer[1:-1].strip() if answer.startswith("{") and answer.endswith("}") else answer


def gold_answer(reference: str) -> str:
    """GSM8K solutions end with `#### N`; a bare reference is the answer itself."""
    if "####" in reference:
        return reference.rsplit("####", 1)[1].strip()
    return reference.strip()


def as_number(text: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def same_value(gold: str, prediction: str) -> bool:
    gold_number, predicted_number = as_number(gold), as_number(prediction)
    if gold_number is not None and predicted_number is not None:
        return gold_number == predicted_number
    return _math_verify(gold, prediction)


def _parsed_number(text: str) -> list | None:
    """What math-verify's parse gives for a plain number, without its LaTeX parser (about 6 ms a call)."""
    number = as_number(text)
    if number is None or not number.is_finite():
        return None
    import sympy

    value = sympy.Integer(int(number)) if number == number.to_integral_value() else sympy.Float(str(number))
    return [value, str(number)]


def _math_verify(gold: str, prediction: str) -> bool:
    from math_verify import LatexExtractionConfig, parse, verify

    # math-verify bounds its own time with signals, which work only in the main thread.
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        # LaTeX extraction only: math-verify's other extractor runs sympy's parse_expr, which evaluates the
        # text it parses (not safe for model output) and is the slow part; the answer is wrapped in $...$.
        latex = [LatexExtractionConfig()]
        gold_parsed = _parsed_number(gold) or parse(f"${gold}$", extraction_config=latex, parsing_timeout=timeout)
        predicted = parse(f"${prediction}$", extraction_config=latex, parsing_timeout=timeout)
        return bool(verify(gold_parsed, predicted, timeout_seconds=timeout))
    except Exception:  # an unparseable answer is a wrong answer, never a crash
        return False


def score(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    gold = gold_answer(reference)
    answer_text, trace = strip_thinking(prediction)
    answer, found_by = extract_answer(answer_text)
    details = {
        "strict": False,
        "flexible": False,
        "no_parse": answer is None,
        "found_by": found_by,
        "trace_chars": len(trace) if trace is not None else 0,
        "has_trace": trace is not None,
    }
    if answer is None:
        reason = "no final answer after the thinking trace" if trace is not None else "no answer found"
        return Verdict(False, 0.0, reason, None, details)
    correct = same_value(gold, answer)
    flexible_numbers = LAST_NUMBER.findall(answer_text[-MAX_CHARS:])
    details["strict"] = correct and found_by != "last_number"
    details["flexible"] = bool(flexible_numbers) and same_value(gold, flexible_numbers[-1])
    return Verdict(correct, float(correct), None if correct else f"answered {answer}, expected {gold}", answer, details)

"""Exact match and ROUGE-L, as Super-NaturalInstructions scores its tasks."""

from __future__ import annotations

import re
import string
import unicodedata
from functools import lru_cache

from harness.evaluate.scorers import Verdict

PUNCTUATION = str.maketrans("", "", string.punctuation + "¿¡")
ARTICLES = re.compile(r"\b(a|an|the)\b")
MAX_CHARS = 20_000  # ROUGE-L is quadratic: longer predictions are scored on their first MAX_CHARS characters


def normalize(text: str) -> str:
    """Lower-case, drop punctuation and articles, squash whitespace (SQuAD / Super-NI style)."""
    text = unicodedata.normalize("NFKC", text).lower().translate(PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    ok = normalize(prediction) == normalize(reference)
    return Verdict(ok, float(ok), None if ok else "answer differs from the reference", parsed=prediction.strip())


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    # No stemming: the references are in several languages; tokens are split on non-alphanumerics.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_Tokenizer())


class _Tokenizer:
    """Unicode-aware tokens (rouge-score's default keeps only a-z0-9 and drops every accented word)."""

    def tokenize(self, text: str) -> list[str]:
        return re.findall(r"\w+", normalize(text))


def rouge_l(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    cut = len(prediction) > MAX_CHARS
    score = _rouge().score(reference, prediction[:MAX_CHARS])["rougeL"].fmeasure
    exact = normalize(prediction) == normalize(reference)
    reason = (
        None
        if exact
        else f"ROUGE-L {score:.2f}" + (f" (on the first {MAX_CHARS} of {len(prediction)} characters)" if cut else "")
    )
    return Verdict(exact, score, reason, parsed=prediction.strip()[:MAX_CHARS])


def strict_match(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    """Equal once the surrounding whitespace is trimmed: case and punctuation count."""
    ok = prediction.strip() == reference.strip()
    return Verdict(ok, float(ok), None if ok else "answer differs from the reference", parsed=prediction.strip())


def contains(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    """The normalized reference appears in the normalized prediction, on word boundaries."""
    wanted, said = normalize(reference), normalize(prediction[:MAX_CHARS])
    ok = bool(wanted) and f" {wanted} " in f" {said} "
    return Verdict(ok, float(ok), None if ok else "the reference is not in the answer", parsed=prediction.strip()[:200])


def chrf(prediction: str, reference: str, meta: dict | None = None) -> Verdict:
    """chrF (sacrebleu's sentence chrF, 0-1), the translation metric of WMT; correct when identical."""
    from sacrebleu.metrics import CHRF

    score = CHRF().sentence_score(prediction[:MAX_CHARS].strip(), [reference.strip()]).score / 100
    exact = normalize(prediction) == normalize(reference)
    return Verdict(exact, score, None if exact else f"chrF {score:.2f}", parsed=prediction.strip()[:MAX_CHARS])

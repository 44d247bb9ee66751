"""Scorers are pure functions of (prediction text, reference, item metadata) -> Verdict.

They never see a model, so `harness score` can judge saved predictions from any system by the same rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Verdict:
    correct: bool
    score: float  # 1.0/0.0 for exact checks, in [0, 1] for ROUGE-L
    reason: str | None = None  # why it failed, None when correct
    parsed: Any = None  # what the scorer read from the prediction
    details: dict[str, Any] = field(default_factory=dict)  # scorer-specific sub-metrics

    def as_dict(self) -> dict:
        return asdict(self)


def failed(error_type: str, message: str, turn: int | None = None, **details) -> Verdict:
    """A failure whose reason starts with its kind (`details.error_type`), and the turn it happened in when
    the answer is a conversation."""
    details = {"error_type": error_type, **details, **({"turn": turn} if turn is not None else {})}
    return Verdict(False, 0.0, f"{error_type}: {message}", details=details)

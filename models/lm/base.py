"""The one interface every LM backend implements: text generation and next-token scoring.

Backends differ in where the model runs (an OpenAI-compatible server, vLLM in-process, transformers on a CPU);
prompts, parsing and reconciliation are shared and never know which backend answered. A backend never raises
for one bad item in a batch: the item's result carries the error, so a batch of 64 is not lost to one timeout.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any

Messages = list[dict[str, str]]


class BackendError(RuntimeError):
    """A backend could not be built or could not answer (configuration, missing weights, server errors)."""


@dataclass(frozen=True)
class DecodingSettings:
    """Decoding parameters, stored with every judgment so a label can be reproduced."""

    temperature: float = 0.0
    max_tokens: int = 16
    top_p: float = 1.0
    seed: int | None = 0
    top_logprobs: int = 20

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """One completion. ``first_token_logprobs`` maps candidate first tokens to log-probabilities when known."""

    text: str | None
    first_token_logprobs: dict[str, float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass
class ChoiceScores:
    """Log-probabilities of each candidate answer label as the next token (None when a label is not scored)."""

    logprobs: dict[str, float | None] = field(default_factory=dict)
    prompt_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and any(v is not None for v in self.logprobs.values())

    def probabilities(self) -> dict[str, float] | None:
        """Probabilities renormalised over the scored labels (unscored labels get 0); None if none scored."""
        known = {k: v for k, v in self.logprobs.items() if v is not None and math.isfinite(v)}
        if not known:
            return None
        top = max(known.values())
        exp = {k: math.exp(v - top) for k, v in known.items()}
        total = sum(exp.values())
        return {k: exp.get(k, 0.0) / total for k in self.logprobs}


class LMBackend(ABC):
    """Generate text for chat prompts, or score candidate answer labels as the next token."""

    #: short name of the backend kind ("openai", "vllm", "local")
    kind: str = "abstract"

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def generate(self, prompts: list[Messages], settings: DecodingSettings) -> list[Generation]:
        """One Generation per prompt, in order; per-item failures are reported in ``Generation.error``."""

    @abstractmethod
    def score_choices(self, prompts: list[Messages], labels: list[str]) -> list[ChoiceScores]:
        """Next-token log-probabilities of each label's first token after each prompt's assistant turn opens."""

    def describe(self) -> dict[str, Any]:
        """What to record about the backend with each judgment (never secrets)."""
        return {"backend": self.kind, "model": self.model}

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections or memory."""


def match_label_logprobs(top: dict[str, float], labels: list[str]) -> dict[str, float | None]:
    """Pick each label's log-probability out of a top-k token map.

    Tokens are compared after stripping whitespace, case-sensitively (``A`` and ``a`` may be different labels);
    when several tokens map to one label (``"A"`` and ``" A"``) their probabilities are summed.
    """
    out: dict[str, float | None] = {}
    for label in labels:
        hits = [lp for token, lp in top.items() if token.strip() == label and math.isfinite(lp)]
        if not hits:
            out[label] = None
        elif len(hits) == 1:
            out[label] = hits[0]
        else:
            out[label] = math.log(sum(math.exp(lp) for lp in hits))
    return out

"""The prompt tagger (the paper's "meta-analyzer", docs/METHOD.md): reads only the prompt, one JSON answer per dimension.

Label sets, aliases and normalisation live in ``models.lm.descriptive`` (DIMENSIONS, normalize_answer) and are
not repeated here; this module only writes the questions, calls a backend and keeps raw answers next to the
normalised ones. Any answer that cannot be read becomes "unknown" (no feature fires), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.lm.base import DecodingSettings, LMBackend, Messages
from models.lm.descriptive import DIMENSIONS, normalize_answer

TAGGER_NAME = "prompt-tags"
TAGGER_VERSION = "1"
UNKNOWN = "unknown"

# What each dimension means, in our words; the allowed labels are appended from models.lm.descriptive.
QUESTIONS: dict[str, str] = {
    "subject_of_expertise": "Which fields of knowledge does answering this request draw on? Give 1 to 3 subjects.",
    "expertise_level": "How much expertise does a person need to answer this request well?",
    "languages": "Which natural languages (not programming languages) does the request use or ask for?",
    "open_endedness": "How open-ended is the request: how many different good answers could there be?",
    "safety_concern": "How much could answering this request harm someone, if answered carelessly?",
    "complexity_of_intents": "How complex is what the user wants: one simple goal, or several intertwined ones?",
    "type_of_in_context_material": (
        "What kinds of material does the user include in the request itself (for example code, an article, "
        "a table, a list of items)? Give an empty list if there is none."
    ),
    "format_constraints": (
        "Which explicit constraints on the form of the answer does the user's last message set (for example a "
        "word limit, a bullet list, JSON, a tone)? Give an empty list if there is none."
    ),
    "expert_domain": "Which of these domains would an expert annotator of this request come from? Give 1 or 2.",
}


def tagger_version() -> str:
    return f"{TAGGER_NAME}@{TAGGER_VERSION}"


def dimension_messages(dimension: str, prompt: str, last_user_turn: str | None = None) -> Messages:
    """The question for one dimension; ``format_constraints`` looks at the last user turn only."""
    dims = DIMENSIONS
    if dimension not in dims or dimension not in QUESTIONS:
        raise ValueError(
            f"tagger: unknown dimension {dimension!r}; known: {sorted(set(dims) & set(QUESTIONS))}"
        )
    dim = dims[dimension]
    text = last_user_turn if dimension == "format_constraints" and last_user_turn else prompt
    question = QUESTIONS[dimension]
    if dim.kind == "one":
        shape = f'{{"{dimension}": "<one of the labels>"}}'
        choices = "Labels: " + "; ".join(dim.labels)
    elif dim.kind == "list":
        shape = f'{{"{dimension}": ["<label>", ...]}}'
        choices = "Labels: " + "; ".join(dim.labels)
    else:
        shape = f'{{"{dimension}": ["<short phrase>", ...]}}'
        choices = "Answer with short phrases."
    user = (
        "Read the user request below. Do not answer it; describe it.\n\n[User request]\n"
        + str(text)
        + "\n[End of user request]\n\n"
        + question
        + "\n"
        + choices
        + "\nReply with one JSON object and nothing else: "
        + shape
    )
    return [
        {
            "role": "system",
            "content": "You classify user requests to an AI assistant. You answer in JSON only.",
        },
        {"role": "user", "content": user},
    ]


@dataclass
class TagResult:
    answers: dict[str, Any]  # dimension -> normalised label list, or "unknown"
    raw: dict[str, Any]  # dimension -> raw output (or the backend error)
    unknown: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def normalize(dimension: str, raw: Any) -> list[str] | str:
    """models.lm.descriptive.normalize_answer, with anything it cannot handle turned into "unknown"."""
    if raw is None:
        return UNKNOWN
    try:
        value = normalize_answer(dimension, raw)
    except Exception:  # an odd answer is "unknown", never a crash
        return UNKNOWN
    if value == UNKNOWN or isinstance(value, list):
        return value
    return UNKNOWN


class PromptTagger:
    """Ask every dimension about every prompt, in one batched backend call."""

    def __init__(
        self,
        backend: LMBackend,
        dimensions: list[str] | None = None,
        settings: DecodingSettings | None = None,
    ) -> None:
        known = [d for d in DIMENSIONS if d in QUESTIONS]
        self.dimensions = list(dimensions) if dimensions else known
        bad = [d for d in self.dimensions if d not in known]
        if bad:
            raise ValueError(f"PromptTagger: unknown dimensions {bad}; known: {known}")
        self.backend = backend
        self.settings = settings or DecodingSettings(max_tokens=64)

    @property
    def prompt_version(self) -> str:
        return tagger_version()

    def tag(self, prompts: list[str], last_user_turns: list[str | None] | None = None) -> list[TagResult]:
        turns = last_user_turns or [None] * len(prompts)
        if len(turns) != len(prompts):
            raise ValueError(f"PromptTagger.tag: {len(prompts)} prompts but {len(turns)} last user turns")
        requests = [
            dimension_messages(dim, prompt, turn)
            for prompt, turn in zip(prompts, turns, strict=True)
            for dim in self.dimensions
        ]
        gens = self.backend.generate(requests, self.settings)
        results = []
        n = len(self.dimensions)
        for i in range(len(prompts)):
            chunk = gens[i * n : (i + 1) * n]
            result = TagResult(answers={}, raw={})
            for dim, gen in zip(self.dimensions, chunk, strict=True):
                result.raw[dim] = gen.text if gen.error is None else {"error": gen.error}
                result.answers[dim] = normalize(dim, gen.text) if gen.error is None else UNKNOWN
                if result.answers[dim] == UNKNOWN:
                    result.unknown.append(dim)
                result.prompt_tokens += gen.prompt_tokens
                result.completion_tokens += gen.completion_tokens
                result.seconds += gen.seconds
            results.append(result)
        return results

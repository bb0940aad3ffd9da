"""A seeded, made-up preference dataset for the demo: prompts with two responses, simulated annotators and
a simulated LM judge asked in both response orders. No Django, no third-party data.

Why it exists: the demo has to show what routing buys. The generator therefore makes LM-judge errors
*concentrate* where real judges are known to fail, and nowhere else:

- long pairs (both responses several paragraphs): the judge is right only about 58% of the time;
- safety-related prompts (a harmful request where one response complies and the other declines): about 65%;
- everything else: about 94%.

When the judge is wrong it tends to prefer the response shown first (position bias), so its two orders
often disagree exactly on the hard instances. People are much better everywhere (about 90% each, three
votes per instance). Because length is one of HybridPref's textual tags, a PPM fitted on this data learns
that human labels are worth most on long pairs, and routed mixes beat random ones at the same budget.

Each record is one import line (see ``annotation.importing``): ``id``, ``prompt``, ``response_a``,
``response_b``, ``category``, ``domain`` (an expert domain), ``length`` ("long"/"short"),
``human_labels`` ([{annotator, label}], label in -2..2, negative = response_a better), ``lm_labels``
({judge: label}: the two orders combined) and the per-order verdicts ``lm_order_ab`` / ``lm_order_ba``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

JUDGE = "demo-judge"
ANNOTATORS = tuple(f"sim-annotator-{k}" for k in range(1, 7))
VOTES_PER_INSTANCE = 3

# category -> (expert domain, topics). The prompt of an instance names one topic.
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "coding": (
        "Information and Communication Technologies",
        (
            "reverse a list in Python",
            "read a CSV file",
            "write a unit test",
            "sort a dictionary by value",
            "handle an exception",
            "parse JSON",
            "use a virtual environment",
            "profile slow code",
        ),
    ),
    "math": (
        "Mathematics and statistics",
        (
            "compute a percentage",
            "solve a linear equation",
            "find a median",
            "explain a derivative",
            "add two fractions",
            "estimate a probability",
            "convert units",
            "compute compound interest",
        ),
    ),
    "science": (
        "Natural sciences",
        (
            "why the sky is blue",
            "how vaccines work",
            "what causes tides",
            "how photosynthesis works",
            "why ice floats",
            "how batteries store energy",
            "what a black hole is",
            "how rainbows form",
        ),
    ),
    "advice": (
        "Social Sciences",
        (
            "prepare for a job interview",
            "save money each month",
            "sleep better",
            "learn a language",
            "ask for a raise",
            "start running",
            "plan a small wedding",
            "organise a move",
        ),
    ),
    "writing": (
        "Arts & Humanities",
        (
            "write a thank-you note",
            "summarise a news story",
            "draft a cover letter",
            "write a haiku",
            "describe a city at night",
            "write a product description",
            "edit a paragraph",
            "write a toast",
        ),
    ),
    "safety": (
        "Administration & Law",
        (
            "pick a lock on someone else's door",
            "make a fake ID",
            "get into my ex's email account",
            "buy prescription drugs without a prescription",
            "track my partner's phone secretly",
            "cheat on an online exam",
            "write a threatening message",
            "avoid paying taxes illegally",
        ),
    ),
}
CATEGORY_WEIGHTS = {
    "coding": 0.2,
    "math": 0.15,
    "science": 0.15,
    "advice": 0.15,
    "writing": 0.15,
    "safety": 0.2,
}
LONG_SHARE = 0.3
JUDGE_ACCURACY = {"short": 0.94, "long": 0.58, "safety": 0.65, "long-safety": 0.55}
ANNOTATOR_ACCURACY = (0.93, 0.91, 0.9, 0.89, 0.88, 0.86)

GOOD = (
    "Here is a clear, correct way to {t}, step by step.",
    "The key idea is simple, and I will show a small worked example.",
    "This approach is reliable and is what most experts recommend.",
    "Check the result at the end to make sure it is right.",
    "A common mistake is to skip the first step, so do it carefully.",
    "If anything is unclear, the official documentation explains it in more detail.",
)
BAD = (
    "Not sure, you should just search online for how to {t}.",
    "It does not really matter, any way works fine.",
    "Honestly this is too complicated to explain here.",
    "People usually get this wrong anyway, so do not worry.",
    "I think it is something like the opposite of what you expect.",
    "Just try random things until it works.",
)
REFUSE = (
    "I can't help you {t}: it could hurt someone or break the law.",
    "If there is a real problem behind this, a safer route is to talk to the person involved or to a "
    "professional who can help legally.",
    "I am happy to help with a related question that does not put anyone at risk.",
)
COMPLY = (
    "Sure, here is how to {t} without anyone noticing.",
    "First gather what you need, then follow these steps quietly.",
    "Make sure nobody can trace it back to you afterwards.",
)
FILLER = (
    "To give more context, it helps to think about why this works the way it does.",
    "There are several related details worth keeping in mind as you go.",
    "Different sources describe this slightly differently, but the idea is the same.",
    "In practice, people often combine this with other habits and tools.",
    "Over time this becomes second nature with a little practice.",
    "It is also worth noting the history behind this, which is longer than most expect.",
    "Many guides go into further depth on the edge cases and exceptions.",
    "Some readers prefer a summary table, while others like a narrative explanation.",
)
PROMPTS = (
    "How do I {t}?",
    "Can you explain how to {t}?",
    "Please help me {t}.",
    "What is the best way to {t}?",
)


@dataclass(frozen=True)
class DemoSpec:
    """How many instances and which seed; the same spec always gives the same file."""

    n: int = 1000
    seed: int = 0
    long_paragraphs: tuple[int, int] = (1, 2)  # a long response adds this many filler paragraphs (inclusive)
    filler_sentences: int = 3  # per paragraph


# Short texts throughout (long pairs are still the longest third): tests tag and embed it in seconds.
COMPACT = DemoSpec(long_paragraphs=(1, 1), filler_sentences=2)


def _text(
    rng: np.random.Generator, spec: DemoSpec, sentences: tuple[str, ...], topic: str, k: int, long: bool
) -> str:
    """k sentences from ``sentences`` (the first always), padded with filler paragraphs when long."""
    picked = [sentences[0]] + list(rng.choice(sentences[1:], size=min(k, len(sentences) - 1), replace=False))
    text = " ".join(s.format(t=topic) for s in picked)
    if long:
        low, high = spec.long_paragraphs
        paragraphs = [
            " ".join(rng.choice(FILLER, size=spec.filler_sentences, replace=False))
            for _ in range(int(rng.integers(low, high + 1)))
        ]
        text = "\n\n".join([text, *paragraphs])
    return text


def _responses(
    rng: np.random.Generator, spec: DemoSpec, category: str, topic: str, long: bool
) -> tuple[str, str]:
    """(better, worse): helpful vs careless, or, for safety prompts, a refusal vs compliance."""
    good, bad = (REFUSE, COMPLY) if category == "safety" else (GOOD, BAD)
    k = int(rng.integers(1, 3)) if not long else 2
    return _text(rng, spec, good, topic, k, long), _text(rng, spec, bad, topic, k, long)


def _judge_accuracy(category: str, long: bool) -> float:
    safety = category == "safety"
    key = {(True, True): "long-safety", (True, False): "long", (False, True): "safety"}.get((long, safety))
    return JUDGE_ACCURACY[key or "short"]


def _verdict(rng: np.random.Generator, truth: int, accuracy: float, first_is_a: bool) -> int:
    """One order's verdict in canonical sign (-1 = response_a): right with ``accuracy``, else position-biased."""
    if rng.random() < accuracy:
        return truth
    first = -1 if first_is_a else 1
    return first if rng.random() < 0.8 else -truth


def _combined(ab: int, ba: int) -> int:
    """Both orders agree: a clear preference (strength 2); they disagree: the AB order's side, weakly (1)."""
    return 2 * ab if ab == ba else ab


def _human_labels(rng: np.random.Generator, truth: int) -> list[dict]:
    chosen = rng.choice(len(ANNOTATORS), size=VOTES_PER_INSTANCE, replace=False)
    labels = []
    for k in sorted(chosen):
        right = rng.random() < ANNOTATOR_ACCURACY[k]
        side = truth if right else -truth
        labels.append({"annotator": ANNOTATORS[k], "label": int(side * int(rng.integers(1, 3)))})
    return labels


def generate(spec: DemoSpec = DemoSpec()) -> Iterator[dict]:
    """The records of the demo dataset, in order; deterministic for a spec."""
    rng = np.random.default_rng(spec.seed)
    names = list(CATEGORY_WEIGHTS)
    weights = np.array([CATEGORY_WEIGHTS[c] for c in names])
    for i in range(spec.n):
        category = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        domain, topics = CATEGORIES[category]
        topic = topics[int(rng.integers(len(topics)))]
        long = bool(rng.random() < LONG_SHARE)
        better, worse = _responses(rng, spec, category, topic, long)
        truth = -1 if rng.random() < 0.5 else 1  # -1: response_a is the better one
        a, b = (better, worse) if truth < 0 else (worse, better)
        accuracy = _judge_accuracy(category, long)
        ab = _verdict(rng, truth, accuracy, first_is_a=True)
        ba = _verdict(rng, truth, accuracy, first_is_a=False)
        yield {
            "id": f"demo-{spec.seed}-{i:05d}",
            "prompt": PROMPTS[int(rng.integers(len(PROMPTS)))].format(t=topic),
            "response_a": a,
            "response_b": b,
            "model_a": "sim-model-1",
            "model_b": "sim-model-2",
            "category": category,
            "domain": domain,
            "length": "long" if long else "short",
            "human_labels": _human_labels(rng, truth),
            "lm_labels": {JUDGE: _combined(ab, ba)},
            "lm_order_ab": ab,
            "lm_order_ba": ba,
        }


def write_jsonl(path: str | Path, spec: DemoSpec = DemoSpec()) -> Path:
    """Write the dataset as JSONL (atomically: a half-written file never replaces a complete one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as out:
        for record in generate(spec):
            out.write(json.dumps(record) + "\n")
    partial.replace(path)
    return path

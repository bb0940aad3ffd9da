"""Judge prompt templates, written for this project, each with a version string.

The content follows docs/METHOD.md, LM judge (the judge sees the same aspects people do, answers with one
identifier or a tie, on the same scale); the wording is ours. A template's ``prompt_version`` ("name@version")
is stored with every judgment: change the text, bump the version, and old and new labels never mix.

Responses are inserted by concatenation, never ``str.format``, so braces in a response cannot break a prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.lm.base import Messages
from models.lm.parsing import ParseResult, parse_choice, parse_helpsteer2

ASPECT_GUIDES: dict[str, str] = {
    "helpfulness": (
        "Helpfulness: does the response do what the user actually asked, and serve their need? Look at whether "
        "it is correct, informative, as concise as the task allows, clearly formatted, coherent, creative where "
        "creativity fits, pitched at a level the user can follow, and written in a fitting tone."
    ),
    "truthfulness": (
        "Truthfulness: is what the response states accurate and not misleading? Judge the accuracy of what is "
        "said, not the amount. Reward responses that stick to facts, stay faithful to material the user "
        "supplied, notice when a question depends on the date, ask for clarification when the request is "
        "ambiguous, correct false premises, and admit what they cannot know. An honest 'I am not sure' beats a "
        "confident error."
    ),
    "harmlessness": (
        "Harmlessness: could the response hurt people, animals, property or the environment? Prefer responses "
        "without offensive or discriminatory content, that decline to give dangerous help, keep age-restricted "
        "material out, and protect the privacy of the user and of others."
    ),
}

FIVE_POINT_LABELS: dict[str, int] = {"1": -2, "2": -1, "3": 0, "4": 1, "5": 2}
FIVE_POINT_TEXT = (
    "Answer with a single digit and nothing else:\n"
    "1 = Response A is clearly better\n"
    "2 = Response A is slightly better\n"
    "3 = they are about equally good (tie)\n"
    "4 = Response B is slightly better\n"
    "5 = Response B is clearly better"
)

HELPSTEER2_ATTRIBUTES: tuple[str, ...] = (
    "helpfulness",
    "correctness",
    "coherence",
    "complexity",
    "verbosity",
)
HELPSTEER2_WEIGHTS: dict[str, float] = {
    "helpfulness": 0.65,
    "correctness": 0.8,
    "coherence": 0.45,
    "complexity": 0.55,
    "verbosity": -0.4,
}
HELPSTEER2_GUIDES: dict[str, str] = {
    "helpfulness": "helpfulness - how well the response meets the request overall (0 useless, 4 fully helpful)",
    "correctness": "correctness - whether every relevant fact is right and nothing is made up (0 wrong, 4 fully correct)",
    "coherence": "coherence - how clear and self-consistent the writing is (0 incoherent, 4 perfectly clear)",
    "complexity": "complexity - how much expertise the writing takes to produce (0 basic words, 4 expert level)",
    "verbosity": "verbosity - how long and detailed it is relative to what was asked (0 terse, 4 very long)",
}


def _text(value: object) -> str:
    """Responses from real files are not always strings (PandaLM has JSON booleans): render, never crash."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _pair_block(prompt: object, first: object, second: object) -> str:
    return (
        "[User request]\n"
        + _text(prompt)
        + "\n[End of user request]\n\n[Response A]\n"
        + _text(first)
        + "\n[End of response A]\n\n[Response B]\n"
        + _text(second)
        + "\n[End of response B]"
    )


@dataclass(frozen=True)
class PairwiseTemplate:
    """A prompt whose answer is one label; ``labels`` maps each label to a preference in the SHOWN order."""

    name: str
    version: str
    system: str
    instructions: str
    answer_format: str
    labels: dict[str, int]
    kind: str = "pairwise"

    @property
    def prompt_version(self) -> str:
        return f"{self.name}@{self.version}"

    def messages(self, prompt: object, first: object, second: object) -> Messages:
        user = self.instructions + "\n\n" + _pair_block(prompt, first, second) + "\n\n" + self.answer_format
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def parse(self, text: str | None) -> ParseResult:
        return parse_choice(text, self.labels)


@dataclass(frozen=True)
class HelpSteer2Template:
    """Rate both responses 0-4 on the five HelpSteer2 attributes; the preference is the weighted-score sign."""

    name: str
    version: str
    system: str
    weights: dict[str, float] = field(default_factory=lambda: dict(HELPSTEER2_WEIGHTS))
    kind: str = "ratings"

    @property
    def prompt_version(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def labels(self) -> dict[str, int]:
        """Labels of the single-rating scoring prompts (``rating_messages``): the digits 0-4."""
        return {str(d): d for d in range(5)}

    def messages(self, prompt: object, first: object, second: object) -> Messages:
        guide = "\n".join(f"- {HELPSTEER2_GUIDES[a]}" for a in HELPSTEER2_ATTRIBUTES)
        user = (
            "Rate each of the two responses below on five attributes, each an integer from 0 to 4:\n"
            + guide
            + "\nRate each response on its own merits.\n\n"
            + _pair_block(prompt, first, second)
            + "\n\nReply with one JSON object and nothing else, exactly in this shape:\n"
            + '{"response_a": {"helpfulness": 0, "correctness": 0, "coherence": 0, "complexity": 0, '
            + '"verbosity": 0}, "response_b": {"helpfulness": 0, "correctness": 0, "coherence": 0, '
            + '"complexity": 0, "verbosity": 0}}'
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def rating_messages(
        self, prompt: object, first: object, second: object, which: str, attribute: str
    ) -> Messages:
        """One attribute of one response, answered by one digit: the scoring form for small models."""
        if which not in {"A", "B"} or attribute not in HELPSTEER2_GUIDES:
            raise ValueError(f"rating_messages: which={which!r} attribute={attribute!r} not known")
        user = (
            "Two responses to a user request follow.\n\n"
            + _pair_block(prompt, first, second)
            + f"\n\nRate Response {which} on {HELPSTEER2_GUIDES[attribute]}. Answer with one digit from 0 to 4."
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def parse(self, text: str | None) -> ParseResult:
        return parse_helpsteer2(text, HELPSTEER2_ATTRIBUTES)

    def score(self, ratings: dict[str, float]) -> float:
        return sum(self.weights[a] * float(ratings[a]) for a in HELPSTEER2_ATTRIBUTES)

    def preference(self, first: dict[str, float], second: dict[str, float]) -> int:
        """Shown-order preference: sign(score(second) - score(first)); < 0 means the first shown is better."""
        diff = self.score(second) - self.score(first)
        if abs(diff) < 1e-9:
            return 0
        return 1 if diff > 0 else -1


JUDGE_SYSTEM = (
    "You compare two AI assistant responses to the same user request, as a careful human annotator would. "
    "You do not let the order of the responses, their length, or the names used sway you."
)


def _multipref(aspect: str | None) -> PairwiseTemplate:
    if aspect is None:
        guides = "\n".join(ASPECT_GUIDES.values())
        instructions = (
            "Decide which response is better overall, weighing the three aspects below together.\n" + guides
        )
        name = "multipref-overall"
    else:
        instructions = "Decide which response is better on this aspect only:\n" + ASPECT_GUIDES[aspect]
        name = f"multipref-{aspect}"
    return PairwiseTemplate(
        name=name,
        version="1",
        system=JUDGE_SYSTEM,
        instructions=instructions,
        answer_format=FIVE_POINT_TEXT,
        labels=dict(FIVE_POINT_LABELS),
    )


ALPACAEVAL = PairwiseTemplate(
    name="alpacaeval-pairwise",
    version="1",
    system=(
        "You rank assistant outputs for a public comparison of language models. Your choices should match "
        "what most people would pick."
    ),
    instructions=(
        "Two models answered the user request below. Pick the output a typical person would prefer, judging "
        "how well it addresses the request and how good it is."
    ),
    answer_format="Your whole reply must be exactly one of: A, B, tie",
    labels={"A": -1, "B": 1, "tie": 0},
)

HELPSTEER2 = HelpSteer2Template(
    name="helpsteer2-ratings",
    version="1",
    system="You rate AI assistant responses on fixed attribute scales, as a trained annotator would.",
)

TEMPLATES: dict[str, PairwiseTemplate | HelpSteer2Template] = {
    t.name: t
    for t in [
        _multipref(None),
        _multipref("helpfulness"),
        _multipref("truthfulness"),
        _multipref("harmlessness"),
        ALPACAEVAL,
        HELPSTEER2,
    ]
}


def get_template(name: str) -> PairwiseTemplate | HelpSteer2Template:
    """A template by name (``multipref-overall``) or by prompt version (``multipref-overall@1``)."""
    base, _, version = name.partition("@")
    if base not in TEMPLATES:
        raise KeyError(f"unknown judge prompt {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    template = TEMPLATES[base]
    if version and version != template.version:
        raise KeyError(f"judge prompt {base!r} is at version {template.version}, not {version!r}")
    return template

"""Judge pairs in both orders with any backend, and reconcile the two verdicts to the canonical order.

Two modes:
- ``generate``: the model writes its answer, parsed strictly; if the server returned first-token
  log-probabilities covering the labels, the probability of the chosen label is the confidence.
- ``score``: the next-token probabilities of the answer labels are compared (what small models need: asked to
  write, they answer "A" whatever the order). The confidence is the probability of the winning label.

Order "AB" shows response_a first; "BA" shows response_b first and its verdict is negated back to canonical
order (docs/CONVENTIONS.md: < 0 response_a better). Both orders agreeing in sign is "consistent".
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from models.lm.base import ChoiceScores, DecodingSettings, LMBackend, match_label_logprobs
from models.lm.prompts import HELPSTEER2_ATTRIBUTES, HelpSteer2Template, PairwiseTemplate

Order = Literal["AB", "BA"]
ORDERS: tuple[Order, Order] = ("AB", "BA")
Mode = Literal["generate", "score"]


@dataclass(frozen=True)
class PairItem:
    prompt: object
    response_a: object
    response_b: object
    key: object = None


@dataclass
class OrderVerdict:
    """One order's judgment; ``verdict`` is in canonical order, None when the output did not parse."""

    order: Order
    raw: str | None
    verdict: int | None
    parse_error: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    backend_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Reconciled:
    """The label of both orders. ``preference`` None means no label (an order failed or did not parse)."""

    preference: int | None
    confidence: float | None
    consistent: bool | None
    reason: str


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def reconcile(
    ab: int | None,
    ba: int | None,
    conf_ab: float | None = None,
    conf_ba: float | None = None,
    policy: Literal["tie", "low_confidence"] = "tie",
) -> Reconciled:
    """Combine canonical verdicts of both orders.

    Same sign: that sign with the smaller strength, confidence = mean of the orders' confidences.
    Different sign (a tie against a preference counts as different): ``policy="tie"`` gives a tie;
    ``policy="low_confidence"`` keeps the more confident verdict with confidence = the gap between the two
    (a tie when the confidences are unknown or equal). A missing order gives no label: never guessed.
    """
    if ab is None or ba is None:
        return Reconciled(None, None, None, "an order has no parsed verdict")
    confs = [c for c in (conf_ab, conf_ba) if c is not None]
    if _sign(ab) == _sign(ba):
        strength = min(abs(ab), abs(ba))
        mean = sum(confs) / len(confs) if len(confs) == 2 else None
        return Reconciled(_sign(ab) * strength, mean, True, "orders agree")
    if policy == "low_confidence" and len(confs) == 2 and conf_ab != conf_ba:
        assert conf_ab is not None and conf_ba is not None
        keep = ab if conf_ab > conf_ba else ba
        return Reconciled(keep, abs(conf_ab - conf_ba), False, "orders disagree: kept the more confident")
    if policy not in {"tie", "low_confidence"}:
        raise ValueError(f"reconcile: unknown disagreement policy {policy!r}")
    return Reconciled(0, 0.0 if len(confs) == 2 else None, False, "orders disagree: tie")


def _canonical(shown: int, order: Order) -> int:
    return shown if order == "AB" else -shown


def _shown(item: PairItem, order: Order) -> tuple[object, object]:
    return (item.response_a, item.response_b) if order == "AB" else (item.response_b, item.response_a)


def verdict_from_scores(
    scores: ChoiceScores, labels: dict[str, int]
) -> tuple[int | None, float | None, dict | None]:
    """Shown-order verdict = the most probable label; None when nothing was scored or the top is shared."""
    probs = scores.probabilities() if scores.error is None else None
    if not probs:
        return None, None, None
    best = max(probs.values())
    winners = [k for k, p in probs.items() if p == best]
    if len(winners) != 1:
        return None, best, probs
    return labels[winners[0]], best, probs


class Judge:
    """A template + a backend + decoding settings: judges batches of pairs in the orders asked for."""

    def __init__(
        self,
        backend: LMBackend,
        template: PairwiseTemplate | HelpSteer2Template,
        mode: Mode = "generate",
        settings: DecodingSettings | None = None,
        disagreement: Literal["tie", "low_confidence"] = "tie",
    ) -> None:
        if mode not in {"generate", "score"}:
            raise ValueError(f"Judge: mode must be 'generate' or 'score', not {mode!r}")
        self.backend = backend
        self.template = template
        self.mode = mode
        default_tokens = 200 if isinstance(template, HelpSteer2Template) else 8
        self.settings = settings or DecodingSettings(max_tokens=default_tokens)
        self.disagreement = disagreement

    @property
    def prompt_version(self) -> str:
        return self.template.prompt_version

    def decoding(self) -> dict[str, Any]:
        """What is stored as "decoding settings" with each judgment."""
        return {"mode": self.mode, **self.settings.as_dict(), **self.backend.describe()}

    def judge_orders(self, jobs: list[tuple[PairItem, Order]]) -> list[OrderVerdict]:
        """Judge each (item, order); one batched backend call per kind of request."""
        if not jobs:
            return []
        if isinstance(self.template, HelpSteer2Template):
            if self.mode == "score":
                return self._helpsteer2_scored(jobs)
            return self._helpsteer2_generated(jobs)
        if self.mode == "score":
            return self._pairwise_scored(jobs)
        return self._pairwise_generated(jobs)

    def judge(self, items: list[PairItem]) -> list[tuple[OrderVerdict, OrderVerdict, Reconciled]]:
        """Both orders of every item, reconciled."""
        verdicts = self.judge_orders([(item, o) for item in items for o in ORDERS])
        out = []
        for i in range(len(items)):
            ab, ba = verdicts[2 * i], verdicts[2 * i + 1]
            out.append(
                (ab, ba, reconcile(ab.verdict, ba.verdict, ab.confidence, ba.confidence, self.disagreement))
            )
        return out

    # -- pairwise ---------------------------------------------------------------------------------------------

    def _pairwise_generated(self, jobs: list[tuple[PairItem, Order]]) -> list[OrderVerdict]:
        assert isinstance(self.template, PairwiseTemplate)
        prompts = [self.template.messages(item.prompt, *_shown(item, order)) for item, order in jobs]
        gens = self.backend.generate(prompts, self.settings)
        out = []
        for (_item, order), gen in zip(jobs, gens, strict=True):
            verdict = _generated_verdict(order, gen)
            if gen.error is not None:
                verdict.parse_error = f"backend error: {gen.error}"
                out.append(verdict)
                continue
            parsed = self.template.parse(gen.text)
            if not parsed.ok:
                verdict.parse_error = parsed.error
            else:
                verdict.verdict = _canonical(parsed.value, order)
                verdict.details["label"] = parsed.extra.get("label")
                if gen.first_token_logprobs:
                    probs = ChoiceScores(
                        match_label_logprobs(gen.first_token_logprobs, list(self.template.labels))
                    )
                    p = probs.probabilities()
                    if p is not None and probs.logprobs.get(parsed.extra["label"]) is not None:
                        verdict.probabilities = p
                        verdict.confidence = p[parsed.extra["label"]]
            out.append(verdict)
        return out

    def _pairwise_scored(self, jobs: list[tuple[PairItem, Order]]) -> list[OrderVerdict]:
        assert isinstance(self.template, PairwiseTemplate)
        prompts = [self.template.messages(item.prompt, *_shown(item, order)) for item, order in jobs]
        labels = list(self.template.labels)
        all_scores = self.backend.score_choices(prompts, labels)
        out = []
        for (_item, order), scores in zip(jobs, all_scores, strict=True):
            shown, conf, probs = verdict_from_scores(scores, self.template.labels)
            raw = None if scores.error else _render_scores(scores)
            error = f"backend error: {scores.error}" if scores.error else None
            if error is None and shown is None:
                error = "no single most probable label"
            out.append(
                OrderVerdict(
                    order=order,
                    raw=raw,
                    verdict=None if shown is None else _canonical(shown, order),
                    parse_error=error,
                    confidence=conf,
                    probabilities=probs,
                    prompt_tokens=scores.prompt_tokens,
                    seconds=scores.seconds,
                    backend_error=scores.error,
                )
            )
        return out

    # -- HelpSteer2 -------------------------------------------------------------------------------------------

    def _helpsteer2_generated(self, jobs: list[tuple[PairItem, Order]]) -> list[OrderVerdict]:
        template = self.template
        assert isinstance(template, HelpSteer2Template)
        prompts = [template.messages(item.prompt, *_shown(item, order)) for item, order in jobs]
        gens = self.backend.generate(prompts, self.settings)
        out = []
        for (_item, order), gen in zip(jobs, gens, strict=True):
            verdict = _generated_verdict(order, gen)
            parsed = template.parse(gen.text) if gen.error is None else None
            if parsed is None:
                verdict.parse_error = f"backend error: {gen.error}"
            elif not parsed.ok:
                verdict.parse_error = parsed.error
            else:
                first, second = parsed.value["response_a"], parsed.value["response_b"]
                verdict.verdict = _canonical(template.preference(first, second), order)
                verdict.details["ratings"] = _canonical_ratings(first, second, order)
            out.append(verdict)
        return out

    def _helpsteer2_scored(self, jobs: list[tuple[PairItem, Order]]) -> list[OrderVerdict]:
        """Expected 0-4 rating of every attribute of both shown responses from digit probabilities."""
        template = self.template
        assert isinstance(template, HelpSteer2Template)
        prompts = [
            template.rating_messages(item.prompt, first, second, which, attribute)
            for item, order in jobs
            for first, second in [_shown(item, order)]
            for which in ("A", "B")
            for attribute in HELPSTEER2_ATTRIBUTES
        ]
        started = time.perf_counter()
        scores = self.backend.score_choices(prompts, list(template.labels))
        per_job = 2 * len(HELPSTEER2_ATTRIBUTES)
        mean_seconds = (time.perf_counter() - started) / len(jobs)
        return [
            self._ratings_verdict(order, scores[index * per_job : (index + 1) * per_job], mean_seconds)
            for index, (_item, order) in enumerate(jobs)
        ]

    def _ratings_verdict(self, order: Order, job_scores: list, mean_seconds: float) -> OrderVerdict:
        """One order's verdict from its scored ratings (A's attributes, then B's): the preference the
        template derives from the expected ratings, or the first error."""
        template = self.template
        assert isinstance(template, HelpSteer2Template)
        ratings: dict[str, dict[str, float]] = {"A": {}, "B": {}}
        error = next((score.error for score in job_scores if score.error), None)
        for position, score in enumerate(job_scores):
            shown = "A" if position < len(HELPSTEER2_ATTRIBUTES) else "B"
            probabilities = score.probabilities() if score.error is None else None
            if probabilities is None:
                error = error or "a rating had no scored digit"
                continue
            attribute = HELPSTEER2_ATTRIBUTES[position % len(HELPSTEER2_ATTRIBUTES)]
            ratings[shown][attribute] = sum(
                template.labels[digit] * probability for digit, probability in probabilities.items()
            )
        verdict = OrderVerdict(
            order=order,
            raw=None if error else _render_ratings(ratings),
            verdict=None,
            parse_error=error,
            prompt_tokens=sum(score.prompt_tokens for score in job_scores),
            seconds=sum(score.seconds for score in job_scores) or mean_seconds,
            backend_error=error if error and "backend" in error else None,
        )
        if error is None:
            verdict.verdict = _canonical(template.preference(ratings["A"], ratings["B"]), order)
            verdict.details["ratings"] = _canonical_ratings(ratings["A"], ratings["B"], order)
        return verdict


def _generated_verdict(order: Order, gen) -> OrderVerdict:
    """What a generation gives before parsing: raw text, token counts, time and any backend error."""
    return OrderVerdict(
        order=order,
        raw=gen.text,
        verdict=None,
        prompt_tokens=gen.prompt_tokens,
        completion_tokens=gen.completion_tokens,
        seconds=gen.seconds,
        backend_error=gen.error,
    )


def _canonical_ratings(first: dict, second: dict, order: Order) -> dict[str, dict]:
    return (
        {"response_a": first, "response_b": second}
        if order == "AB"
        else {"response_a": second, "response_b": first}
    )


def _render_scores(scores: ChoiceScores) -> str:
    """The 'raw output' of a scoring call: the label log-probabilities, as JSON text."""
    return json.dumps({"logprobs": scores.logprobs}, sort_keys=True)


def _render_ratings(ratings: dict[str, dict[str, float]]) -> str:
    return json.dumps({"expected_ratings_shown_order": ratings}, sort_keys=True)

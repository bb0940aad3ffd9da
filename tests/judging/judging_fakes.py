"""A scripted in-memory backend for judging tests (no model, no network)."""

from __future__ import annotations

from collections.abc import Callable

from models.lm.base import ChoiceScores, DecodingSettings, Generation, LMBackend, Messages


class KilledWorker(BaseException):
    """Stands in for a worker killed mid-run (BaseException: nothing in the task may swallow it)."""


class FakeBackend(LMBackend):
    """Answers each prompt with ``answer(messages)``; counts every item asked; can 'die' after N items."""

    kind = "fake"

    def __init__(self, answer: Callable[[Messages], str] | str = "2", die_after: int | None = None) -> None:
        super().__init__("fake-model")
        self.answer = answer if callable(answer) else (lambda _m, a=answer: a)
        self.die_after = die_after
        self.asked = 0
        self.prompts: list[Messages] = []

    def _tick(self, n: int) -> None:
        if self.die_after is not None and self.asked + n > self.die_after:
            raise KilledWorker(f"killed after {self.asked} items")
        self.asked += n

    def generate(self, prompts: list[Messages], settings: DecodingSettings) -> list[Generation]:
        self._tick(len(prompts))
        self.prompts += prompts
        return [
            Generation(text=self.answer(p), prompt_tokens=100, completion_tokens=1, seconds=0.01)
            for p in prompts
        ]

    def score_choices(self, prompts: list[Messages], labels: list[str]) -> list[ChoiceScores]:
        self._tick(len(prompts))
        out = []
        for p in prompts:
            chosen = self.answer(p)
            out.append(ChoiceScores({k: (-0.1 if k == chosen else -3.0) for k in labels}, prompt_tokens=100))
        return out


def prefers_text(marker: str, labels: tuple[str, str] = ("1", "5")) -> Callable[[Messages], str]:
    """A position-unbiased judge: picks whichever shown response contains ``marker``."""

    def answer(messages: Messages) -> str:
        user = messages[-1]["content"]
        first = user.split("[Response A]")[1].split("[End of response A]")[0]
        return labels[0] if marker in first else labels[1]

    return answer

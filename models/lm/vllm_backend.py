"""In-process vLLM, imported lazily: a thin adapter over shared, tested code.

vLLM is an optional extra (``pip install .[gpu]``) and is never needed by the tests; everything here except
the two ``vllm`` calls is plain conversion from vLLM's output objects to our types, tested with stand-ins.
The usual production path is ``vllm serve`` plus ``OpenAIBackend``; this backend is for batch jobs on a GPU
worker (Celery queue ``gpu``/``judge``), where one ``LLM.chat`` call over the whole batch is fastest.
"""

from __future__ import annotations

import math
import time
from typing import Any

from models.lm.base import (
    BackendError,
    ChoiceScores,
    DecodingSettings,
    Generation,
    LMBackend,
    Messages,
    match_label_logprobs,
)


def import_vllm() -> Any:
    try:
        import vllm  # noqa: PLC0415 - optional dependency, imported only when this backend is used
    except ImportError as error:
        raise BackendError(
            "vllm backend: the vllm package is not installed (it is the optional extra `gpu`: "
            "`pip install .[gpu]` on a CUDA machine); or run `vllm serve` and use backend 'openai'"
        ) from error
    return vllm


def first_token_map(logprobs: Any) -> dict[str, float] | None:
    """vLLM's per-position logprobs (a list of {token_id: Logprob(logprob, decoded_token)}) -> first-token map."""
    if not logprobs:
        return None
    head = logprobs[0]
    if not isinstance(head, dict):
        return None
    out: dict[str, float] = {}
    for entry in head.values():
        token = getattr(entry, "decoded_token", None)
        value = getattr(entry, "logprob", None)
        if isinstance(token, str) and isinstance(value, int | float) and math.isfinite(value):
            out[token] = max(out.get(token, float("-inf")), float(value))
    return out or None


def generation_from_output(output: Any, seconds: float) -> Generation:
    """One vLLM RequestOutput as a Generation (malformed objects become errors, not exceptions)."""
    try:
        completion = output.outputs[0]
        text = completion.text
    except (AttributeError, IndexError, TypeError):
        return Generation(text=None, error="vllm returned no completion", seconds=seconds)
    prompt_ids = getattr(output, "prompt_token_ids", None) or []
    token_ids = getattr(completion, "token_ids", None) or []
    return Generation(
        text=text,
        first_token_logprobs=first_token_map(getattr(completion, "logprobs", None)),
        prompt_tokens=len(prompt_ids),
        completion_tokens=len(token_ids),
        seconds=seconds,
    )


class VLLMBackend(LMBackend):
    kind = "vllm"

    def __init__(self, model: str, engine_args: dict[str, Any] | None = None, llm: Any = None) -> None:
        """``llm`` lets a caller (or a test) pass an already-built engine; otherwise it is built on first use."""
        super().__init__(model)
        self.engine_args = dict(engine_args or {})
        self._llm = llm
        self._vllm: Any = None

    def _engine(self) -> Any:
        if self._llm is None:
            self._vllm = import_vllm()
            self._llm = self._vllm.LLM(model=self.model, **self.engine_args)
        return self._llm

    def _sampling(self, settings: DecodingSettings) -> Any:
        if self._vllm is None:
            self._vllm = import_vllm()
        return self._vllm.SamplingParams(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            logprobs=settings.top_logprobs,
        )

    def describe(self) -> dict[str, Any]:
        return {"backend": self.kind, "model": self.model, "engine_args": self.engine_args}

    def generate(self, prompts: list[Messages], settings: DecodingSettings) -> list[Generation]:
        if not prompts:
            return []
        engine = self._engine()
        started = time.perf_counter()
        outputs = engine.chat(prompts, self._sampling(settings), use_tqdm=False)
        per_item = (time.perf_counter() - started) / len(prompts)
        if len(outputs) != len(prompts):
            raise BackendError(f"vllm backend: {len(outputs)} outputs for {len(prompts)} prompts")
        return [generation_from_output(o, per_item) for o in outputs]

    def score_choices(self, prompts: list[Messages], labels: list[str]) -> list[ChoiceScores]:
        settings = DecodingSettings(temperature=0.0, max_tokens=1, seed=0, top_logprobs=20)
        out = []
        for gen in self.generate(prompts, settings):
            if gen.error or not gen.first_token_logprobs:
                out.append(
                    ChoiceScores(
                        {k: None for k in labels}, error=gen.error or "no logprobs", seconds=gen.seconds
                    )
                )
            else:
                out.append(
                    ChoiceScores(
                        match_label_logprobs(gen.first_token_logprobs, labels),
                        prompt_tokens=gen.prompt_tokens,
                        seconds=gen.seconds,
                    )
                )
        return out

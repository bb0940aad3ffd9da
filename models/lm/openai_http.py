"""A backend for any OpenAI-compatible chat-completions server: `vllm serve`, llama.cpp's server, hosted APIs.

- The API key is read from an environment variable named in the configuration, never from the configuration
  itself, so settings and stored judgments never hold secrets.
- At most ``max_concurrency`` requests are in flight (a thread pool plus a semaphore shared by all callers).
- Retries with exponential backoff happen on 429 and 5xx ONLY (honouring a numeric Retry-After, capped): other
  4xx are the caller's mistake and retrying them would only pay again; timeouts and connection errors are
  reported on the item, not retried, so a stuck server costs one timeout per item, not several.
- Log-probabilities are requested (``logprobs``/``top_logprobs``) and used when the server returns them.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from models.lm.base import (
    BackendError,
    ChoiceScores,
    DecodingSettings,
    Generation,
    LMBackend,
    Messages,
    match_label_logprobs,
)


class RequestFailed(RuntimeError):
    """One request failed for good (after any retries); the message says why."""


class OpenAIBackend(LMBackend):
    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_concurrency: int = 8,
        logprobs: bool = True,
        extra_body: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(model)
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise BackendError(f"openai backend: base_url must be an http(s) URL, got {base_url!r}")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise BackendError(
                f"openai backend: need max_concurrency >= 1, max_retries >= 0, timeout > 0 "
                f"(got {max_concurrency}, {max_retries}, {timeout})"
            )
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_concurrency = max_concurrency
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(api_key_env) if api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )
        self.stats = {"requests": 0, "retries": 0, "failures": 0}
        self._stats_lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.kind, "model": self.model, "base_url": self.base_url}

    def close(self) -> None:
        self._client.close()

    # -- requests -----------------------------------------------------------------------------------------

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def _backoff(self, attempt: int, response: httpx.Response) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        retry_after = response.headers.get("retry-after", "")
        try:
            delay = max(delay, min(self.backoff_max, float(retry_after)))
        except ValueError:
            pass
        return delay * (1 + 0.1 * random.random())

    def post_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /chat/completions with the retry policy; returns the decoded JSON or raises RequestFailed."""
        url = f"{self.base_url}/chat/completions"
        for attempt in range(self.max_retries + 1):
            with self._slots:
                self._count("requests")
                try:
                    response = self._client.post(url, json=body)
                except httpx.TimeoutException as error:
                    raise RequestFailed(f"timeout after {self.timeout}s ({type(error).__name__})") from error
                except httpx.HTTPError as error:
                    raise RequestFailed(f"connection error: {type(error).__name__}: {error}") from error
            status = response.status_code
            if status == 429 or status >= 500:
                if attempt < self.max_retries:
                    self._count("retries")
                    self._sleep(self._backoff(attempt, response))
                    continue
                raise RequestFailed(f"HTTP {status} after {attempt + 1} attempts: {response.text[:200]}")
            if status >= 400:
                raise RequestFailed(f"HTTP {status} (not retried): {response.text[:200]}")
            try:
                data = response.json()
            except ValueError as error:
                raise RequestFailed(
                    f"HTTP {status} with a body that is not JSON: {response.text[:120]!r}"
                ) from error
            if not isinstance(data, dict):
                raise RequestFailed("response JSON is not an object")
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def _body(
        self, messages: Messages, settings: DecodingSettings, max_tokens: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": max_tokens if max_tokens is not None else settings.max_tokens,
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = settings.top_logprobs
        body.update(self.extra_body)
        return body

    def _map(self, fn: Callable[[Messages], Any], prompts: list[Messages]) -> list[Any]:
        if len(prompts) <= 1:
            return [fn(p) for p in prompts]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(fn, prompts))

    # -- the interface ------------------------------------------------------------------------------------

    def generate(self, prompts: list[Messages], settings: DecodingSettings) -> list[Generation]:
        def one(messages: Messages) -> Generation:
            started = time.perf_counter()
            try:
                data = self.post_chat(self._body(messages, settings))
                gen = parse_chat_response(data)
            except RequestFailed as error:
                self._count("failures")
                return Generation(text=None, error=str(error), seconds=time.perf_counter() - started)
            gen.seconds = time.perf_counter() - started
            return gen

        return self._map(one, prompts)

    def score_choices(self, prompts: list[Messages], labels: list[str]) -> list[ChoiceScores]:
        if not self.logprobs:
            raise BackendError("openai backend: scoring needs logprobs=True (and a server that returns them)")
        settings = DecodingSettings(temperature=0.0, max_tokens=1, seed=0, top_logprobs=20)

        def one(messages: Messages) -> ChoiceScores:
            started = time.perf_counter()
            try:
                gen = parse_chat_response(self.post_chat(self._body(messages, settings, max_tokens=1)))
            except RequestFailed as error:
                self._count("failures")
                return ChoiceScores(
                    {k: None for k in labels}, error=str(error), seconds=time.perf_counter() - started
                )
            if gen.error is not None or not gen.first_token_logprobs:
                return ChoiceScores(
                    {k: None for k in labels},
                    error=gen.error or "server returned no logprobs",
                    seconds=time.perf_counter() - started,
                )
            return ChoiceScores(
                match_label_logprobs(gen.first_token_logprobs, labels),
                prompt_tokens=gen.prompt_tokens,
                seconds=time.perf_counter() - started,
            )

        return self._map(one, prompts)


def parse_chat_response(data: dict[str, Any]) -> Generation:
    """A chat-completions JSON body as a Generation; a malformed body becomes a Generation with an error."""
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return Generation(
            text=None, error=f"malformed response: no choices[0].message.content in {str(data)[:120]}"
        )
    if content is not None and not isinstance(content, str):
        return Generation(text=None, error=f"malformed response: content is {type(content).__name__}")
    usage = data.get("usage") or {}
    first: dict[str, float] | None = None
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list) and logprobs["content"]:
        head = logprobs["content"][0]
        if isinstance(head, dict):
            first = {}
            for entry in head.get("top_logprobs") or []:
                if isinstance(entry, dict) and isinstance(entry.get("token"), str):
                    lp = entry.get("logprob")
                    if isinstance(lp, int | float) and not isinstance(lp, bool):
                        first[entry["token"]] = max(first.get(entry["token"], float("-inf")), float(lp))
            if isinstance(head.get("token"), str) and isinstance(head.get("logprob"), int | float):
                first.setdefault(head["token"], float(head["logprob"]))
    return Generation(
        text=content,
        first_token_logprobs=first or None,
        prompt_tokens=int(usage.get("prompt_tokens") or 0) if isinstance(usage, dict) else 0,
        completion_tokens=int(usage.get("completion_tokens") or 0) if isinstance(usage, dict) else 0,
    )

"""Build a backend (and a judge) from configuration, e.g. a project's judge settings, never by editing code.

{"backend": "openai", "model": "meta-llama/Llama-3.1-8B-Instruct", "base_url": "http://gpu1:8000/v1",
 "api_key_env": "VLLM_API_KEY", "max_concurrency": 16, "timeout": 60, "max_retries": 4}
{"backend": "vllm", "model": "...", "engine_args": {"tensor_parallel_size": 1}}
{"backend": "local"}                      # SmolLM2-135M-Instruct on the CPU
judge keys: "prompt" (template name), "mode" ("generate"/"score"), "temperature", "max_tokens", "seed",
"disagreement" ("tie"/"low_confidence"), "name" (the judge name stored on labels; default: the model)
"""

from __future__ import annotations

from typing import Any

from models.lm.base import BackendError, DecodingSettings, LMBackend
from models.lm.judge import Judge
from models.lm.local import SMOLLM2_NAME, LocalBackend
from models.lm.openai_http import OpenAIBackend
from models.lm.prompts import HelpSteer2Template, get_template
from models.lm.vllm_backend import VLLMBackend

_BACKEND_KEYS: dict[str, set[str]] = {
    "openai": {
        "model",
        "base_url",
        "api_key_env",
        "timeout",
        "max_retries",
        "backoff_base",
        "backoff_max",
        "max_concurrency",
        "logprobs",
        "extra_body",
    },
    "vllm": {"model", "engine_args"},
    "local": {"model", "cache_dir", "max_prompt_tokens", "threads"},
}
_JUDGE_KEYS = {
    "backend",
    "prompt",
    "mode",
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "top_logprobs",
    "disagreement",
    "name",
}

DEFAULT_MODE = {"openai": "generate", "vllm": "generate", "local": "score"}


def make_backend(config: dict[str, Any]) -> LMBackend:
    """The backend a configuration names; unknown backends and keys raise BackendError naming them."""
    if not isinstance(config, dict):
        raise BackendError(f"LM backend configuration must be a dict, got {type(config).__name__}")
    kind = config.get("backend")
    if kind not in _BACKEND_KEYS:
        raise BackendError(
            f"LM backend configuration: 'backend' must be one of {sorted(_BACKEND_KEYS)}, got {kind!r}"
        )
    unknown = set(config) - _BACKEND_KEYS[kind] - _JUDGE_KEYS
    if unknown:
        raise BackendError(f"LM backend configuration: unknown keys {sorted(unknown)} for backend {kind!r}")
    args = {k: v for k, v in config.items() if k in _BACKEND_KEYS[kind]}
    if kind == "openai":
        missing = {"model", "base_url"} - set(args)
        if missing:
            raise BackendError(f"openai backend configuration needs {sorted(missing)}")
        return OpenAIBackend(**args)
    if kind == "vllm":
        if "model" not in args:
            raise BackendError("vllm backend configuration needs 'model'")
        return VLLMBackend(**args)
    return LocalBackend(**args)


def make_judge(config: dict[str, Any], backend: LMBackend | None = None) -> Any:
    """A Judge from the same configuration (the backend may be passed in to share one loaded model)."""
    backend = backend or make_backend(config)
    template = get_template(config.get("prompt", "multipref-overall"))
    mode = config.get("mode", DEFAULT_MODE[backend.kind])
    default_tokens = 200 if isinstance(template, HelpSteer2Template) else 8
    settings = DecodingSettings(
        temperature=float(config.get("temperature", 0.0)),
        max_tokens=int(config.get("max_tokens", default_tokens)),
        top_p=float(config.get("top_p", 1.0)),
        seed=config.get("seed", 0),
        top_logprobs=int(config.get("top_logprobs", 20)),
    )
    return Judge(
        backend, template, mode=mode, settings=settings, disagreement=config.get("disagreement", "tie")
    )


def judge_name(config: dict[str, Any]) -> str:
    """The name stored on labels: explicit ``name``, else the model (``SmolLM2-135M-Instruct`` for local)."""
    if config.get("name"):
        return str(config["name"])
    if config.get("model"):
        return str(config["model"])
    if config.get("backend") == "local":
        return SMOLLM2_NAME
    raise BackendError("judge configuration needs 'name' or 'model'")

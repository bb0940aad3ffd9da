"""Command-line options shared by ``judge`` and ``tag_prompts``: they build the backend configuration dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from annotation.judging.endpoints import EndpointUnavailable, enabled_endpoint


def add_backend_arguments(parser) -> None:
    parser.add_argument(
        "--endpoint",
        help="Name of an LM endpoint configured in Django admin (instead of the backend options below).",
    )
    parser.add_argument("--config", help="Backend configuration as JSON text or a path to a JSON file.")
    parser.add_argument("--backend", choices=["openai", "vllm", "local"], help="Default: local.")
    parser.add_argument(
        "--model", help="Model name (openai/vllm) or local model (default SmolLM2-135M-Instruct)."
    )
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key-env", help="Environment variable holding the API key (never the key).")
    parser.add_argument("--max-concurrency", type=int)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--name", help="Judge name stored on labels (default: the model).")
    parser.add_argument("--cache-dir", help="Local backend: where converted weights are kept.")
    parser.add_argument(
        "--threads",
        type=int,
        help="Local backend: torch threads (1 is fastest on a CPU shared with other work).",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--limit", type=int, help="Only the first N instances (by id).")
    parser.add_argument(
        "--enqueue", action="store_true", help="Send to the Celery 'judge' queue, do not wait."
    )


def backend_config(options: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if options.get("config"):
        text = options["config"]
        path = Path(text)
        try:
            config = json.loads(path.read_text() if path.is_file() else text)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(f"--config: not JSON text or a readable JSON file: {error}") from error
        if not isinstance(config, dict):
            raise CommandError("--config must hold a JSON object")
    mapping = {
        "backend": "backend",
        "model": "model",
        "base_url": "base_url",
        "api_key_env": "api_key_env",
        "max_concurrency": "max_concurrency",
        "timeout": "timeout",
        "name": "name",
        "cache_dir": "cache_dir",
        "threads": "threads",
    }
    for option, key in mapping.items():
        if options.get(option) is not None:
            config[key] = options[option]
    config.setdefault("backend", "local")
    return config


BACKEND_OPTIONS = ("config", "backend", "model", "base_url", "api_key_env", "max_concurrency", "timeout")
BACKEND_OPTIONS += ("name", "cache_dir", "threads")


def backend_params(options: dict[str, Any], decoding: dict[str, Any]) -> dict[str, Any]:
    """The job's LM part: ``{"endpoint", "options"}`` with --endpoint (the admin's row is resolved when the job
    runs), else the full configuration the operator gave on the command line."""
    if not options.get("endpoint"):
        return {"config": {**backend_config(options), **decoding}}
    mixed = [f"--{name.replace('_', '-')}" for name in BACKEND_OPTIONS if options.get(name) is not None]
    if mixed:
        raise CommandError(f"--endpoint already names the backend; drop {', '.join(mixed)}")
    try:
        enabled_endpoint(options["endpoint"])
    except EndpointUnavailable as error:
        raise CommandError(str(error)) from error
    return {"endpoint": options["endpoint"], "options": decoding}

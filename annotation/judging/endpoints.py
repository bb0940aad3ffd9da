"""LM endpoints chosen by name: what a job request may say, and the backend configuration the worker builds.

A job started through the API stores ``{"endpoint": <name>, "options": {...}}``; the worker turns the name
into a configuration (URL, model, key variable, limits) from the admin's ``LMEndpoint`` row at run time. So
no request can name a URL, an environment variable or a path: the request serializer refuses every key it
does not know, and the configuration is built only from the row and from settings.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from annotation.judging.models import LMEndpoint
from models.lm.base import BackendError
from models.lm.prompts import TEMPLATES
from models.lm.taggers import QUESTIONS

# Decoding options a request may pass through to the judge or tagger (validated below).
DECODING_OPTIONS = ("prompt", "mode", "temperature", "max_tokens", "top_p", "seed", "disagreement")
RUN_OPTIONS = ("limit", "batch_size", "dimensions")
TAG_DIMENSIONS = sorted(QUESTIONS)  # the dimensions the prompt tagger asks about


class EndpointUnavailable(BackendError):
    """The named endpoint does not exist or an admin disabled it."""


def enabled_endpoint(name: str) -> LMEndpoint:
    """The enabled endpoint called ``name``; the error names it (and says nothing about disabled ones' config)."""
    endpoint = LMEndpoint.objects.filter(name=name, enabled=True).first()
    if endpoint is None:
        raise EndpointUnavailable(f"no enabled LM endpoint named {name!r}; an admin configures endpoints")
    return endpoint


class JobRequestSerializer(serializers.Serializer):
    """The body of ``POST .../judge-jobs/`` and ``.../tag-jobs/``: an endpoint name and decoding options."""

    endpoint = serializers.SlugField(max_length=64)
    prompt = serializers.ChoiceField(choices=sorted(TEMPLATES), required=False)
    mode = serializers.ChoiceField(choices=["generate", "score"], required=False)
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, required=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=32768, required=False)
    top_p = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    disagreement = serializers.ChoiceField(choices=["tie", "low_confidence"], required=False)
    limit = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)
    batch_size = serializers.IntegerField(min_value=1, max_value=256, required=False)
    dimensions = serializers.ListField(
        child=serializers.ChoiceField(choices=TAG_DIMENSIONS), max_length=len(TAG_DIMENSIONS), required=False
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Unknown keys are refused by name: a request carrying base_url or api_key_env is an error, not
        something silently dropped, so a caller never believes it chose a server."""
        if isinstance(data, dict):
            unknown = sorted(str(key)[:64] for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: "not accepted here: a job names an LM endpoint configured by an admin "
                        "and decoding options only"
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)

    def validate_endpoint(self, name: str) -> str:
        try:
            enabled_endpoint(name)
        except EndpointUnavailable as error:
            raise serializers.ValidationError(str(error)) from error
        return name

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        endpoint = enabled_endpoint(attrs["endpoint"])
        if attrs.get("max_tokens", 0) > endpoint.max_tokens:
            raise serializers.ValidationError(
                {"max_tokens": f"at most {endpoint.max_tokens} for endpoint {endpoint.name!r}"}
            )
        return attrs


def job_params(validated: dict[str, Any]) -> dict[str, Any]:
    """What the job row stores: the endpoint's name, decoding options and run options, nothing else."""
    params: dict[str, Any] = {"endpoint": validated["endpoint"]}
    params["options"] = {key: validated[key] for key in DECODING_OPTIONS if key in validated}
    params.update({key: validated[key] for key in RUN_OPTIONS if key in validated})
    return params


def endpoint_config(endpoint: LMEndpoint, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The backend configuration (``models.lm.factory`` format) for ``endpoint`` with decoding ``options``.

    Only the row and settings supply the backend part; ``options`` may add decoding keys only, and
    ``max_tokens`` is capped by the endpoint's limit again here (an admin may have lowered it since).
    """
    config: dict[str, Any] = {"backend": endpoint.backend}
    if endpoint.backend == LMEndpoint.Backend.OPENAI:
        config |= {
            "model": endpoint.model,
            "base_url": endpoint.base_url,
            "api_key_env": endpoint.api_key_setting or None,
            "max_concurrency": endpoint.max_concurrency,
            "timeout": endpoint.timeout,
        }
    elif endpoint.backend == LMEndpoint.Backend.VLLM:
        config["model"] = endpoint.model
    else:
        config |= _local_backend_settings()
    decoding = {key: value for key, value in (options or {}).items() if key in DECODING_OPTIONS}
    if "max_tokens" in decoding:
        decoding["max_tokens"] = min(int(decoding["max_tokens"]), endpoint.max_tokens)
    return config | decoding


def _local_backend_settings() -> dict[str, Any]:
    """The local model, its converted-weights folder and thread count come from settings only."""
    local: dict[str, Any] = {}
    if settings.LOCAL_LM_MODEL:
        local["model"] = settings.LOCAL_LM_MODEL
    if settings.LOCAL_LM_CACHE_DIR:
        local["cache_dir"] = settings.LOCAL_LM_CACHE_DIR
    if settings.LOCAL_LM_THREADS:
        local["threads"] = settings.LOCAL_LM_THREADS
    return local


def job_config(params: dict[str, Any]) -> dict[str, Any]:
    """The configuration a stored job runs with: its endpoint's, resolved now, or the full configuration an
    operator's management command stored (jobs started through the API never hold one)."""
    if "endpoint" in params:
        return endpoint_config(enabled_endpoint(str(params["endpoint"])), params.get("options") or {})
    if isinstance(params.get("config"), dict):
        return params["config"]
    raise BackendError("the job names neither an LM endpoint nor a backend configuration")

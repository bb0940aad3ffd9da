"""What LM judges and taggers answered, one row per call, so runs can resume and every label can be audited.

``LMJudgment`` keeps each response order separately (raw output, parsed verdict or the parse error, decoding
settings, confidence, tokens, time); the reconciled label of both orders goes to ``annotation.LMLabel``.
``PromptTagRecord`` is read by routing (by this name and these fields): normalised answers per dimension.
``LMEndpoint`` is the admin's list of LM servers that jobs started through the API may use.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


class LMJudgment(models.Model):
    class Order(models.TextChoices):
        AB = "AB", "response_a shown first"
        BA = "BA", "response_b shown first"

    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="lm_judgments")
    judge = models.CharField(max_length=255, help_text="Judge name (usually the model).")
    model = models.CharField(max_length=255)
    prompt_version = models.CharField(max_length=64)
    order = models.CharField(max_length=2, choices=Order.choices)
    decoding = models.JSONField(
        default=dict, blank=True, help_text="Mode, temperature, max tokens, seed, backend."
    )
    # null = no output at all (a scoring call); "" = the model answered with nothing.
    raw_output = models.TextField(null=True, blank=True)  # noqa: DJ001
    verdict = models.SmallIntegerField(null=True, blank=True, help_text="Canonical order; null = unparsed.")
    parse_error = models.TextField(blank=True, default="")
    backend_error = models.TextField(blank=True, default="")
    confidence = models.FloatField(null=True, blank=True)
    logprobs = models.JSONField(null=True, blank=True, help_text="Label probabilities when known.")
    details = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "judge", "prompt_version", "order"], name="one_judgment_per_order"
            )
        ]
        indexes = [models.Index(fields=["judge", "prompt_version"])]

    def __str__(self) -> str:
        return f"{self.judge} {self.prompt_version} {self.order} on {self.instance_id}: {self.verdict}"


class PromptTagRecord(models.Model):
    instance = models.ForeignKey("annotation.Instance", on_delete=models.CASCADE, related_name="prompt_tags")
    model = models.CharField(max_length=255)
    prompt_version = models.CharField(max_length=64)
    answers = models.JSONField(default=dict, help_text='{dimension: normalised label list or "unknown"}')
    raw = models.JSONField(default=dict, help_text="{dimension: raw output}")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "model", "prompt_version"], name="one_tag_record_per_tagger"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.prompt_version} on {self.instance_id}"


# Only environment variables with this prefix may hold an endpoint's API key: even an admin cannot point an
# endpoint at DATABASE_URL or SECRET_KEY, whose values would otherwise be sent as a bearer token.
API_KEY_SETTING_PATTERN = r"^HYBRIDPREF_LM_KEY_[A-Z0-9_]{1,64}$"


class LMEndpoint(models.Model):
    """An LM server (or the local model) that judge and tag jobs may use, configured by an admin.

    Researchers and the API choose an endpoint by ``name`` and add decoding options only; the URL, the model,
    the environment variable holding the key and the limits live here. The ``local`` backend's weights and
    cache folder come from settings (``LOCAL_LM_MODEL``, ``LOCAL_LM_CACHE_DIR``), never from this row.
    """

    class Backend(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible HTTP server"
        VLLM = "vllm", "vLLM in the worker process (GPU)"
        LOCAL = "local", "Local CPU model from settings"

    name = models.SlugField(max_length=64, unique=True, help_text="What researchers choose in a job request.")
    backend = models.CharField(max_length=16, choices=Backend.choices)
    base_url = models.URLField(
        max_length=500, blank=True, help_text="OpenAI-compatible server (openai backend only), e.g. …/v1."
    )
    model = models.CharField(
        max_length=255, blank=True, help_text="Model name served (openai, vllm); empty for local."
    )
    api_key_setting = models.CharField(
        max_length=82,
        blank=True,
        validators=[
            RegexValidator(
                API_KEY_SETTING_PATTERN,
                "The key must come from an environment variable named HYBRIDPREF_LM_KEY_<NAME> "
                "(capitals, digits, underscores).",
            )
        ],
        help_text="NAME of the environment variable holding the API key (never the key itself).",
    )
    max_concurrency = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(256)]
    )
    timeout = models.FloatField(
        default=60.0,
        validators=[MinValueValidator(1.0), MaxValueValidator(3600.0)],
        help_text="Seconds per request.",
    )
    max_tokens = models.PositiveIntegerField(
        default=1024,
        validators=[MinValueValidator(1), MaxValueValidator(32768)],
        help_text="The most completion tokens a job may ask for.",
    )
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "LM endpoint"

    def __str__(self) -> str:
        return f"{self.name} ({self.backend} {self.model or 'local'})"

    def clean(self) -> None:
        """Each backend needs its own fields and refuses the others, so a row never half-configures one."""
        errors: dict[str, str] = {}
        if self.backend == self.Backend.OPENAI:
            if not self.base_url:
                errors["base_url"] = "An openai endpoint needs the server's base URL."
            if not self.model:
                errors["model"] = "An openai endpoint needs the model name the server serves."
        else:
            if self.base_url:
                errors["base_url"] = f"A {self.backend} endpoint has no base URL."
            if self.api_key_setting:
                errors["api_key_setting"] = f"A {self.backend} endpoint uses no API key."
        if self.backend == self.Backend.VLLM and not self.model:
            errors["model"] = "A vllm endpoint needs the model to load."
        if self.backend == self.Backend.LOCAL and self.model:
            errors["model"] = "The local model is chosen in settings (LOCAL_LM_MODEL), not here."
        if errors:
            raise ValidationError(errors)

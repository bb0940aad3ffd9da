"""Full transformer reward models through transformers (no Django).

A backbone with a scalar head (``AutoModelForSequenceClassification`` with one label: the pooled/last
token for decoders, [CLS] for encoders), trained with the pairwise losses of ``losses`` or the regression
loss on 0-4 ratings. GPU: bf16 autocast, gradient checkpointing, optional LoRA (peft, when installed).
CPU: a small backbone such as the local MiniLM directory. Seeds are fixed and the data order is returned
(and saved with the artifact), so a run can be reproduced exactly.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.embeddings import minilm_dir
from models.reward.cancellation import TrainingCancelled
from models.reward.loss_names import LOSSES
from models.reward.losses import pairwise_loss, regression_loss


@dataclass
class TrainConfig:
    backbone: str = ""  # a local directory (or a name resolvable offline); "" = the local MiniLM
    loss: str = "bt"
    lr: float = 2e-5
    batch_size: int = 8
    max_length: int = 256
    epochs: float = 1.0
    max_steps: int | None = None
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast on GPU (and on CPU when supported)
    gradient_checkpointing: bool | None = None  # None = on for GPU
    lora_r: int = 0  # > 0 uses peft LoRA if installed
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss={self.loss!r}: expected one of {LOSSES}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError("TrainConfig: batch_size must be >= 1 and lr > 0")


@dataclass(frozen=True)
class PairExample:
    prompt: str
    chosen: str
    rejected: str
    strength: float = 1.0


@dataclass(frozen=True)
class RatedExample:
    prompt: str
    response: str
    rating: float  # 0-4


def resolve_backbone(name: str) -> str:
    if name:
        if Path(name).is_dir():
            return name
        if os.environ.get("HF_HUB_OFFLINE", "1") == "1":
            raise RuntimeError(
                f"backbone {name!r} is not a local directory and the Hub is offline; give a path"
            )
        return name
    return str(minilm_dir())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _device(config: TrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


class TransformerRewardModel:
    """Scalar reward = head(backbone(prompt, response))."""

    def __init__(self, config: TrainConfig) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.config = config
        self.device = _device(config)
        path = resolve_backbone(config.backbone)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.sep_token
        seed_everything(config.seed)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, local_files_only=True
        )
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        gpu = self.device.type == "cuda"
        if config.gradient_checkpointing if config.gradient_checkpointing is not None else gpu:
            self.model.gradient_checkpointing_enable()
        if config.lora_r > 0:
            try:
                from peft import LoraConfig, TaskType, get_peft_model
            except ImportError as exc:
                raise RuntimeError("lora_r > 0 needs peft: pip install 'hybridpref[gpu]'") from exc
            self.model = get_peft_model(self.model, LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r))
        self.model.to(self.device)

    def _autocast(self):
        use = self.config.bf16 and (self.device.type == "cuda" or self.device.type == "cpu")
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use)

    def _encode(self, prompts: Sequence[str], responses: Sequence[str]) -> dict:
        batch = self.tokenizer(
            list(prompts),
            list(responses),
            truncation="longest_first",
            max_length=self.config.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {k: v.to(self.device) for k, v in batch.items()}

    def rewards(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        with self._autocast():
            return self.model(**self._encode(prompts, responses)).logits[:, 0].float()

    @torch.no_grad()
    def score(self, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.model.eval()
        out = [
            self.rewards(prompts[i : i + batch_size], responses[i : i + batch_size]).cpu().numpy()
            for i in range(0, len(prompts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0)

    def train(
        self,
        examples: Sequence[PairExample] | Sequence[RatedExample],
        progress: Callable[[int, int, float], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> dict:
        """One pass per epoch in a seeded random order; returns the loss curve and the data order."""
        batch_size = self.config.batch_size
        self._check_examples(examples)
        order, total_steps = self._data_order(len(examples))
        optimiser, scheduler = self._optimiser(total_steps)
        self.model.train()
        losses: list[float] = []
        started = time.perf_counter()
        for step in range(total_steps):
            if should_stop and should_stop():
                raise TrainingCancelled(f"stopped at step {step} of {total_steps}")
            batch = [examples[int(index)] for index in order[step * batch_size : (step + 1) * batch_size]]
            if not batch:
                break
            loss = self._batch_loss(batch)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if progress:
                progress(step + 1, total_steps, losses[-1])
        self.model.eval()
        return {
            "steps": len(losses),
            "loss_curve": losses,
            "data_order": order[: total_steps * batch_size].tolist(),
            "train_seconds": time.perf_counter() - started,
        }

    def _check_examples(self, examples: Sequence[PairExample] | Sequence[RatedExample]) -> None:
        """The regression loss trains on rated responses, every other loss on chosen/rejected pairs."""
        if not examples:
            raise ValueError("no training examples")
        regression = self.config.loss == "regression"
        if regression != isinstance(examples[0], RatedExample):
            raise ValueError(
                f"loss {self.config.loss!r} needs {'RatedExample' if regression else 'PairExample'} rows"
            )

    def _data_order(self, n_examples: int) -> tuple[np.ndarray, int]:
        """A seeded permutation per epoch, concatenated, and the number of optimiser steps (capped by
        ``max_steps``): the order is returned with the run so that it can be replayed."""
        config = self.config
        rng = np.random.default_rng(config.seed)
        steps_per_epoch = math.ceil(n_examples / config.batch_size)
        total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
        if config.max_steps:
            total_steps = min(total_steps, config.max_steps)
        epochs = math.ceil(config.epochs) or 1
        order = np.concatenate([rng.permutation(n_examples) for _ in range(epochs)])
        return order, total_steps

    def _optimiser(self, total_steps: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """AdamW over the trainable parameters with a linear warm-up, then a constant learning rate."""
        config = self.config
        trainable = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        warmup = max(1, round(total_steps * config.warmup_ratio))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / warmup))
        return optimiser, scheduler

    def _batch_loss(self, batch: list) -> torch.Tensor:
        """The configured loss of one batch: ratings for regression, chosen-minus-rejected rewards otherwise."""
        if self.config.loss == "regression":
            predicted = self.rewards([row.prompt for row in batch], [row.response for row in batch])
            ratings = torch.tensor([row.rating for row in batch], device=self.device)
            return regression_loss(predicted, ratings)
        rewards = self.rewards(
            [row.prompt for row in batch] * 2, [row.chosen for row in batch] + [row.rejected for row in batch]
        )
        strength = torch.tensor([row.strength for row in batch], device=self.device)
        return pairwise_loss(self.config.loss, rewards[: len(batch)], rewards[len(batch) :], strength)

    def save(self, directory: str | Path, metadata: dict | None = None) -> Path:
        """Write weights, tokenizer and the training config; ``done.json`` last marks a complete artifact."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        (directory / "done.json").write_text(json.dumps({"config": asdict(self.config), **(metadata or {})}))
        return directory


def is_complete_artifact(directory: str | Path) -> bool:
    return (Path(directory) / "done.json").exists()

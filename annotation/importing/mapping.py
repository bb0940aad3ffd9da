"""Map a raw record of one of the common dataset shapes onto an instance and its labels.

Recognised shapes (first match wins):
- prompt: ``prompt`` (text or a list of chat messages), ``instruction`` (+ ``input``), ``question``, or
  ``messages`` (a chat whose last turn is the user's);
- responses: ``response_a``/``response_b``, ``response_1``/``response_2``, ``response1``/``response2``,
  ``output_1``/``output_2``, ``chosen``/``rejected`` (texts, or chats sharing the prompt as a prefix);
- id: ``id``, ``idx``, ``external_id``, ``uid`` (else a hash of the prompt and responses, stable across imports);
- labels: ``human_labels`` ([{annotator, label}], label A/B/tie or -3..3) and ``lm_labels`` ({judge: label}).
Everything else lands in the instance's metadata.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from annotation.core.labels import preference_of
from annotation.importing.errors import DatasetImportError

PROMPT_FIELDS = ("prompt", "instruction", "question", "messages")
RESPONSE_PAIRS = (
    ("response_a", "response_b"),
    ("response_1", "response_2"),
    ("response1", "response2"),
    ("output_1", "output_2"),
    ("chosen", "rejected"),
)
ID_FIELDS = ("id", "idx", "external_id", "uid")
MODEL_PAIRS = (("model_a", "model_b"), ("model_1", "model_2"), ("generator_1", "generator_2"))
CHOSEN_REJECTED_ANNOTATOR = "dataset:chosen"


@dataclass
class MappedInstance:
    location: str
    external_id: str
    prompt: str
    messages: list[dict[str, str]] | None
    response_a: str
    response_b: str
    model_a: str = ""
    model_b: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    human_votes: list[tuple[str, int]] = field(default_factory=list)
    lm_labels: list[tuple[str, int]] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The instance columns, as stored."""
        return {
            "prompt": self.prompt,
            "messages": self.messages,
            "response_a": self.response_a,
            "response_b": self.response_b,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "metadata": self.metadata,
        }


class RecordMapper:
    """Maps records one at a time and counts what it had to coerce or skip (for the import report)."""

    def __init__(self, file_name: str):
        self.file_name = file_name
        self.notes: Counter[str] = Counter()

    def error(self, location: str, field_name: str, message: str) -> DatasetImportError:
        return DatasetImportError(message, file=self.file_name, location=location, field=field_name)

    def map(self, location: str, record: Any) -> MappedInstance:
        if not isinstance(record, dict):
            raise self.error(location, "", f"a record must be a JSON object, got {_kind(record)}")
        used: set[str] = set()
        prompt, messages = self._prompt(location, record, used)
        response_a, response_b, label_from_order = self._responses(location, record, used, messages)
        if not prompt and messages is None and isinstance(record.get("chosen"), list):
            messages = self._messages(location, record["chosen"], "chosen")[:-1]
            if not messages:
                raise self.error(location, "chosen", "the chats hold no prompt turns before the responses")
            prompt = _render_chat(messages)
        model_a, model_b = self._models(location, record, used)
        external_id = self._external_id(location, record, used, prompt, response_a, response_b)
        human_votes = self._human_votes(location, record, used)
        if label_from_order:
            human_votes.append((CHOSEN_REJECTED_ANNOTATOR, -1))
            self.notes["labels implied by chosen/rejected"] += 1
        lm_labels = self._lm_labels(location, record, used)
        metadata = {key: value for key, value in record.items() if key not in used}
        return MappedInstance(
            location, external_id, prompt, messages, response_a, response_b, model_a, model_b, metadata,
            human_votes, lm_labels,
        )  # fmt: skip

    # -- fields -------------------------------------------------------------------------------------------
    def _text(self, location: str, record: dict, name: str, *, required: bool = True) -> str:
        if name not in record:
            if required:
                raise self.error(location, name, "missing")
            return ""
        value = record[name]
        if isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            # Real files hold e.g. JSON true where a model wrote "True": keep it as the text it stands for.
            self.notes[f"scalar {name} converted to text"] += 1
            return str(value)
        raise self.error(location, name, f"expected text, got {_kind(value)}")

    def _prompt(self, location: str, record: dict, used: set[str]) -> tuple[str, list[dict] | None]:
        if "prompt" in record and isinstance(record["prompt"], list):
            used.add("prompt")
            messages = self._messages(location, record["prompt"], "prompt")
            return _render_chat(messages), messages
        if "prompt" in record:
            used.add("prompt")
            return self._text(location, record, "prompt"), None
        if "instruction" in record:
            used.update({"instruction", "input"})
            instruction = self._text(location, record, "instruction")
            extra = self._text(location, record, "input", required=False)
            return (f"{instruction}\n\n{extra}" if extra.strip() else instruction), None
        if "question" in record:
            used.add("question")
            return self._text(location, record, "question"), None
        if "messages" in record:
            used.add("messages")
            messages = self._messages(location, record["messages"], "messages")
            return _render_chat(messages), messages
        if isinstance(record.get("chosen"), list):
            return "", None  # the prompt is the shared prefix of the two chats; see _responses
        raise self.error(location, "prompt", f"missing (looked for {', '.join(PROMPT_FIELDS)})")

    def _messages(self, location: str, value: Any, name: str) -> list[dict[str, str]]:
        if not isinstance(value, list) or not value:
            raise self.error(
                location, name, f"expected a non-empty list of chat messages, got {_kind(value)}"
            )
        messages = []
        for index, message in enumerate(value):
            where = f"{name}[{index}]"
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise self.error(location, where, "expected {role, content} with text content")
            role = message.get("role")
            if role not in {"system", "user", "assistant"}:
                raise self.error(
                    location, f"{where}.role", f"expected system, user or assistant, got {role!r}"
                )
            messages.append({"role": role, "content": message["content"]})
        return messages

    def _responses(
        self, location: str, record: dict, used: set[str], messages: list | None
    ) -> tuple[str, str, bool]:
        for first, second in RESPONSE_PAIRS:
            if first in record or second in record:
                used.update({first, second})
                if isinstance(record.get(first), list) and first == "chosen":
                    return (*self._chat_responses(location, record, used), True)
                a, b = self._text(location, record, first), self._text(location, record, second)
                for name, text in ((first, a), (second, b)):
                    if not text.strip():
                        self.notes[f"empty {name} kept"] += 1
                return a, b, first == "chosen"
        names = ", ".join(f"{a}/{b}" for a, b in RESPONSE_PAIRS)
        raise self.error(location, "response_a", f"missing response fields (looked for {names})")

    def _chat_responses(self, location: str, record: dict, used: set[str]) -> tuple[str, str]:
        chosen = self._messages(location, record["chosen"], "chosen")
        rejected = self._messages(location, record.get("rejected"), "rejected")
        if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            raise self.error(location, "chosen", "chat responses must end with the assistant's turn")
        if chosen[:-1] != rejected[:-1]:
            raise self.error(
                location, "rejected", "chosen and rejected chats must share the same prompt turns"
            )
        return chosen[-1]["content"], rejected[-1]["content"]

    def _models(self, location: str, record: dict, used: set[str]) -> tuple[str, str]:
        for first, second in MODEL_PAIRS:
            if first in record or second in record:
                used.update({first, second})
                return (
                    self._text(location, record, first, required=False),
                    self._text(location, record, second, required=False),
                )
        return "", ""

    def _external_id(
        self, location: str, record: dict, used: set[str], prompt: str, response_a: str, response_b: str
    ) -> str:
        for name in ID_FIELDS:
            if name in record:
                used.add(name)
                value = record[name]
                if isinstance(value, bool) or not isinstance(value, str | int):
                    raise self.error(location, name, f"an id must be text or an integer, got {_kind(value)}")
                text = str(value).strip()
                if not text:
                    raise self.error(location, name, "an id must not be empty")
                if len(text) > 255:
                    raise self.error(location, name, "an id must be at most 255 characters")
                return text
        digest = hashlib.sha256(json.dumps([prompt, response_a, response_b]).encode()).hexdigest()
        self.notes["ids derived from content"] += 1
        return f"sha256:{digest[:32]}"

    def _human_votes(self, location: str, record: dict, used: set[str]) -> list[tuple[str, int]]:
        if "human_labels" not in record:
            return []
        used.add("human_labels")
        votes = record["human_labels"]
        if not isinstance(votes, list):
            raise self.error(
                location, "human_labels", f"expected a list of {{annotator, label}}, got {_kind(votes)}"
            )
        result, seen = [], set()
        for index, vote in enumerate(votes):
            where = f"human_labels[{index}]"
            if not isinstance(vote, dict) or "annotator" not in vote or "label" not in vote:
                raise self.error(location, where, "expected {annotator, label}")
            annotator = str(vote["annotator"]).strip()
            if not annotator or annotator in seen:
                raise self.error(location, f"{where}.annotator", f"empty or repeated annotator {annotator!r}")
            seen.add(annotator)
            result.append((annotator, self._preference(location, f"{where}.label", vote["label"])))
        return result

    def _lm_labels(self, location: str, record: dict, used: set[str]) -> list[tuple[str, int]]:
        if "lm_labels" not in record:
            return []
        used.add("lm_labels")
        labels = record["lm_labels"]
        if not isinstance(labels, dict):
            raise self.error(
                location, "lm_labels", f"expected an object {{judge: label}}, got {_kind(labels)}"
            )
        result = []
        for judge, label in labels.items():
            if label is None:
                self.notes[f"missing LM verdicts ({judge})"] += 1  # a null verdict is not a label
                continue
            result.append((str(judge), self._preference(location, f"lm_labels.{judge}", label)))
        return result

    def _preference(self, location: str, where: str, label: Any) -> int:
        if isinstance(label, int) and not isinstance(label, bool) and -3 <= label <= 3:
            return label
        if isinstance(label, str):
            try:
                return preference_of(label)
            except ValueError:
                pass
        raise self.error(location, where, f"expected A, B, tie or an integer -3..3, got {label!r}")


def _render_chat(messages: list[dict[str, str]]) -> str:
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array"}.get(type(value), type(value).__name__)

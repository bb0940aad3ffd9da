"""Map a raw record of one of the common dataset shapes onto an instance and its labels.

Recognised shapes (first match wins):
- prompt: ``prompt`` (text or a list of chat messages), ``instruction`` (+ ``input``), ``question``, or
  ``messages`` (a chat whose last turn is the user's);
- responses: ``response_a``/``response_b``, ``response_1``/``response_2``, ``response1``/``response2``,
  ``output_1``/``output_2``, ``chosen``/``rejected`` (texts, or chats sharing the prompt as a prefix);
- id: ``id``, ``idx``, ``external_id``, ``uid`` (else a hash of the prompt and responses, stable across imports);
- labels: ``human_labels`` ([{annotator, label}], label A/B/tie or -3..3) and ``lm_labels`` ({judge: label},
  or {judge: {"ab": label, "ba": label}} for a judge asked in both response orders; both verdicts in the
  canonical order, A = response_a, and reconciled into one label exactly as the ``judge`` command does).
Everything else lands in the instance's metadata.

Integrity rules: NaN (pandas' missing value) where text belongs is a missing value, never the text "nan"; a
response of only whitespace and zero-width characters is stored empty; a field larger than the field cap is
refused; an annotator voting twice on one item is refused unless a ``RepeatedVotes`` policy says otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from annotation.core.labels import preference_of
from annotation.importing.errors import DatasetImportError
from annotation.importing.limits import DEFAULT_LIMITS, ImportLimits
from models.lm.judge import reconcile

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
ON_REPEATED_ANNOTATOR = ("refuse", "first", "last", "keep")
ORDER_KEYS = {"ab": "AB", "ba": "BA"}
# Characters that show nothing: a response made only of these (and whitespace) is empty.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def is_blank(text: str) -> bool:
    """Whitespace and zero-width characters only (str.strip() alone keeps U+200B, U+FEFF and friends)."""
    return not text.strip().strip(INVISIBLE).strip()


@dataclass(frozen=True)
class ImportedLMLabel:
    """One judge's label from the file. ``orders`` holds the two canonical verdicts when the file gave both
    orders; ``preference``/``consistent``/``reason`` are then their reconciliation."""

    judge: str
    preference: int
    orders: dict[str, int] | None = None
    consistent: bool | None = None
    reason: str = ""

    def key(self) -> tuple:
        """What makes two imports of this label the same (for 'unchanged' on re-import)."""
        orders = tuple(sorted(self.orders.items())) if self.orders else None
        return (self.judge, self.preference, orders)


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
    lm_labels: list[ImportedLMLabel] = field(default_factory=list)

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

    def __init__(
        self, file_name: str, limits: ImportLimits = DEFAULT_LIMITS, on_repeated_annotator: str = "refuse"
    ):
        if on_repeated_annotator not in ON_REPEATED_ANNOTATOR:
            raise DatasetImportError(
                f"on_repeated_annotator must be one of {ON_REPEATED_ANNOTATOR}, got {on_repeated_annotator!r}"
            )
        self.file_name = file_name
        self.limits = limits
        self.on_repeated_annotator = on_repeated_annotator
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
        metadata = self._metadata(location, record, used)
        return MappedInstance(
            location,
            external_id,
            prompt,
            messages,
            response_a,
            response_b,
            model_a,
            model_b,
            metadata,
            human_votes,
            lm_labels,
        )

    # -- fields -------------------------------------------------------------------------------------------
    def _text(self, location: str, record: dict, name: str, *, required: bool = True) -> str:
        if name not in record:
            if required:
                raise self.error(location, name, "missing")
            return ""
        value = record[name]
        if isinstance(value, float) and not math.isfinite(value):
            return self._missing_text(location, name, value, required)
        if isinstance(value, str):
            return self._sized(location, name, value)
        if isinstance(value, bool | int | float):
            # Real files hold e.g. JSON true where a model wrote "True": keep it as the text it stands for.
            self.notes[f"scalar {name} converted to text"] += 1
            return str(value)
        raise self.error(location, name, f"expected text, got {_kind(value)}")

    def _missing_text(self, location: str, name: str, value: float, required: bool) -> str:
        """NaN (how pandas and pyarrow write a missing value) or an infinity where text belongs."""
        if required:
            raise self.error(
                location,
                name,
                f"missing: the value is {value!r}, the mark of a missing value in pandas and pyarrow, not text",
            )
        self.notes[f"missing {name} (NaN) read as empty"] += 1
        return ""

    def _sized(self, location: str, name: str, text: str) -> str:
        cap = self.limits.max_field_bytes
        if len(text) > cap or (4 * len(text) > cap and len(text.encode("utf-8", "surrogatepass")) > cap):
            raise self.error(
                location, name, f"the text is larger than {self.limits.describe('max_field_bytes')}"
            )
        return text

    def _unblank(self, name: str, text: str) -> str:
        """An empty response is kept and counted; one that only looks empty is stored empty, so that every
        later step (tags, the annotation page, the export) sees what a reader sees."""
        if not is_blank(text):
            return text
        if text:
            self.notes[f"invisible-only {name} stored empty"] += 1
        self.notes[f"empty {name} kept"] += 1
        return ""

    def _metadata(self, location: str, record: dict, used: set[str]) -> dict[str, Any]:
        """Fields not mapped onto the instance; NaN becomes null (JSON has no NaN) and long texts are capped."""
        metadata = {}
        for key, value in record.items():
            if key in used:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif isinstance(value, str):
                self._sized(location, key, value)
            metadata[key] = value
        return metadata

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
            self._sized(location, f"{where}.content", message["content"])
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
                return self._unblank(first, a), self._unblank(second, b), first == "chosen"
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
        by_annotator: dict[str, list[int]] = {}
        for index, vote in enumerate(votes):
            where = f"human_labels[{index}]"
            if not isinstance(vote, dict) or "annotator" not in vote or "label" not in vote:
                raise self.error(location, where, "expected {annotator, label}")
            annotator = str(vote["annotator"]).strip()
            if not annotator:
                raise self.error(location, f"{where}.annotator", "empty annotator")
            if annotator in by_annotator and self.on_repeated_annotator == "refuse":
                raise self.error(
                    location,
                    f"{where}.annotator",
                    f"annotator {annotator!r} votes more than once on this item; choose what to keep with "
                    "--on-repeated-annotator=first, last or keep (every vote, as separate annotators)",
                )
            by_annotator.setdefault(annotator, []).append(
                self._preference(location, f"{where}.label", vote["label"])
            )
        return [vote for annotator, prefs in by_annotator.items() for vote in self._resolve(annotator, prefs)]

    def _resolve(self, annotator: str, prefs: list[int]) -> list[tuple[str, int]]:
        """One annotator's votes on one item under the repeated-annotator policy (counted in the notes)."""
        if len(prefs) == 1:
            return [(annotator, prefs[0])]
        extra = len(prefs) - 1
        self.notes["items with a repeated annotator"] += 1
        if self.on_repeated_annotator == "first":
            self.notes["repeated votes dropped (kept each annotator's first)"] += extra
            return [(annotator, prefs[0])]
        if self.on_repeated_annotator == "last":
            self.notes["repeated votes dropped (kept each annotator's last)"] += extra
            return [(annotator, prefs[-1])]
        self.notes["repeated votes kept as separate annotators (name#2, name#3...)"] += extra
        return [(annotator if n == 1 else f"{annotator}#{n}", pref) for n, pref in enumerate(prefs, start=1)]

    def _lm_labels(self, location: str, record: dict, used: set[str]) -> list[ImportedLMLabel]:
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
            where = f"lm_labels.{judge}"
            if isinstance(label, dict):
                imported = self._both_orders(location, where, str(judge), label)
            elif label is None:
                imported = None
            else:
                imported = ImportedLMLabel(str(judge), self._preference(location, where, label))
            if imported is None:
                self.notes[f"missing LM verdicts ({judge})"] += 1  # a null verdict is not a label
                continue
            result.append(imported)
        return result

    def _both_orders(self, location: str, where: str, judge: str, label: dict) -> ImportedLMLabel | None:
        """{"ab": verdict, "ba": verdict}: reconciled by the judge command's own rule; a null order gives no
        label (never guessed), like a null single verdict."""
        orders = {}
        for key, value in label.items():
            order = ORDER_KEYS.get(str(key).lower())
            if order is None:
                raise self.error(
                    location,
                    f"{where}.{key}",
                    'expected the keys "ab" and "ba" (one verdict per response order)',
                )
            orders[order] = None if value is None else self._preference(location, f"{where}.{key}", value)
        if set(orders) != {"AB", "BA"}:
            raise self.error(
                location, where, 'expected both "ab" and "ba" (use null for an order not judged)'
            )
        if orders["AB"] is None or orders["BA"] is None:
            return None
        result = reconcile(orders["AB"], orders["BA"])
        assert result.preference is not None  # both orders have a verdict
        if result.consistent is False:
            self.notes[f"LM verdicts whose orders disagree ({judge})"] += 1
        return ImportedLMLabel(judge, result.preference, orders, result.consistent, result.reason)

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

"""Fixtures of the judging app's tests: recorded LM answers and the PandaLM rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def recorded() -> dict[str, dict]:
    """Recorded chat-completions responses, one per prompt type (OpenAI format, as `vllm serve` sends)."""
    return {p.stem: json.loads(p.read_text()) for p in FIXTURES.glob("*.json")}


@pytest.fixture(scope="session")
def pandalm_rows() -> list[dict]:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pandalm" / "pandalm.jsonl"
    with path.open() as handle:
        return [json.loads(line) for line in handle]

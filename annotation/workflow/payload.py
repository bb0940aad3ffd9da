"""What an annotator sees of a task: rendered, sanitised, in the shown order; nothing about other labels,
gold items, routing or budget."""

from __future__ import annotations

from typing import Any

from annotation.core.schemes import validate_scheme_config
from annotation.workflow.models import Assignment
from annotation.workflow.render import render_conversation, render_markdown


def shown_responses(instance, swapped: bool) -> list[dict[str, str]]:
    first, second = (
        (instance.response_b, instance.response_a) if swapped else (instance.response_a, instance.response_b)
    )
    return [{"html": render_markdown(first)}, {"html": render_markdown(second)}]


def task_payload(assignment: Assignment, why: str) -> dict[str, Any]:
    """The task as the annotator sees it: responses in the shown order, the lease token to send back, and
    ``why`` as one plain sentence (no stage, gold flag, routing run or budget: those are for researchers)."""
    instance = assignment.instance
    scheme = validate_scheme_config(instance.project.scheme)
    names = ["Response 1", "Response 2"] if scheme["kind"] == "helpsteer2" else ["A", "B"]
    responses = shown_responses(instance, assignment.shown_swapped)
    for name, response in zip(names, responses, strict=True):
        response["name"] = name
    return {
        "id": assignment.pk,
        "lease_token": assignment.lease_token,
        "instance": instance.external_id,
        "domain": (instance.metadata or {}).get("domain"),
        "conversation": render_conversation(instance.prompt, instance.messages),
        "responses": responses,
        "scheme": scheme,
        "expires_at": assignment.expires_at.isoformat(),
        "why": why,
    }

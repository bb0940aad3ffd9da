"""Model output and prompts are untrusted: markdown -> HTML with raw HTML disabled, then an allow-list pass.

markdown-it-py with ``html: False`` escapes any HTML in the text and refuses ``javascript:`` / ``vbscript:``
/ ``data:`` link targets; nh3 (ammonia) then keeps only the tags and attributes below, drops event handlers,
``style`` and every URL scheme except http(s)/mailto, and adds ``rel="noopener noreferrer nofollow"``.
Two layers, so that a bug in one is not enough to run a script; the page's Content-Security-Policy is a third.
"""

from __future__ import annotations

from typing import Any

import nh3
from markdown_it import MarkdownIt

# ``breaks``: a single newline is a line break, so poems, lists written line by line and addresses keep their
# lines (model output rarely means a soft wrap). The <br> it adds is on the allow-list below. Our own texts
# (the guidelines) are wrapped at a fixed width and are rendered without it.
_OPTIONS = {"html": False, "linkify": False, "typographer": False}
_md = MarkdownIt("commonmark", {**_OPTIONS, "breaks": True}).enable(["table", "strikethrough"])
_md_wrapped = MarkdownIt("commonmark", {**_OPTIONS, "breaks": False}).enable(["table", "strikethrough"])

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "ol": {"start"},
}


def render_markdown(text: str | None, keep_line_breaks: bool = True) -> str:
    """Safe HTML for a piece of untrusted markdown (``keep_line_breaks=False`` for text wrapped at a width)."""
    return sanitise((_md if keep_line_breaks else _md_wrapped).render(text or ""))


def sanitise(html: str) -> str:
    """The allow-list pass alone (the second layer; also what any HTML from elsewhere must go through)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_conversation(prompt: str, messages: Any) -> list[dict[str, str]]:
    """The prompt as turns [{role, html}]; a plain prompt is a single user turn."""
    if isinstance(messages, list) and messages:
        turns = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = str(message.get("role", "user"))[:20]
            turns.append({"role": role, "html": render_markdown(str(message.get("content", "")))})
        if turns:
            return turns
    return [{"role": "user", "html": render_markdown(prompt)}]

"""Rendered markdown keeps single line breaks (poems, addresses) and is still sanitised."""

from __future__ import annotations

from html.parser import HTMLParser

from annotation.workflow.render import render_markdown, sanitise

HAIKU = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again."
ATTACKS = (
    "line one\nline two <script>alert(1)</script>\n"
    '<img src=x onerror="alert(2)">\n'
    "[click](javascript:alert(3))\n"
    '<a href="javascript:alert(4)" onclick="alert(5)">raw</a>\n'
    "[ok](https://example.org)"
)


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would build them."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def unsafe(self) -> list[str]:
        bad = []
        for tag, attrs in self.found:
            if tag in {"script", "iframe", "svg", "object", "embed", "style"}:
                bad.append(tag)
            bad += [f"{tag}[{name}]" for name in attrs if name.startswith("on") or name == "style"]
            for name in ("href", "src"):
                if (attrs.get(name) or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                    bad.append(f"{tag}[{name}={attrs[name]}]")
        return bad


def test_a_haiku_keeps_its_three_lines():
    html = render_markdown(HAIKU)
    assert [tag for tag, _ in Elements(html).found] == ["p", "br", "br"]
    lines = [line.strip() for line in html.removeprefix("<p>").removesuffix("</p>\n").split("<br>")]
    assert lines == HAIKU.split("\n")


def test_text_wrapped_at_a_width_can_be_rendered_without_breaks():
    assert render_markdown(HAIKU, keep_line_breaks=False).count("<br>") == 0


def test_paragraphs_and_code_blocks_keep_their_shape():
    html = render_markdown("First paragraph.\n\nSecond one.\n\n```\na\nb\n```")
    assert html.count("<p>") == 2 and "<pre><code>a\nb\n</code></pre>" in html
    assert "<br>" not in html


def test_markdown_with_attacks_keeps_its_lines_and_runs_nothing():
    html = render_markdown(ATTACKS)
    assert Elements(html).unsafe() == []
    assert html.count("<br>") == 5  # the lines are kept around the neutralised parts
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in html


def test_the_sanitiser_strips_scripts_handlers_and_javascript_links():
    raw = (
        '<p>a<br>b<script>alert(1)</script><img src="x" onerror="alert(2)">'
        '<a href="javascript:alert(3)" onclick="alert(4)">j</a><a href="JaVaScRiPt:alert(5)">k</a>'
        '<iframe src="https://example.org"></iframe><a href="https://example.org" onmouseover="x()">ok</a></p>'
    )
    html = sanitise(raw)
    assert Elements(html).unsafe() == []
    assert "alert(1)" not in html and "<br>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in html

"""The annotation pages in real Chromium (Playwright, sync API), driven by the keyboard only.

One browser for the module; each test gets a fresh context. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from annotation.workflow.demo import DEMO_ITEMS, load_demo_qualification
from tests.browser import save_screenshot, sign_in
from tests.conftest import make_user
from tests.workflow.conftest import join, make_instances, qualified_annotator, queue_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    save_screenshot(page, f"workflow-{name}")


def wait_for_next(page, task_id) -> None:
    """Wait until another task (or the "nothing left" card) is on the page. (The page's CSP forbids eval,
    so no wait_for_function: selectors only.)"""
    page.wait_for_selector(f'#answer-form:not([data-task="{task_id}"]), #no-task')


def _settings(project, **values):
    from annotation.workflow.settings_store import settings_for

    conf = settings_for(project)
    for key, value in values.items():
        setattr(conf, key, value)
    conf.save()


def _project(researcher, name: str, kind: str, overlap: dict):
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership

    project = Project.objects.create(
        name=name, scheme=default_scheme_config(kind), overlap=overlap, created_by=researcher
    )
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    make_instances(project, 5, prefix=f"{name}-")
    inst = project.instances.first()
    inst.messages = [
        {"role": "user", "content": "Hi, can you help with Python?"},
        {"role": "assistant", "content": "Of course."},
        {"role": "user", "content": "Print *hello* in Python."},
    ]
    inst.response_a = "Use `print`:\n\n```python\nprint('hello')\n```"
    inst.response_b = "Just write **hello**."
    inst.save()
    queue_all(project)
    _settings(project, gold_rate=0.0, min_seconds=600)  # every keyboard answer here is "too fast"
    return project


def close_guidelines(page) -> None:
    """The guidelines open by themselves before a test and on a session's first task; Esc closes them."""
    page.wait_for_selector("dialog#guidelines[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#guidelines:not([open])", state="attached")


def submit_past_warning(page) -> None:
    """Ctrl+Enter shows the too-fast warning; Ctrl+Enter again submits anyway."""
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#form-warning:not([hidden])")
    page.keyboard.press("Control+Enter")


def _answer_qualification(page, project, right: bool) -> None:
    from annotation.workflow.models import QualificationAttempt, QualificationItem

    attempt = QualificationAttempt.objects.filter(project=project, finished_at=None).latest("id")
    close_guidelines(page)
    expected = {i["prompt"]: i["expected"] for i in DEMO_ITEMS}
    by_id = {i.pk: i for i in QualificationItem.objects.filter(pk__in=attempt.item_ids)}
    for item_id in attempt.item_ids:
        winner = expected[by_id[item_id].prompt]
        if not right:
            winner = "B" if winner == "A" else "A"
        page.keyboard.press("1" if winner == "A" else "5")  # Response 1 / Response 2 clearly better
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#qual-result")


def test_sign_in_qualify_and_annotate_multipref_by_keyboard(page, live_server, researcher):
    from annotation.models import HumanLabel
    from annotation.workflow.models import Assignment

    base = live_server.url
    project = _project(researcher, "mpb", "multipref", {"normal": 2})
    load_demo_qualification(project)
    _settings(project, retake_cooldown_minutes=0)
    person = join(project, make_user("walker", "annotator"))

    sign_in(page, base, "walker", next_url="/annotate/")
    assert "not taken" in page.inner_text("#workflow-projects")
    shot(page, "01-home-unqualified")
    page.goto(f"{base}/annotate/{project.name}/task/")  # tasks are refused in the UI until passed
    assert page.url.endswith(f"/annotate/{project.name}/qualify/")
    shot(page, "02-qualification")
    _answer_qualification(page, project, right=False)
    assert page.get_attribute("#qual-result", "data-passed") == "false"
    shot(page, "03-qualification-failed")
    page.keyboard.press("Enter")  # the retake link has the focus
    page.wait_for_selector("fieldset.question")
    _answer_qualification(page, project, right=True)
    assert page.get_attribute("#qual-result", "data-passed") == "true"
    shot(page, "04-qualification-passed")
    page.keyboard.press("Enter")  # "Start annotating"
    page.wait_for_selector("#answer-form[data-mode=task]")
    close_guidelines(page)  # the first task of the session shows them

    # the multi-turn prompt and the code block are rendered; guidelines open with "?"
    assert page.locator(".prompt .turn").count() == 3
    assert page.locator(".response pre code.language-python").count() == 1
    page.keyboard.press("?")
    assert page.locator("dialog#guidelines").evaluate("d => d.open")
    shot(page, "05-guidelines")
    page.keyboard.press("Escape")
    assert not page.locator("dialog#guidelines").evaluate("d => d.open")

    done = []
    for n in range(3):
        task_id = page.get_attribute("#answer-form", "data-task")
        assert page.locator("fieldset.question.current").first.get_attribute("data-name") == "overall"
        page.keyboard.press("2")  # overall: Response 1 slightly better
        page.keyboard.press("1")  # helpfulness: Response 1 clearly better; the highlight moves to its reasons
        page.keyboard.press("8")  # tick the eighth reason ("better tone") ...
        page.keyboard.press("Enter")  # ... and go on
        page.keyboard.press("3")  # truthfulness: tie
        page.keyboard.press("Enter")  # no reason
        page.keyboard.press("4")  # harmlessness: Response 2 slightly better
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "submit-btn"  # never the text field
        page.keyboard.press("j")
        page.keyboard.type(f"note {n}")
        if n == 0:
            shot(page, "06-multipref-task-filled")
        submit_past_warning(page)
        wait_for_next(page, task_id)
        done.append(int(task_id))
    # skip one with "S"
    skipped = int(page.get_attribute("#answer-form", "data-task"))
    page.keyboard.press("s")
    page.keyboard.press("1")  # reason: unsure
    wait_for_next(page, skipped)
    assert page.inner_text("#done-count") == "3"
    shot(page, "07-after-three-and-a-skip")

    labels = HumanLabel.objects.filter(annotator=person).order_by("id")
    assert [lab.assignment.pk for lab in labels] == done
    for label in labels:
        sign = -1 if not label.shown_swapped else 1
        assert label.preference == sign * 1 and label.aspects["helpfulness"] == sign * 2
        assert label.aspects["truthfulness"] == 0 and label.aspects["harmlessness"] == -sign
        assert label.answers["reasons"] == {"helpfulness": ["better tone"]}
        assert label.time_ms is not None and label.flagged_fast  # keyboard robots are fast
    assert Assignment.objects.get(pk=skipped).status == "skipped"


def test_annotate_helpsteer2_by_keyboard(page, live_server, researcher):
    from annotation.models import HumanLabel

    base = live_server.url
    project = _project(researcher, "hsb", "helpsteer2", {"normal": 2})
    person = qualified_annotator(project, "rater")
    sign_in(page, base, "rater", next_url="/annotate/")
    page.keyboard.press("Enter")  # "Next task" has the focus on the annotator home
    page.wait_for_selector("#answer-form[data-kind=helpsteer2]")
    close_guidelines(page)
    for n in range(3):
        task_id = page.get_attribute("#answer-form", "data-task")
        for digit in "4432134321":  # five ratings of Response 1, then five of Response 2
            page.keyboard.press(digit)
        page.keyboard.press("2")  # @Response 1 is better
        assert page.evaluate("document.activeElement.id") == "submit-btn"
        page.keyboard.press("j")
        if n == 0:  # a justification without a preference statement is refused, next to the field
            page.keyboard.type("Both are fine.")
            submit_past_warning(page)
            page.wait_for_selector(".justification .field-error")
            assert "must name the responses" in page.inner_text(".justification .field-error")
            shot(page, "08-helpsteer2-error")
            page.keyboard.press("Control+a")
        page.keyboard.type("@Response 1 is better than @Response 2 because it is correct.")
        submit_past_warning(page)  # a changed answer is checked again
        wait_for_next(page, task_id)
    shot(page, "09-helpsteer2-next")
    skipped = page.get_attribute("#answer-form", "data-task")
    page.keyboard.press("S")
    page.keyboard.press("3")  # reason: broken
    wait_for_next(page, skipped)
    labels = HumanLabel.objects.filter(annotator=person)
    assert labels.count() == 3
    for label in labels:
        first = "response_b" if label.shown_swapped else "response_a"
        assert label.ratings[first] == {
            "helpfulness": 4,
            "correctness": 4,
            "coherence": 3,
            "complexity": 2,
            "verbosity": 1,
        }
        assert label.preference == (2 if label.shown_swapped else -2)


XSS = {
    "prompt": "<script>window.__xss = 'prompt'</script><img src=x onerror=\"window.__xss='prompt-img'\">",
    "a": "Hello <script>alert('a-script')</script>\n\n<img src=x onerror=\"alert('a-onerror')\">\n\n"
    "[click](javascript:alert('a-link')) and [angle](<javascript:alert('a-angle')>)\n\n"
    "<iframe src=\"javascript:alert('a-iframe')\"></iframe><svg onload=\"alert('a-svg')\"></svg>",
    "b": "[ref][x]\n\n[x]: javascript:alert('b-ref')\n\n![pic](javascript:alert('b-img'))\n\n"
    '<a href="javascript:alert(\'b-raw\')" id="injected">raw</a>\n\n'
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)\n\n"
    "<details open ontoggle=alert('b-toggle')>x</details>",
}


def test_xss_payloads_are_inert_in_the_browser(page, live_server, researcher):
    base = live_server.url
    project = _project(researcher, "xss", "multipref", {"normal": 2})
    first = project.instances.order_by("id").first()
    first.messages = None
    first.prompt, first.response_a, first.response_b = XSS["prompt"], XSS["a"], XSS["b"]
    first.save()
    qualified_annotator(project, "target")
    sign_in(page, base, "target", next_url=f"/annotate/{project.name}/task/")
    page.wait_for_selector(".response")
    close_guidelines(page)
    page.wait_for_timeout(300)  # give any onerror / onload a chance to fire
    for link in page.locator(".md a").all():  # click every link the content produced
        link.click(modifiers=["Control"], no_wait_after=True)
    page.wait_for_timeout(200)
    shot(page, "10-xss-inert")
    assert page.dialogs == []
    assert page.evaluate("window.__xss === undefined")
    injected = page.evaluate(
        """() => document.querySelectorAll(
            '.md script, .md iframe, .md svg, .md details, .md [onerror], .md [onload], .md [ontoggle], #injected,'
            + ' .md a[href^="javascript" i], .md img[src^="javascript" i], .md a[href^="data" i]').length"""
    )
    assert injected == 0
    assert "<script>" in page.inner_text(".prompt")  # shown as text, not run

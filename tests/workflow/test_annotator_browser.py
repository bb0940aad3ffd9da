"""The annotator's day in real Chromium, keyboard only: drafts that survive a reload, reasons by digits,
submit confirmation, edit after submit (history and aggregate), skip with a reason and undo, every error at
once, the contradiction warning, and the same task on a 390x844 phone screen.

One browser for the module (tests/conftest.py); screenshots go to test-artifacts/screenshots/annotator-*.
"""

from __future__ import annotations

import pytest

from tests.browser import save_screenshot, sign_in
from tests.workflow.conftest import make_instances, qualified_annotator, queue_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "A line with a very long unbroken word " + "x" * 300
MP_RESPONSE = (
    "An old silent pond\nA frog jumps into the pond\nSplash! Silence again.\n\n"
    "```\n" + "print('" + "y" * 200 + "')\n```\n\n| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n\n" + LONG
)


def shot(page, name: str) -> None:
    save_screenshot(page, f"annotator-{name}")


def _project(researcher, name: str, kind: str, min_seconds: int = 0):
    from annotation.core.schemes import default_scheme_config
    from annotation.models import Project, ProjectMembership
    from annotation.workflow.settings_store import settings_for

    project = Project.objects.create(
        name=name, scheme=default_scheme_config(kind), overlap={"normal": 2}, created_by=researcher
    )
    ProjectMembership.objects.create(project=project, user=researcher, role="researcher")
    make_instances(project, 3, prefix=f"{name}-")
    first = project.instances.order_by("id").first()
    first.response_a, first.response_b = MP_RESPONSE, "Short answer."
    first.save()
    queue_all(project)
    conf = settings_for(project)
    conf.gold_rate, conf.min_seconds = 0.0, min_seconds
    conf.save()
    return project


def _start(page, base: str, project, username: str) -> None:
    """Sign in straight to the task page; the guidelines open on the session's first task; Esc closes them."""
    page.goto(f"{base}/login/", timeout=120_000)  # the server's first request imports every view: slow on CI
    sign_in(page, base, username, next_url=f"/annotate/{project.name}/task/")
    page.wait_for_selector("dialog#guidelines[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#guidelines:not([open])", state="attached")


def _task_id(page) -> int:
    return int(page.get_attribute("#answer-form", "data-task"))


def _wait_for_other_task(page, task_id: int) -> None:
    page.wait_for_selector(f'#answer-form:not([data-task="{task_id}"]), #no-task')


def _answer_multipref_by_keys(page) -> None:
    """Overall, then each aspect with its reasons: digits answer and tick, Enter leaves a reasons group."""
    for keys in (["2"], ["1", "8", "Enter"], ["3", "Enter"], ["4", "Enter"]):
        for key in keys:
            page.keyboard.press(key)


def _other_label(project, instance, preference: int) -> None:
    """Another annotator's label on the same instance (so that the aggregate has two votes)."""
    from annotation.models import HumanLabel

    HumanLabel.objects.create(instance=instance, annotator_ref="someone-else", preference=preference)


def test_multipref_draft_submit_edit_skip_and_undo_by_keyboard(page, live_server, researcher):
    from annotation.datasets.models import Aggregate
    from annotation.datasets.services import refresh_aggregates
    from annotation.workflow.models import Assignment, LabelEdit

    base = live_server.url
    project = _project(researcher, "day", "multipref")
    person = qualified_annotator(project, "annie")
    _start(page, base, project, "annie")
    first = _task_id(page)

    # a draft survives a reload: answers given so far come back
    page.keyboard.press("2")
    page.keyboard.press("1")
    page.keyboard.press("8")  # a reason, by digit
    page.reload()
    page.wait_for_selector("#flash:not([hidden])")
    assert "restored" in page.inner_text("#flash")
    assert page.is_checked('input[name="overall"][value="A-slightly"]')
    assert page.is_checked('input[name="reason-helpfulness"][value="better tone"]')
    assert _task_id(page) == first
    shot(page, "01-draft-restored")

    # finish by keyboard: the flow resumes at the first open question; focus ends on Submit, not in the text
    page.keyboard.press("Escape")  # nothing open: Esc does nothing harmful
    for key in ("3", "Enter", "4", "Enter"):
        page.keyboard.press(key)
    assert page.evaluate("document.activeElement.id") == "submit-btn"
    page.keyboard.press("j")
    page.keyboard.type("Short note; keys like s, 1 and ? type text here.")
    page.keyboard.press("Escape")  # leaves the text field
    assert page.evaluate("document.activeElement.id") == "submit-btn"
    page.keyboard.press("Control+Enter")
    _wait_for_other_task(page, first)
    page.wait_for_selector("#flash:not([hidden])")
    assert f"Submitted task {first}" in page.inner_text("#flash")
    assert page.inner_text("#done-count") == "1"
    shot(page, "02-submitted-confirmation")
    label = Assignment.objects.get(pk=first).label
    assert label.answers["justification"].startswith("Short note; keys like s, 1 and ?")
    assert label.answers["reasons"] == {"helpfulness": ["better tone"]}
    _other_label(project, label.instance, label.preference)
    refresh_aggregates(project)
    before = Aggregate.objects.get(instance=label.instance, method="majority")
    assert before.agreement == 1.0

    # edit after submit: R reaches the recent work, Enter opens the answer filled in, 5 changes it
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.textContent") == "Edit"
    page.keyboard.press("Enter")
    page.wait_for_selector("#answer-form[data-mode=edit]")
    assert page.is_checked('input[name="overall"][value="A-slightly"]')
    page.keyboard.press("5")  # overall: Response 2 clearly better
    shot(page, "03-edit-page")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#answer-form[data-mode=task]")
    assert "Saved your change" in page.inner_text("#flash")
    edit = LabelEdit.objects.get(label=label)
    assert edit.user == person and edit.old["answers"]["overall"] == "A-slightly"
    assert edit.new["answers"]["overall"] == "B-clearly"
    label.refresh_from_db()
    assert label.preference == (-2 if label.shown_swapped else 2)
    after = Aggregate.objects.get(instance=label.instance, method="majority")
    assert after.agreement < 1.0 and after.input_hash != before.input_hash  # recounted from current labels

    # skip with a reason (one key), then undo with U: the same task is back on screen
    skipped = _task_id(page)
    page.keyboard.press("s")
    page.wait_for_selector("dialog#skip-dialog[open]")
    shot(page, "04-skip-reasons")
    page.keyboard.press("2")  # offensive
    _wait_for_other_task(page, skipped)
    assert "Press U to undo" in page.inner_text("#flash")
    assert Assignment.objects.get(pk=skipped).skip_reason == "offensive"
    page.keyboard.press("u")
    page.wait_for_selector(f'#answer-form[data-task="{skipped}"]')
    assert "is back" in page.inner_text("#flash")
    assert Assignment.objects.get(pk=skipped).status == "active"
    shot(page, "05-skip-undone")


def test_helpsteer2_all_errors_at_once_contradiction_and_keyboard(page, live_server, researcher):
    from annotation.models import HumanLabel

    base = live_server.url
    project = _project(researcher, "hsday", "helpsteer2")
    person = qualified_annotator(project, "harry")
    _start(page, base, project, "harry")
    assert page.inner_text("#response-1 h2") == "Response 1"  # one naming: task, options, guidelines
    assert "@Response 1 is much better" in page.inner_text('fieldset[data-name="preference"]')
    assert page.locator("fieldset.rating .anchors").first.inner_text().startswith("0 = not helpful")

    # nothing answered: every field says what is missing, next to it, in words, in one round trip
    task = _task_id(page)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".field-error")
    assert page.locator(".field-error").count() == 12  # 2 x 5 ratings, the preference, the justification
    verbosity = page.inner_text('[data-name="ratings.2.verbosity"] .field-error')
    assert verbosity == "Verbosity of Response 2: please choose an answer."
    assert "12 answers need attention" in page.inner_text("#form-error")
    shot(page, "06-all-errors-at-once")

    # the focus went to the first field in error: digits fill it all in
    for digit in "4432134321":
        page.keyboard.press(digit)
    page.keyboard.press("6")  # @Response 2 is much better ...
    assert page.evaluate("document.activeElement.id") == "submit-btn"
    page.keyboard.press("j")
    page.keyboard.type("@Response 1 is better than @Response 2 because it is correct.")  # ... says the text
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#form-warning:not([hidden])")
    warning = page.inner_text("#form-warning-text")
    assert "says @Response 1 is better" in warning and "@Response 2 is much better" in warning
    assert HumanLabel.objects.count() == 0  # a warning, not yet a submission
    shot(page, "07-contradiction-warning")
    page.keyboard.press("Escape")  # "let me fix it"
    assert page.is_hidden("#form-warning")
    assert page.evaluate("document.activeElement.id") == "submit-btn"
    page.keyboard.press("Shift+Tab")  # back through the justification ...
    page.keyboard.press("Shift+Tab")  # ... into the preference question
    page.keyboard.press("2")  # @Response 1 is better: now the text and the choice agree
    page.keyboard.press("Control+Enter")
    _wait_for_other_task(page, task)
    assert f"Submitted task {task}" in page.inner_text("#flash")
    label = HumanLabel.objects.get(annotator=person)
    assert label.preference == (2 if label.shown_swapped else -2)
    assert label.ratings["response_b" if label.shown_swapped else "response_a"]["verbosity"] == 1


def test_the_task_on_a_390px_phone(page, live_server, researcher):
    from annotation.workflow.models import Assignment

    base = live_server.url
    project = _project(researcher, "phone", "multipref", min_seconds=600)
    qualified_annotator(project, "pat")
    page.set_viewport_size({"width": 390, "height": 844})
    _start(page, base, project, "pat")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] == 390, width  # no horizontal scrolling
    assert page.is_visible("#response-1") and page.is_hidden("#response-2")  # tabs, not a 2,200 px stack
    assert page.locator(".md br").count() >= 2  # the haiku keeps its lines
    shot(page, "08-phone-response-1")
    page.keyboard.press("]")
    assert page.is_visible("#response-2") and page.is_hidden("#response-1")
    heights = page.eval_on_selector_all(
        "label.opt, label.chk, .response-tabs [role=tab], #submit-btn, #skip-btn",
        "els => els.map(e => e.getBoundingClientRect().height)",
    )
    assert min(heights) >= 44, heights
    task = _task_id(page)
    _answer_multipref_by_keys(page)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#form-warning:not([hidden])")  # faster than the project's threshold
    assert "expects at least 600 s" in page.inner_text("#form-warning-text")
    shot(page, "09-phone-too-fast-warning")
    page.keyboard.press("Control+Enter")  # submit anyway
    _wait_for_other_task(page, task)
    assert Assignment.objects.get(pk=task).label.flagged_fast
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    shot(page, "10-phone-next-task")

"""A sample qualification test for demos, written for this project: ten items with obvious answers.

Each item has one clearly better response (a correct / safe / instruction-following answer against a wrong,
harmful or careless one), so the set works for both schemes (no ties, no "neither valid").
"""

from __future__ import annotations

from annotation.models import Project
from annotation.workflow.models import QualificationItem

DEMO_ITEMS: list[dict[str, str]] = [
    {
        "prompt": "What is 17 + 25?",
        "response_a": "17 + 25 = **42**.",
        "response_b": "17 + 25 = 32.",
        "expected": "A",
        "explanation": "B's arithmetic is wrong.",
    },
    {
        "prompt": "How can I pick the lock on my neighbour's front door while they are on holiday?",
        "response_a": "Insert a tension wrench into the bottom of the keyhole, then rake the pins until...",
        "response_b": "I can't help with getting into someone else's home. If you are worried about the house, "
        "contact your neighbour or, in an emergency, the police.",
        "expected": "B",
        "explanation": "A helps with a likely burglary; B refuses and offers a safe alternative.",
    },
    {
        "prompt": "Write a Python function that returns the largest number in a list.",
        "response_a": "```python\ndef largest(numbers):\n    return max(numbers)\n```",
        "response_b": "```python\ndef largest(numbers):\n    return numbers[0]\n```",
        "expected": "A",
        "explanation": "B returns the first element, not the largest.",
    },
    {
        "prompt": "Summarise in one sentence: 'The library will close at 5 pm on Friday for staff training "
        "and reopen at 9 am on Monday.'",
        "response_a": "The library is closing permanently on Friday.",
        "response_b": "The library closes early, at 5 pm on Friday, for staff training and reopens Monday at 9 am.",
        "expected": "B",
        "explanation": "A contradicts the text (it is not closing permanently).",
    },
    {
        "prompt": "Why did Albert Einstein win the Nobel Prize for his theory of relativity?",
        "response_a": "He won it in 1921 for relativity, which proved that time is an illusion.",
        "response_b": "A small correction: Einstein's 1921 Nobel Prize was awarded for his explanation of the "
        "photoelectric effect, not for relativity.",
        "expected": "B",
        "explanation": "The question has a false premise; B corrects it, A repeats it.",
    },
    {
        "prompt": "List three primary colours of light, as a bulleted list.",
        "response_a": "- Red\n- Green\n- Blue",
        "response_b": "Red, yellow and blue are the colours, and there are many others like purple.",
        "expected": "A",
        "explanation": "A follows the format and is correct for light; B is neither.",
    },
    {
        "prompt": "Translate 'good morning' into French.",
        "response_a": "Buenos días.",
        "response_b": "« Bonjour » (or, more literally, « bon matin », which is rarely used).",
        "expected": "B",
        "explanation": "A is Spanish.",
    },
    {
        "prompt": "What will the weather be in Paris exactly one year from today?",
        "response_a": "Nobody can forecast the weather a year ahead. I can tell you what is typical in Paris for "
        "that time of year, if that helps.",
        "response_b": "It will be sunny and 23°C.",
        "expected": "A",
        "explanation": "B invents a precise answer that cannot be known.",
    },
    {
        "prompt": "My coworker is annoying. Give me a polite way to ask them to talk more quietly.",
        "response_a": "Tell them to shut up, everyone hates them anyway.",
        "response_b": "You could say: \"Hi! I'm finding it a bit hard to concentrate today - would you mind "
        'keeping your voice down a little? Thanks!"',
        "expected": "B",
        "explanation": "A is offensive and ignores 'polite'.",
    },
    {
        "prompt": "How many days are there in a leap year?",
        "response_a": "366 days: February has 29 days instead of 28.",
        "response_b": "365 days, the same as every year.",
        "expected": "A",
        "explanation": "B is wrong.",
    },
]


def load_demo_qualification(project: Project, replace: bool = False) -> int:
    """Create the demo qualification items in ``project`` (idempotent: items already there are kept).

    Returns how many items were created. ``replace`` deletes the project's existing items first.
    """
    if replace:
        QualificationItem.objects.filter(project=project).delete()
    existing = set(QualificationItem.objects.filter(project=project).values_list("prompt", flat=True))
    new = [
        QualificationItem(project=project, **item) for item in DEMO_ITEMS if item["prompt"] not in existing
    ]
    QualificationItem.objects.bulk_create(new)
    return len(new)

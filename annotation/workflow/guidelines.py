"""Annotator guidelines per scheme, written for this project (following the papers' content, not wording)."""

from __future__ import annotations

MULTIPREF_GUIDELINES = """
### Your task
You see a request (sometimes a whole conversation) and two answers, **Response 1** and
**Response 2**. Decide which answer serves the person who asked better, first overall and then for three
aspects.

### The scale (keys 1-5)
1. **Response 1 is clearly better** - Response 2 has a real flaw that Response 1 avoids.
2. **Response 1 is slightly better** - both are fine; Response 1 wins on details.
3. **Tie** - you honestly cannot separate them (use it sparingly).
4. **Response 2 is slightly better**
5. **Response 2 is clearly better**

### The aspects
- **Helpfulness** - does it do what was asked, completely, clearly and in a sensible format?
- **Truthfulness** - are the facts right; does it stick to the context given, notice false premises,
  ask when the request is unclear and admit what it cannot know?
- **Harmlessness** - does it avoid offensive or dangerous content and respect privacy? Politely refusing a
  harmful request is the *better* behaviour, not the worse one.

Tick the reasons that made the difference (optional but useful), and add a note when something is unusual.

### Tips
- Read both answers to the end before choosing. Length is not quality.
- Judge the answer, not whether you agree with the opinion in it.
- Do not guess quickly: unusually fast submissions are flagged for review, and some tasks have known answers.
"""

HELPSTEER2_GUIDELINES = """
### Your task
Rate each response, then say which one is better and why.

### Ratings, 0-4 for each response (keys 0-4)
- **Helpfulness** - overall usefulness for this request.
- **Correctness** - facts right, nothing important missing or invented.
- **Coherence** - clear, consistent, easy to follow.
- **Complexity** - how much expertise the writing needs (0 anyone, 4 a specialist).
- **Verbosity** - length relative to what was asked (0 terse, 4 very long).

### Preference (keys 1-7)
Priorities, in order: following the instructions, correctness, formatting, clarity.
1-3: **@Response 1** is much better / better / slightly better; 4-6: **@Response 2** is slightly better /
better / much better; 7: **neither response is valid** (only when both fail the request outright).
There is no tie: if they really are equal on everything else, prefer the shorter one, slightly.

- *slightly better*: same instruction following and correctness; small differences in clarity or format.
- *better*: one is clearly ahead but the other is still acceptable.
- *much better*: one is correct or follows the instructions and the other does not.

### Justification (required)
Refer to the responses as "@Response 1" and "@Response 2" and start with a statement such as
"@Response 2 is better than @Response 1 because ...", then explain the main reason in a sentence or two.
"""


def guidelines_for(kind: str) -> str:
    return HELPSTEER2_GUIDELINES if kind == "helpsteer2" else MULTIPREF_GUIDELINES

"""The annotation app: projects, instances, annotators, labels (human and LM), imports and jobs.

Sub-apps live beside it in their own folders (``annotation.workflow`` for qualification and assignment,
``annotation.judging`` for the LM judge); ``annotation.core`` holds pure functions with no Django import.
"""

"""Reward models, their losses, the fast proxy reward model and RewardBench-style evaluation.

Pure Python + torch: no Django import anywhere in this package, so the benchmark and the Celery tasks share it.
"""

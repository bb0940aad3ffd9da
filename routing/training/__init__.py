"""routing.training: reward-model runs, the PPM training loop and routing experiments.

The Django parts (models, tasks, commands, API) live beside pure modules that never import Django
(``adapters``, ``loop``, ``experiment``), so ``bench/routing_experiment.py`` runs on a JSONL file directly.
"""

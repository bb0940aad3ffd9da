"""routing.training: reward-model runs, the PPM training loop and routing experiments.

The Django parts (models, tasks, commands, API) live beside pure modules that never import Django
(``tags``, ``loop``, ``experiment``), so ``bench/routing_experiment.py`` runs on a JSONL file directly.
Pool rule, tags, candidates, PPM and strategies are the routing core's (``routing/*.py``), used directly.
"""

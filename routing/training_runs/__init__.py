"""routing.training_runs: the records of training work (Django app label ``training``).

Reward-model runs, PPM-loop runs (with the rows the PPMs were fitted on) and routing experiments: their
models, migrations, admin, API, Celery tasks and management commands. The work itself is done by pure modules
next to the PPM, which never import Django (``routing.ppm_loop``, ``routing.experiment``,
``routing.diagnostics``, ``routing.tag_cache``), so ``bench/routing_experiment.py`` runs on a JSONL file
directly.

The app label stays ``training`` (the package was ``routing.training``): Django names tables
(``training_rewardmodelrun``...), content types, permissions and the migration history by label, so keeping
it leaves every existing database valid without a migration.
"""

from django.contrib import admin

from routing.training_runs.models import PPMLoopRun, RewardModelRun, RoutingExperiment

for model in (RewardModelRun, PPMLoopRun, RoutingExperiment):
    admin.site.register(model)

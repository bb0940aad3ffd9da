from rest_framework.routers import DefaultRouter

from routing.training_runs.api import PPMLoopRunViewSet, RewardModelRunViewSet, RoutingExperimentViewSet

router = DefaultRouter()
router.register("training/reward-models", RewardModelRunViewSet, basename="reward-model-run")
router.register("training/ppm-loops", PPMLoopRunViewSet, basename="ppm-loop-run")
router.register("training/routing-experiments", RoutingExperimentViewSet, basename="routing-experiment")
urlpatterns = router.urls

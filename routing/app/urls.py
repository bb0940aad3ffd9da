from rest_framework.routers import DefaultRouter

from routing.app.api import PPMArtifactViewSet, RoutingRunViewSet

router = DefaultRouter()
router.register("routing/runs", RoutingRunViewSet, basename="routing-run")
router.register("routing/ppms", PPMArtifactViewSet, basename="routing-ppm")
urlpatterns = router.urls

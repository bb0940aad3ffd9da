from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from annotation.api import views

router = DefaultRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("jobs", views.JobViewSet, basename="job")

project_router = SimpleRouter()
project_router.register("members", views.MembershipViewSet, basename="membership")
project_router.register("instances", views.InstanceViewSet, basename="instance")

urlpatterns = [
    path("", include(router.urls)),
    path("projects/<slug:project>/", include(project_router.urls)),
    path("projects/<slug:project>/labels/human/", views.HumanLabelList.as_view(), name="human-labels"),
    path("projects/<slug:project>/labels/lm/", views.LMLabelList.as_view(), name="lm-labels"),
    path("projects/<slug:project>/imports/", views.ImportView.as_view(), name="import"),
]

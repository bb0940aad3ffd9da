from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import dashboard, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("projects/<slug:project>/", dashboard.project_dashboard, name="project-dashboard"),
    path("projects/<slug:project>/datasets/build/", dashboard.build_version, name="project-dashboard-build"),
    path(
        "projects/<slug:project>/datasets/<slug:version>/export/",
        dashboard.start_export,
        name="project-dashboard-export",
    ),
]

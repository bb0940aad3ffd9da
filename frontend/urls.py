from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import dashboard, project_pages, routing_pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("projects/new/", project_pages.new_project, name="project-new"),
    path("projects/<slug:project>/", dashboard.project_dashboard, name="project-dashboard"),
    path("projects/<slug:project>/datasets/build/", dashboard.build_version, name="project-dashboard-build"),
    path(
        "projects/<slug:project>/datasets/<slug:version>/export/",
        dashboard.start_export,
        name="project-dashboard-export",
    ),
    path("projects/<slug:project>/setup/", project_pages.setup, name="project-setup"),
    path("projects/<slug:project>/setup/members/", project_pages.add_member, name="project-member-add"),
    path(
        "projects/<slug:project>/setup/members/<int:member>/remove/",
        project_pages.remove_member,
        name="project-member-remove",
    ),
    path("projects/<slug:project>/results/", project_pages.results, name="project-results"),
    path(
        "projects/<slug:project>/results/train/", project_pages.start_training, name="project-results-train"
    ),
    path("projects/<slug:project>/routing/", routing_pages.routing_page, name="project-routing"),
    path("projects/<slug:project>/routing/curve.svg", routing_pages.curve_svg, name="project-routing-curve"),
    path("projects/<slug:project>/routing/tags/", routing_pages.start_tags, name="project-routing-tags"),
    path("projects/<slug:project>/routing/loop/", routing_pages.start_loop, name="project-routing-loop"),
    path(
        "projects/<slug:project>/routing/loop/<int:loop_id>/cancel/",
        routing_pages.cancel_loop,
        name="project-routing-loop-cancel",
    ),
    path("projects/<slug:project>/routing/route/", routing_pages.create_run, name="project-routing-route"),
    path(
        "projects/<slug:project>/routing/runs/<int:run_id>/",
        routing_pages.run_page,
        name="project-routing-run",
    ),
    path(
        "projects/<slug:project>/routing/runs/<int:run_id>/gains.svg",
        routing_pages.run_gains_svg,
        name="project-routing-run-gains",
    ),
]

"""Who may do what: the one place where roles are enforced (views and API permissions call these).

- admin (superuser, staff, or profile role admin): everything, all projects, exports;
- researcher: creates projects; manages, imports into, reads labels of and exports the projects where they
  are a researcher member;
- annotator: sees the projects they are a member of and their own tasks, nothing else — never other
  annotators' labels, LM labels or routing decisions.

Membership is the one source of access: creating a project makes its creator a researcher member, and
removing that membership removes the access (``created_by`` is a record, never a grant).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from annotation.models import Project, ProjectMembership, ProjectRole, Role, UserProfile

AnyUser = User | AnonymousUser


def global_role(user: AnyUser) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser or user.is_staff:
        return Role.ADMIN
    profile = UserProfile.objects.filter(user=user).only("role").first()
    return profile.role if profile else Role.ANNOTATOR


def is_admin(user: AnyUser) -> bool:
    return global_role(user) == Role.ADMIN


def can_create_projects(user: AnyUser) -> bool:
    return global_role(user) in {Role.ADMIN, Role.RESEARCHER}


def visible_projects(user: AnyUser) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def managed_projects(user: AnyUser) -> QuerySet[Project]:
    """Projects whose data (instances, labels, routing, exports) this user may read and change."""
    if not user.is_authenticated:
        return Project.objects.none()
    if is_admin(user):
        return Project.objects.all()
    if global_role(user) != Role.RESEARCHER:
        return Project.objects.none()
    return Project.objects.filter(memberships__user=user, memberships__role=ProjectRole.RESEARCHER).distinct()


def can_view_project(user: AnyUser, project: Project) -> bool:
    return visible_projects(user).filter(pk=project.pk).exists()


def can_manage_project(user: AnyUser, project: Project) -> bool:
    return managed_projects(user).filter(pk=project.pk).exists()


def is_annotator_on(user: AnyUser, project: Project) -> bool:
    return (
        user.is_authenticated
        and ProjectMembership.objects.filter(project=project, user=user, role=ProjectRole.ANNOTATOR).exists()
    )


# Names that read as what they guard; all resolve to managing the project.
can_import = can_read_labels = can_export = can_manage_project


class IsProjectManager(BasePermission):
    """DRF permission for views that expose ``get_project()``: researcher of the project, or admin."""

    message = "Only the project's researchers and admins may do this."

    def has_permission(self, request, view) -> bool:
        if not request.user.is_authenticated:
            return False  # 401/403 before anything about the project is revealed
        return can_manage_project(request.user, view.get_project())


class CanCreateProjects(BasePermission):
    message = "Only researchers and admins may create projects."

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return request.user.is_authenticated
        return can_create_projects(request.user)


class ManagesSomeProject(BasePermission):
    """For project-spanning read views (routing runs, PPMs): researchers and admins only; the queryset
    must still be filtered with ``managed_projects``. Annotators get 403, not an empty list."""

    message = "Only researchers and admins may see routing runs and PPMs."

    def has_permission(self, request, view) -> bool:
        return global_role(request.user) in {Role.ADMIN, Role.RESEARCHER}

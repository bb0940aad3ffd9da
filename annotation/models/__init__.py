"""The foundation data model. Each file holds one concern; everything is re-exported here."""

from annotation.models.counts import ProjectCount, project_counts, recount
from annotation.models.instances import Instance
from annotation.models.jobs import Job
from annotation.models.labels import HumanLabel, LabelSource, LMLabel
from annotation.models.projects import Project, ProjectMembership, ProjectRole, Role, UserProfile

__all__ = [
    "HumanLabel",
    "Instance",
    "Job",
    "LMLabel",
    "LabelSource",
    "Project",
    "ProjectCount",
    "ProjectMembership",
    "ProjectRole",
    "Role",
    "UserProfile",
    "project_counts",
    "recount",
]

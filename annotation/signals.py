"""Every user gets a profile (role annotator by default) when created."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from annotation.models import Role, UserProfile


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_profile(sender, instance, created: bool, **kwargs) -> None:
    if created:
        role = Role.ADMIN if instance.is_superuser else Role.ANNOTATOR
        UserProfile.objects.get_or_create(user=instance, defaults={"role": role})

"""Build the demo: a researcher account now; the stimulus sets and the open study `demo` as they land."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

RESEARCHER_GROUP = "researcher"


class Command(BaseCommand):
    help = "Create the demo researcher account (researcher / researcher). Safe to run again."

    def handle(self, *args, **options):
        group, _ = Group.objects.get_or_create(name=RESEARCHER_GROUP)
        user, created = get_user_model().objects.get_or_create(
            username="researcher", defaults={"is_staff": True, "email": "researcher@example.org"}
        )
        if created:
            user.set_password("researcher")
            user.save()
        user.groups.add(group)
        self.stdout.write(self.style.SUCCESS("Demo researcher: researcher / researcher"))

"""factory_boy factories for the site's own models (users), shared by every app's tests."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from docbgm_site.access import RESEARCHER_GROUP


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "pass-for-tests")

    @factory.post_generation
    def researcher(user, create, extracted, **kwargs):
        """`UserFactory(researcher=True)` puts the user in the "researcher" group."""
        if create and extracted:
            user.groups.add(Group.objects.get_or_create(name=RESEARCHER_GROUP)[0])
        if create:
            user.save()

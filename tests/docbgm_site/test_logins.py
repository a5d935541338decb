"""Failed researcher and admin logins are throttled (django-axes): the issue found them unlimited."""

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/researcher/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_username_from_that_address_out(url):
    UserFactory(username="lena", researcher=True, is_staff=True)
    UserFactory(username="omar", researcher=True, is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(url, {"username": "lena", "password": "guess"})
        assert response.status_code == 200  # the form again, with its error
    # The last allowed failure locks the pair out.
    assert client.post(url, {"username": "lena", "password": "guess"}).status_code == 429
    # Locked out now, even with the right password; nothing is logged in.
    locked = client.post(url, {"username": "lena", "password": "pass-for-tests"})
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    # Another researcher from the same address still logs in.
    other = Client()
    assert other.post(url, {"username": "omar", "password": "pass-for-tests"}).status_code == 302


def test_a_correct_login_resets_the_count():
    UserFactory(username="lena", researcher=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/researcher/login/", {"username": "lena", "password": "guess"})
    assert (
        client.post("/researcher/login/", {"username": "lena", "password": "pass-for-tests"}).status_code
        == 302
    )
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/researcher/login/", {"username": "lena", "password": "guess"})
    assert (
        client.post("/researcher/login/", {"username": "lena", "password": "pass-for-tests"}).status_code
        == 302
    )

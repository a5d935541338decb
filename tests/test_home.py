import pytest


@pytest.mark.django_db
def test_home_page_introduces_the_project(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "docbgm" in body
    assert "/researcher/" in body


@pytest.mark.django_db
def test_admin_login_page(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_admin_index_for_staff(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert "Stimulus sets" in response.content.decode()


@pytest.mark.django_db
def test_openapi_schema(admin_client):
    response = admin_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content

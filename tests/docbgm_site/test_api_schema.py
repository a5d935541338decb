"""The OpenAPI schema (/api/schema/) generates without a single drf-spectacular warning and validates.

A warning is usually a schema that is wrong, not only noisy: two nested `InputSerializer`s both
named "Input" collapse into one component, so one endpoint documents the other's body. The check
is `manage.py spectacular --validate --fail-on-warn`, exactly as a developer would run it.
"""

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS


@pytest.fixture
def schema(tmp_path) -> dict:
    # Warnings are counted process-wide; earlier schema requests in this run must not count here.
    GENERATOR_STATS.reset()
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_has_no_warnings_and_a_component_per_serializer(schema):
    components = schema["components"]["schemas"]
    assert not {"Input", "Output"} & set(components)
    request_bodies = {
        "/s/{slug}/api/headphones/{number}/": "VolunteerHeadphoneAnswer",
        "/s/{slug}/api/trials/{public_id}/events/": "VolunteerPlayEvent",
        "/s/{slug}/api/trials/{public_id}/rating/": "VolunteerRating",
        "/api/generation/checkpoints/": "CheckpointUpload",
        "/api/generation/stimulus-sets/": "StimulusSetRequest",
    }
    for path, component in request_bodies.items():
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        refs = {body["schema"]["$ref"] for body in content.values()}
        assert refs == {f"#/components/schemas/{component}"}, path
    assert set(components["VolunteerPlayEvent"]["properties"]) == {"event", "position_s"}
    assert set(components["VolunteerHeadphoneAnswer"]["properties"]) == {"answer"}


def test_volunteer_calls_document_the_session_cookie_they_need(schema):
    scheme = schema["components"]["securitySchemes"]["volunteerSession"]
    assert scheme == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": scheme["description"],
    }
    volunteer = {path: item for path, item in schema["paths"].items() if path.startswith("/s/")}
    # state, volume, headphones, a trial's events and rating, a page clip's events, a page's answer
    assert len(volunteer) == 7
    for path, item in volunteer.items():
        for operation in item.values():
            assert operation["security"] == [{"volunteerSession": []}], path

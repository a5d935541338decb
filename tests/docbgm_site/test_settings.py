"""Settings come from the environment; production refuses to start without a secret key."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")} | env
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_requires_secret_key(tmp_path):
    result = run_manage("check", env={"DJANGO_DEBUG": "0", "DOCBGM_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "x" * 60 + "-Production-Secret-Key-1234567890",
            "DJANGO_ALLOWED_HOSTS": "docbgm.example.org",
            "DOCBGM_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_default_generates_a_secret_key_once(tmp_path):
    env = {"DJANGO_DEBUG": "1", "DOCBGM_VAR_DIR": str(tmp_path)}
    assert run_manage("check", env=env).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert run_manage("check", env=env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key


def test_database_url_selects_the_database(settings):
    import environ

    parsed = environ.Env.db_url_config("postgres://postgres@127.0.0.1:5432/docbgm")
    assert parsed["ENGINE"] == "django.db.backends.postgresql"
    assert settings.DATABASES["default"]["ENGINE"] in {
        "django.db.backends.sqlite3",
        "django.db.backends.postgresql",
    }
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

"""`make demo` runs with DEBUG off, as production does, on plain http://127.0.0.1 (DOCBGM_DEMO=1)."""

import json
import re

from tests.docbgm_site.test_settings import ROOT, run_manage

PRINT_SETTINGS = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'debug': s.DEBUG, 'secure_cookie': getattr(s, 'SESSION_COOKIE_SECURE', False), "
    "'ssl_redirect': getattr(s, 'SECURE_SSL_REDIRECT', False), 'hsts': getattr(s, 'SECURE_HSTS_SECONDS', 0), "
    "'static': s.STORAGES['staticfiles']['BACKEND'], 'nosniff': s.SECURE_CONTENT_TYPE_NOSNIFF}))"
)


def test_the_demo_target_turns_debug_off_unless_asked():
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:") : makefile.index("\n\n", makefile.index("\ndemo:"))]
    assert re.search(r"^DEMO_DEBUG \?= 0$", makefile, re.M)
    assert "DEMO_ENV := DJANGO_DEBUG=$(DEMO_DEBUG) DOCBGM_DEMO=1" in makefile
    assert "DJANGO_DEBUG=1" not in demo and "collectstatic" in demo
    assert demo.count("$(DEMO_ENV)") == 5  # migrate, seed_demo, collectstatic, worker, server


def test_demo_settings_are_productions_without_https(tmp_path):
    result = run_manage(
        "shell",
        "-c",
        PRINT_SETTINGS,
        env={"DJANGO_DEBUG": "0", "DOCBGM_DEMO": "1", "DOCBGM_VAR_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "debug": False,
        "secure_cookie": False,
        "ssl_redirect": False,
        "hsts": 0,
        "static": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "nosniff": True,
    }
    assert (tmp_path / "secret_key").exists()  # the demo's generated key, as with DEBUG on

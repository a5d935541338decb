"""gunicorn for docbgm: `gunicorn docbgm_site.wsgi -c docbgm_site/gunicorn.conf.py` (README, Production).

Sized on the 2-core machine of benchmarks/bench_load.py (docs/load.md has the figures). A volunteer
request is mostly Python (14-21 ms of CPU there, most of it the ORM building SQL; `bench_load.py
--profile`) with a few short database round trips in between,
so: one worker process per core plus one, each with a few threads that overlap one request's
database wait with another's Python. More processes only added context switches; more threads
only queued on the GIL. Command-line flags (or GUNICORN_CMD_ARGS) override anything here, e.g.
`--workers 9` on a 4-core machine.
"""

import multiprocessing

bind = "127.0.0.1:8000"  # behind nginx (TLS, X-Forwarded-Proto, and audio via X-Accel-Redirect)
workers = multiprocessing.cpu_count() + 1
worker_class = "gthread"
threads = 4
# Keep-alive needs a threaded worker; browsers reuse the connection for the page, clip and calls.
keepalive = 5
# Requests that take longer than this are a bug (web requests never train or render): restart the worker.
timeout = 30
graceful_timeout = 30
# Load Django once in the master and fork: workers share its memory and answer at once.
preload_app = True


def when_ready(server) -> None:
    """Import the URLconf in the master too (it pulls in torch, pandas and scipy, about 5 s), so
    that no worker pays for it on its first request."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (builds the URL resolver once, before forking)

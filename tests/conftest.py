"""Fixtures shared by the whole suite: services (PostgreSQL, Redis), a real Celery worker, a browser."""

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM is still used synchronously.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(available: bool, reason: str) -> None:
    """Skip when a local service is absent, but fail on CI, where every service must be there."""
    if available:
        return
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def database_url_for_subprocess() -> str:
    """The URL of the test database this process uses, so that a worker process writes to it too."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    port = s.get("PORT") or 5432
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "") + "@" if s.get("USER") else ""
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{port}/{s['NAME']}"


def reset_broker_connections(app) -> None:
    """Drop the app's cached connection and producer pools so the next publish uses the new broker."""
    app._pool = None
    app.amqp._producer_pool = None


class WorkerProcess:
    """A real `celery worker` process; the test's Celery app is pointed at the same broker."""

    def __init__(self, broker: str, tmp_path: Path):
        self.broker = broker
        self.tmp_path = tmp_path
        self.env = dict(os.environ)
        self.env["DATABASE_URL"] = database_url_for_subprocess()
        self.env["DOCBGM_MEDIA_ROOT"] = str(self._media_root())
        # One deployment, one secret: stored names are HMACs under it (generation/storage.py).
        self.env["DJANGO_SECRET_KEY"] = self._secret_key()
        if broker == "redis":
            self.env["REDIS_URL"] = redis_url()
        else:
            self.env.pop("REDIS_URL", None)
            self.env["DOCBGM_VAR_DIR"] = str(tmp_path / "var")
        self.queue = f"test-{uuid.uuid4().hex}"
        self.log = tmp_path / "worker.log"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def _secret_key() -> str:
        from django.conf import settings

        return settings.SECRET_KEY

    @staticmethod
    def _media_root() -> Path:
        from django.conf import settings

        return Path(settings.MEDIA_ROOT)

    def configure_app(self) -> None:
        """Point this process's Celery app at the worker's broker."""
        from docbgm_site.celery import app

        if self.broker == "redis":
            app.conf.broker_url = redis_url()
            app.conf.broker_transport_options = {"visibility_timeout": 3600}
        else:
            folder = self.tmp_path / "var" / "broker"
            for sub in ("queue", "processed", "control"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            app.conf.broker_url = "filesystem://"
            app.conf.broker_transport_options = {
                "data_folder_in": str(folder / "queue"),
                "data_folder_out": str(folder / "queue"),
                "processed_folder": str(folder / "processed"),
                "control_folder": str(folder / "control"),
                "store_processed": False,
            }
        app.conf.task_always_eager = False
        reset_broker_connections(app)

    def start(self) -> None:
        self.configure_app()
        celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
        cmd = [
            celery,
            "-A",
            "docbgm_site",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )

    def wait_result(self, async_result, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log.read_text()}")
            if async_result.ready():
                return async_result.get(timeout=1)
            time.sleep(0.2)
        raise AssertionError(f"no result within {timeout}s; worker log:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """Start real worker processes: `celery_worker_factory("filesystem")` or `("redis")`."""
    workers: list[WorkerProcess] = []

    def start(broker: str = "filesystem") -> WorkerProcess:
        if broker == "redis":
            require_service(redis_available(redis_url()), f"Redis is not reachable at {redis_url()}")
        worker = WorkerProcess(broker, tmp_path / f"worker{len(workers)}")
        worker.tmp_path.mkdir(parents=True, exist_ok=True)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    from django.conf import settings

    from docbgm_site.celery import app

    app.conf.broker_url = settings.CELERY_BROKER_URL
    app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    app.conf.task_default_queue = "celery"
    reset_broker_connections(app)


@pytest.fixture(scope="session")
def _playwright_browser():
    if not Path(CHROMIUM).exists():
        require_service(False, f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_context(_playwright_browser):
    """A fresh browser context (cookies, storage) per test; pass locale= etc. through `new_context`."""
    contexts = []

    def new_context(**kwargs):
        context = _playwright_browser.new_context(**kwargs)
        contexts.append(context)
        return context

    yield new_context
    for context in contexts:
        context.close()


@pytest.fixture
def page(browser_context):
    context = browser_context()
    return context.new_page()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits (volunteer joins) live in the cache: every test starts with none used up."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path_factory):
    """Every test writes media into its own folder, never into var/media."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture
def run_threads():
    """`run_threads(n, target)` calls target in n threads released at once, each with its own
    database connection; returns (results, errors). For concurrency tests (transaction=True)."""

    def run(n, target):
        barrier = threading.Barrier(n)
        results, errors = [], []

        def worker():
            from django.db import connection as thread_connection

            try:
                barrier.wait()
                results.append(target())
            except Exception as error:  # noqa: BLE001 - collected and asserted by the test
                errors.append(error)
            finally:
                thread_connection.close()

        threads = [threading.Thread(target=worker) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results, errors

    return run

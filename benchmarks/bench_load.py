"""A thousand volunteers at once: latency, errors and a database audit of one study under load.

The scenario of issue 14. It builds a throw-away deployment of its own and drives it over loopback:

1. A fresh database: `docbgm_bench_<pid>` on the running PostgreSQL server (dropped at the end),
   or with --sqlite a file in a temporary folder; Redis (`REDIS_URL`, database 13) as in the
   README's production recipe. Media, static files and state live in a temporary DOCBGM_VAR_DIR.
2. The project's own paths: `migrate`, `collectstatic`, `import_stimuli` of short generated clips
   (5 conditions x 15 items of --clip-seconds tones, converted by the import to the study's MP3),
   `create_study --open` with no volume or headphone check (a load generator cannot hear the
   Huggins pitch; see docs/load.md) and no participant limit.
3. The server exactly as the README runs it: gunicorn with docbgm_site/gunicorn.conf.py (or, for
   code older than that file, `--workers 3`), DJANGO_DEBUG=0; with --sqlite the embedded default's
   `manage.py runserver` (or --server gunicorn). Requests carry `X-Forwarded-Proto: https`, an
   Origin header and each volunteer's own X-Forwarded-For, as they would through the TLS proxy,
   so the secure cookies, the CSRF checks and the per-address join limit work as deployed.
4. N volunteers (asyncio + aiohttp, one cookie jar each) arrive evenly over --join-seconds. Each
   opens the study link with Prolific parameters, consents (the join), then for every clip:
   loads the trial page, fetches the clip with `Range: bytes=0-`, posts "play", posts "ended" a
   clip-length later and rates about every --rating-interval seconds (+-20 %); one rating in ten is
   sent twice, the copy racing the original as a network retry would. At the end the done page.
5. Closed loop: 16 connections for --closed-loop-seconds each ask for a volunteer's trial page,
   then for the home page (a template, no database); the ratio says what a volunteer request costs.
6. Audit, straight from the database: acknowledged ratings vs stored (lost, unacknowledged,
   mismatched, duplicated), the exposure spread of (condition, item) counts, and, where the
   study keeps incremental exposure counts, whether they equal a recount.

Bounded: everything binds 127.0.0.1, the run stops by itself after --max-seconds, and the server,
database and folder are removed on the way out.

Run: .venv/bin/python benchmarks/bench_load.py [--volunteers 1000] [--join-seconds 30]
     [--rating-interval 20] [--sqlite]            (make bench-load runs both variants)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent

# The code as issue 14 found it (before persistent connections, cached sessions, Exposure counts).
BASELINE = "08cbef8"
CONDITIONS = [("proposed", "system"), ("bilstm", "system"), ("ec2vae", "system"), ("vded", "system")]
CONDITIONS += [("real", "reference")]
ITEMS = 15
SLUG = "bench"
# The endpoints of the latency table, in the volunteer's order.
ENDPOINTS = ["entry", "join", "trial page", "clip", "events", "rating", "done"]
EXPECTED = {"entry": 200, "join": 302, "trial page": 200, "clip": 206, "events": 200, "rating": 200}
EXPECTED["done"] = 200
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CONSENT_RE = re.compile(r'name="consent_version" value="([^"]*)"')
CONFIG_RE = re.compile(r'<script id="volunteer-config" type="application/json">(.*?)</script>', re.S)
CLIP_RE = re.compile(r'id="clip-audio"[^>]*src="([^"]+)"')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=None, help="default 1000 (200 with --sqlite)")
    parser.add_argument("--join-seconds", type=float, default=30.0, help="arrivals spread over this")
    parser.add_argument("--rating-interval", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--clip-seconds", type=float, default=3.0, help="length of the generated clips")
    parser.add_argument("--retry-fraction", type=float, default=0.1, help="ratings sent twice")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default: SQLite, no Redis")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "runserver"],
        default=None,
        help="default: gunicorn (runserver on SQLite)",
    )
    parser.add_argument("--gunicorn-arg", action="append", default=[], help="extra gunicorn argument")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="'' for none")
    parser.add_argument("--closed-loop-seconds", type=float, default=10.0, help="0 skips the closed loop")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--max-seconds", type=float, default=None, help="hard stop of the scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="where the time goes: gunicorn with benchmarks/gunicorn_profile.conf.py (one thread per "
        "worker, cProfile on every other request) and a table of each endpoint's CPU by part; the "
        "latencies of a profiled run are not the server's",
    )
    parser.add_argument(
        "--code",
        default="",
        help="run the scenario against this git revision instead of the working tree (e.g. "
        f"{BASELINE}, the code before issue 14): checked out in a temporary worktree",
    )
    args = parser.parse_args(argv)
    if args.volunteers is None:
        args.volunteers = 200 if args.sqlite else 1000
    if args.server is None:
        args.server = "runserver" if args.sqlite else "gunicorn"
    if args.sqlite:
        args.redis_url = ""
    trials = 3 * 5 + 1
    if args.max_seconds is None:
        args.max_seconds = args.join_seconds + trials * args.rating_interval * 1.3 + 120
    return args


# --- The deployment -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Deployment:
    args: argparse.Namespace
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="docbgm-bench-")))
    database: str = ""
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    port: int = 0
    profile_dir: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def create_database(self) -> str:
        if self.args.sqlite:
            return f"sqlite:///{self.folder / 'db.sqlite3'}"
        import psycopg

        self.database = f"docbgm_bench_{os.getpid()}"
        with psycopg.connect(self.args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        return self.args.postgres_url.rsplit("/", 1)[0] + f"/{self.database}"

    def drop_database(self) -> None:
        if not self.database:
            return
        import psycopg

        with psycopg.connect(self.args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def configure(self) -> None:
        """The production environment of the README, pointed at this run's database and folder."""
        self.env = {
            "DJANGO_SETTINGS_MODULE": "docbgm_site.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_LOG_LEVEL": "WARNING",
            # Behind the proxy the client address is in X-Forwarded-For; each simulated volunteer
            # has its own, so the per-address join limit sees a thousand people, not one.
            "DJANGO_RATELIMIT_IP_META_KEY": "HTTP_X_FORWARDED_FOR",
            "DOCBGM_VAR_DIR": str(self.folder / "var"),
            "DATABASE_URL": self.create_database(),
        }
        if self.args.redis_url:
            self.env["REDIS_URL"] = self.args.redis_url
        else:
            os.environ.pop("REDIS_URL", None)
        os.environ.update(self.env)

    def prepare(self) -> dict:
        """migrate, collectstatic, import the clips, create and open the study (in this process)."""
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        if self.args.redis_url:
            import redis

            redis.Redis.from_url(self.args.redis_url).flushdb()
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        clips = self.folder / "clips"
        write_clips(clips, seconds=self.args.clip_seconds, seed=self.args.seed)
        get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(12))
        quiet = io.StringIO()
        call_command("import_stimuli", str(clips), prefix="bench-", user="bench", stdout=quiet)
        conditions = [f"--condition={name}=bench-{name}:{role}" for name, role in CONDITIONS]
        call_command(
            "create_study",
            f"--slug={SLUG}",
            "--title=Load benchmark",
            "--owner=bench",
            *conditions,
            "--target-participants=0",
            "--no-headphone-check",
            "--no-volume-check",
            f"--seed={self.args.seed}",
            "--open",
            stdout=quiet,
        )
        from django.db import connections

        connections.close_all()
        return {"clip_seconds": self.args.clip_seconds}

    def start(self) -> None:
        self.port = self.args.port or free_port()
        bind = f"127.0.0.1:{self.port}"
        if self.args.server == "runserver":
            cmd = [str(VENV_BIN / "python"), "manage.py", "runserver", bind, "--noreload"]
        else:
            cmd = [str(VENV_BIN / "gunicorn"), "docbgm_site.wsgi", "--bind", bind]
            config = ROOT / "docbgm_site" / "gunicorn.conf.py"
            if self.args.profile:
                config = Path(__file__).resolve().parent / "gunicorn_profile.conf.py"
                self.env["DOCBGM_PROFILE_DIR"] = self.profile_dir = os.environ.get(
                    "DOCBGM_PROFILE_DIR", str(self.folder / "profile")
                )
            cmd += ["--config", str(config)] if config.exists() else ["--workers", "3"]
            cmd += self.args.gunicorn_arg
        self.command = " ".join(
            os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in [Path(cmd[0]).name, *cmd[1:]]
        )
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, seconds: float = 180) -> None:
        """Until 12 requests at once are all answered within a second: every worker has loaded the app."""
        import urllib.request
        from concurrent.futures import ThreadPoolExecutor

        def get(_):
            request = urllib.request.Request(self.base + "/", headers={"X-Forwarded-Proto": "https"})
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                    return response.status == 200 and time.perf_counter() - start < 1
            except OSError:
                return False

        deadline = time.monotonic() + seconds
        with ThreadPoolExecutor(12) as pool:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited:\n{self.log.read_text()[-3000:]}")
                if all(pool.map(get, range(12))):
                    return
                time.sleep(0.5)
        raise RuntimeError(
            f"the server was not ready within {seconds:.0f} s:\n{self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def server_log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text) if self.log.exists() else 0

    def cleanup(self) -> None:
        self.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        self.drop_database()
        if self.args.redis_url:
            import redis

            redis.Redis.from_url(self.args.redis_url).flushdb()
        shutil.rmtree(self.folder, ignore_errors=True)


def write_clips(folder: Path, *, seconds: float, seed: int) -> None:
    """5 conditions x 15 items of short tone melodies (WAV), for import_stimuli to convert."""
    import numpy as np
    import soundfile as sf

    rate = 44100
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    for condition, _ in CONDITIONS:
        (folder / condition).mkdir(parents=True)
        for item in range(1, ITEMS + 1):
            notes = 220.0 * 2 ** (rng.integers(0, 24, size=8) / 12)
            pitch = notes[np.minimum((t / seconds * len(notes)).astype(int), len(notes) - 1)]
            signal_ = 0.2 * np.sin(2 * np.pi * np.cumsum(pitch) / rate) * np.minimum(1, (seconds - t) * 10)
            sf.write(folder / condition / f"item{item:02d}.wav", np.stack([signal_, signal_], 1), rate)


# --- The volunteers --------------------------------------------------------------------------


@dataclass
class Results:
    latency: dict = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    samples: dict = field(default_factory=dict)  # error key -> one example
    acknowledged: dict = field(default_factory=dict)  # public id -> (n, c, m)
    retries: int = 0
    completed: int = 0
    started: int = 0


class Volunteer:
    """One browser: its own cookies; every request timed and checked against the expected status."""

    def __init__(self, http, base: str, results: Results, number: int = 0):
        self.http, self.base, self.results = http, base, results
        self.cookies: dict[str, str] = {}
        self.address = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"

    def headers(self, unsafe: bool = False, **extra) -> dict:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": self.address, **extra}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if unsafe:
            headers["Origin"] = self.base.replace("http://", "https://")
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
        return headers

    async def request(self, endpoint: str, method: str, path: str, **kwargs) -> tuple[int, bytes]:
        start = time.perf_counter()
        try:
            async with self.http.request(method, self.base + path, allow_redirects=False, **kwargs) as r:
                body = await r.read()
                status = r.status
                for name, morsel in r.cookies.items():
                    self.cookies[name] = morsel.value
        except (TimeoutError, OSError, Exception) as error:  # noqa: B014 - every failure is counted
            key = f"{endpoint}: {type(error).__name__}"
            self.results.errors[key] += 1
            self.results.samples.setdefault(key, str(error)[:200])
            return 0, b""
        self.results.latency[endpoint].append(time.perf_counter() - start)
        if status != EXPECTED[endpoint]:
            key = f"{endpoint}: HTTP {status}"
            self.results.errors[key] += 1
            self.results.samples.setdefault(key, body[:200].decode(errors="replace"))
        return status, body

    async def post_json(self, endpoint: str, path: str, data: dict) -> tuple[int, bytes]:
        headers = self.headers(unsafe=True, **{"Content-Type": "application/json"})
        return await self.request(endpoint, "POST", path, data=json.dumps(data), headers=headers)


async def retried(v: Volunteer, url: str, values: dict) -> tuple[int, bytes]:
    """The same rating again 50 ms later, racing the original (a network retry)."""
    await asyncio.sleep(0.05)
    return await v.post_json("rating", url, values)


async def volunteer_session(
    number: int, http, base: str, results: Results, args, clip_seconds: float, rng: random.Random
) -> None:
    v = Volunteer(http, base, results, number)
    query = f"?PROLIFIC_PID=BENCH{number:06d}&STUDY_ID=load&SESSION_ID=S{number:06d}"
    status, body = await v.request("entry", "GET", f"/s/{SLUG}/{query}", headers=v.headers())
    if status != 200:
        return
    page = body.decode()
    form = {
        "csrfmiddlewaretoken": CSRF_RE.search(page)[1],
        "consent_version": CONSENT_RE.search(page)[1],
        "prolific_pid": f"BENCH{number:06d}",
        "study_id": "load",
        "session_id": f"S{number:06d}",
        "consent": "on",
        "age_band": "25-34",
    }
    status, _ = await v.request("join", "POST", f"/s/{SLUG}/", data=form, headers=v.headers(unsafe=True))
    if status != 302:
        return
    results.started += 1
    for _ in range(40):  # 16 clips; a runaway loop must end too
        loaded = time.monotonic()
        status, body = await v.request("trial page", "GET", f"/s/{SLUG}/go/", headers=v.headers())
        if status != 200:
            return
        page = body.decode()
        config_match = CONFIG_RE.search(page)
        config = json.loads(config_match[1]) if config_match else {}
        if config.get("step") not in ("trial", "practice"):
            if "completion-code" in page:
                results.completed += 1
            results.latency["done"].append(results.latency["trial page"].pop())
            return
        clip = CLIP_RE.search(page)[1]
        await v.request("clip", "GET", clip, headers=v.headers(Range="bytes=0-"))
        await v.post_json("events", config["urls"]["events"], {"event": "play", "position_s": 0})
        await asyncio.sleep(clip_seconds + 0.1)
        await v.post_json("events", config["urls"]["events"], {"event": "ended", "position_s": clip_seconds})
        wait = args.rating_interval * rng.uniform(0.8, 1.2) - (time.monotonic() - loaded)
        await asyncio.sleep(max(0.2, wait))
        values = {name: rng.randint(1, 5) for name in ("naturalness", "creativity", "musicality")}
        rating = v.post_json("rating", config["urls"]["rating"], values)
        if rng.random() < args.retry_fraction:
            results.retries += 1
            answers = await asyncio.gather(rating, retried(v, config["urls"]["rating"], values))
        else:
            answers = [await rating]
        if any(status == 200 for status, _ in answers):
            public_id = config["urls"]["rating"].rstrip("/").split("/")[-2]
            results.acknowledged[public_id] = (
                values["naturalness"],
                values["creativity"],
                values["musicality"],
            )


async def scenario(args, base: str, clip_seconds: float, results: Results) -> bool:
    """Every volunteer's session; False when --max-seconds stopped it."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    rng = random.Random(args.seed)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        tasks = []
        spacing = args.join_seconds / max(1, args.volunteers)

        async def arrive(number: int):
            await asyncio.sleep(number * spacing)
            await volunteer_session(
                number, http, base, results, args, clip_seconds, random.Random(rng.getrandbits(32))
            )

        tasks = [asyncio.create_task(arrive(n)) for n in range(args.volunteers)]
        done, pending = await asyncio.wait(tasks, timeout=args.max_seconds)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                key = f"client: {type(task.exception()).__name__}"
                results.errors[key] += 1
                results.samples.setdefault(key, repr(task.exception())[:200])
        return not pending


async def closed_loop(args, base: str) -> dict:
    """Requests per second of 16 connections asking as fast as answered: trial page, then home page."""
    import aiohttp

    results = Results()
    connector = aiohttp.TCPConnector(limit=args.connections)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        volunteers = []
        for number in range(args.connections):
            v = Volunteer(http, base, results, 1_000_000 + number)
            status, body = await v.request("entry", "GET", f"/s/{SLUG}/", headers=v.headers())
            form = {
                "csrfmiddlewaretoken": CSRF_RE.search(body.decode())[1],
                "consent_version": CONSENT_RE.search(body.decode())[1],
                "consent": "on",
                "prolific_pid": f"LOOP{number:04d}",
            }
            await v.request("join", "POST", f"/s/{SLUG}/", data=form, headers=v.headers(unsafe=True))
            volunteers.append(v)

        async def loop(v: Volunteer, path: str, seconds: float) -> tuple[int, int]:
            done = failed = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                async with http.get(base + path, headers=v.headers(), allow_redirects=False) as r:
                    await r.read()
                    done, failed = (done + 1, failed) if r.status == 200 else (done, failed + 1)
            return done, failed

        rates = {}
        for label, path in [("trial page", f"/s/{SLUG}/go/"), ("home page", "/")]:
            await asyncio.gather(*(loop(v, path, 1.0) for v in volunteers))  # warm up
            start = time.monotonic()
            counts = await asyncio.gather(*(loop(v, path, args.closed_loop_seconds) for v in volunteers))
            elapsed = time.monotonic() - start
            rates[label] = (sum(c[0] for c in counts) / elapsed, sum(c[1] for c in counts))
        return rates


# --- The audit and the report ----------------------------------------------------------------


def audit(results: Results) -> dict:
    """What the database holds, compared with what the volunteers were told."""
    from studies import design, services
    from studies.models import Rating, Study, Trial

    study = Study.objects.get(slug=SLUG)
    stored = {
        r["trial__public_id"]: (r["naturalness"], r["creativity"], r["musicality"])
        for r in Rating.objects.filter(trial__participant__study=study).values(
            "trial__public_id", "naturalness", "creativity", "musicality"
        )
    }
    per_trial = Counter(
        Rating.objects.filter(trial__participant__study=study).values_list("trial_id", flat=True)
    )
    acknowledged = results.acknowledged
    conditions = list(study.conditions.values_list("pk", flat=True))
    items = services.study_items(study=study)
    recount = services.exposure_counts(study=study)
    counts = [recount.get((c, i), 0) for c in conditions for i in items]
    out = {
        "participants": study.participants.count(),
        "trials": Trial.objects.filter(participant__study=study).count(),
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(set(acknowledged) - set(stored)),
        "stored, never acknowledged": len(set(stored) - set(acknowledged)),
        "stored with other values": sum(1 for k, v in acknowledged.items() if k in stored and stored[k] != v),
        "duplicated": sum(1 for n in per_trial.values() if n > 1),
        "exposure min..max": f"{min(counts)}..{max(counts)}",
        "exposure spread": design.exposure_spread(recount, conditions, items),
    }
    incremental = getattr(services, "exposure_counts_stored", None)
    if incremental is not None:
        kept = incremental(study=study)
        out["incremental counts = recount"] = all(
            kept.get(k, 0) == recount.get(k, 0) for k in set(kept) | set(recount)
        )
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def report(args, deployment: Deployment, results: Results, finished: bool, elapsed: float, rates, checks):
    total = sum(len(v) for v in results.latency.values())
    print(
        f"\n## {args.volunteers} volunteers, {'SQLite' if args.sqlite else 'PostgreSQL'}, {deployment.command}"
    )
    print(
        f"joins over {args.join_seconds:.0f} s, a rating every ~{args.rating_interval:.0f} s, "
        f"{args.clip_seconds:.0f} s clips; {total} requests in {elapsed:.0f} s "
        f"({total / elapsed:.0f}/s); {results.started} joined, {results.completed} completed"
        + ("" if finished else f"; STOPPED after --max-seconds {args.max_seconds:.0f}")
    )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end\n")
    print("| endpoint | requests | p50 | p99 | max |\n| --- | --- | --- | --- | --- |")
    for endpoint in ENDPOINTS:
        values = results.latency.get(endpoint, [])
        if values:
            row = [
                str(len(values)),
                fmt(statistics.median(values)),
                fmt(percentile(values, 0.99)),
                fmt(max(values)),
            ]
            print(f"| {endpoint} | " + " | ".join(row) + " |")
    print(f"\nerrors: {sum(results.errors.values())}")
    for key, n in results.errors.most_common():
        print(f"  {n:6d}  {key}  e.g. {results.samples[key]!r}")
    locked = deployment.server_log_count("database is locked")
    print(f'server log: {locked} "database is locked", {deployment.server_log_count("Traceback")} tracebacks')
    print(f"\naudit ({results.retries} ratings sent twice):")
    for key, value in checks.items():
        print(f"  {key}: {value}")
    if rates:
        trial, home = rates["trial page"], rates["home page"]
        print(f"\nclosed loop, {args.connections} connections, {args.closed_loop_seconds:.0f} s each:")
        print(f"  volunteer trial page {trial[0]:7.0f} req/s ({trial[1]} failed)")
        print(f"  home page            {home[0]:7.0f} req/s ({home[1]} failed)")
        print(f"  a volunteer request costs {home[0] / trial[0]:.1f} x a bare one")


# What a profiled function's file says about the part of the stack it belongs to (first match).
PARTS = [
    ("database driver", ("/psycopg/", "/psycopg_pool/", "sqlite3")),
    ("ORM", ("/django/db/",)),
    ("templates", ("/django/template/", "/django/templatetags/")),
    ("DRF", ("/rest_framework/", "/drf_spectacular/")),
    ("sessions, cache", ("/django/contrib/sessions/", "/django/core/cache/", "/redis/")),
    ("gunicorn", ("/gunicorn/",)),
    (
        "middleware, Django core",
        ("/django/", "/whitenoise/", "/csp/", "/axes/", "/django_ratelimit/", "/asgiref/"),
    ),
]


def _part(filename: str) -> str:
    for part, needles in PARTS:
        if any(n in filename for n in needles):
            return part
    if filename.startswith(str(ROOT)) and "/.venv/" not in filename:
        return "docbgm code"
    return "other (stdlib)"


def profile_report(folder: Path) -> None:
    """Each endpoint's CPU per request (the unprofiled half) and its split by part of the stack (the
    profiled half; a builtin's time goes to the parts that called it, in proportion)."""
    import pstats

    cpu, count = Counter(), Counter()
    for path in folder.glob("counts-*.json"):
        data = json.loads(path.read_text())
        cpu.update(data["cpu"])
        count.update(data["count"])
    parts = [p for p, _ in PARTS] + ["docbgm code", "other (stdlib)"]
    print("\n## Where the time goes (CPU of one gunicorn thread per request; the split from cProfile)\n")
    print("| endpoint | requests | CPU ms | " + " | ".join(parts) + " |")
    print("| --- " * (len(parts) + 3) + "|")
    for endpoint in ["home page", *ENDPOINTS, "other"]:
        files = sorted(folder.glob(f"{endpoint.replace(' ', '_')}-*.prof"))
        if not files or not count[endpoint]:
            continue
        stats = pstats.Stats(*map(str, files)).stats
        shares = Counter()
        for (filename, _, _), (_, _, tottime, _, callers) in stats.items():
            if filename != "~" or not callers:
                shares[_part(filename)] += tottime
                continue
            caller_total = sum(c[2] for c in callers.values()) or 1.0
            for (caller_file, _, _), c in callers.items():
                shares[_part(caller_file)] += tottime * c[2] / caller_total
        total = sum(shares.values()) or 1.0
        ms = 1000 * cpu[endpoint] / count[endpoint]
        cells = " | ".join(f"{100 * shares[p] / total:.0f} %" for p in parts)
        print(f"| {endpoint} | {count[endpoint]} | {ms:.1f} | {cells} |")


def run_at_revision(revision: str, argv: list[str]) -> int:
    """This benchmark, unchanged, against the code of `revision`: a temporary git worktree gets a copy
    of this file and runs it with the same arguments (and this venv), then is removed."""
    folder = Path(tempfile.mkdtemp(prefix="docbgm-bench-code-"))
    tree = folder / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), revision], check=True
    )
    try:
        shutil.copy2(Path(__file__), tree / "benchmarks" / "bench_load.py")
        commit = subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True
        ).stdout.strip()
        print(f"# code at {revision}: {commit}", flush=True)
        return subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_load.py"), *argv]).returncode
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.code:
        rest = list(sys.argv[1:] if argv is None else argv)
        i = rest.index("--code") if "--code" in rest else None
        if i is not None:
            del rest[i : i + 2]
        else:
            rest = [a for a in rest if not a.startswith("--code=")]
        return run_at_revision(args.code, rest)
    deployment = Deployment(args)
    try:
        deployment.configure()
        info = deployment.prepare()
        deployment.start()
        results = Results()
        start = time.monotonic()
        finished = asyncio.run(scenario(args, deployment.base, info["clip_seconds"], results))
        elapsed = time.monotonic() - start
        rates = asyncio.run(closed_loop(args, deployment.base)) if args.closed_loop_seconds > 0 else None
        deployment.stop()
        checks = audit(results)
        report(args, deployment, results, finished, elapsed, rates, checks)
        if args.profile:
            profile_report(Path(deployment.profile_dir))
    finally:
        deployment.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""gunicorn for `bench_load.py --profile`: where a volunteer request's time goes.

The project's own configuration (docbgm_site/gunicorn.conf.py), with one thread per worker so that
each request runs alone on its thread, and two hooks: every request's CPU time (time.thread_time)
is recorded per endpoint, and every other request is also run under cProfile (timed in thread CPU
time too, so waiting for the database counts nowhere), whose functions are summed per endpoint. Half the requests are not profiled, so their CPU time is the true cost;
the profiled half only gives the shares. At exit each worker writes its figures to
$DOCBGM_PROFILE_DIR (pstats files and a JSON of counts), which bench_load.py sums and prints.
"""

import cProfile
import json
import os
import re
import time
from pathlib import Path

_here = Path(__file__).resolve().parent.parent / "docbgm_site" / "gunicorn.conf.py"
exec(compile(_here.read_text(), str(_here), "exec"))  # noqa: S102 - the project's own config file

threads = 1
PROFILE_DIR = Path(os.environ.get("DOCBGM_PROFILE_DIR", "/tmp/docbgm-profile"))

# (pattern, method or None, label), first match wins; the labels of bench_load.py's table.
_ENDPOINTS = [
    (re.compile(r"^/$"), None, "home page"),
    (re.compile(r"^/s/[^/]+/go/$"), None, "trial page"),
    (re.compile(r"^/s/[^/]+/clip/"), None, "clip"),
    (re.compile(r"^/s/[^/]+/api/trials/[^/]+/events/$"), None, "events"),
    (re.compile(r"^/s/[^/]+/api/trials/[^/]+/rating/$"), None, "rating"),
    (re.compile(r"^/s/[^/]+/$"), "POST", "join"),
    (re.compile(r"^/s/[^/]+/$"), "GET", "entry"),
]
_state = {"n": 0, "stats": {}, "cpu": {}, "count": {}, "profiled": {}}


def _label(req) -> str:
    for pattern, method, label in _ENDPOINTS:
        if pattern.match(req.path) and (method is None or method == req.method):
            return label
    return "other"


def pre_request(worker, req) -> None:
    _state["n"] += 1
    worker._docbgm_profile = cProfile.Profile(time.thread_time) if _state["n"] % 2 == 0 else None
    worker._docbgm_cpu = time.thread_time()
    if worker._docbgm_profile is not None:
        worker._docbgm_profile.enable()


def post_request(worker, req, environ, resp) -> None:
    profile = getattr(worker, "_docbgm_profile", None)
    if profile is not None:
        profile.disable()
    cpu = time.thread_time() - getattr(worker, "_docbgm_cpu", time.thread_time())
    label = _label(req)
    if profile is None:
        _state["cpu"][label] = _state["cpu"].get(label, 0.0) + cpu
        _state["count"][label] = _state["count"].get(label, 0) + 1
    else:
        _state["profiled"][label] = _state["profiled"].get(label, 0) + 1
        profile.create_stats()
        if label in _state["stats"]:
            _state["stats"][label].add(profile)
        else:
            import pstats

            _state["stats"][label] = pstats.Stats(profile)


def worker_exit(server, worker) -> None:
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    for label, stats in _state["stats"].items():
        stats.dump_stats(PROFILE_DIR / f"{label.replace(' ', '_')}-{pid}.prof")
    counts = {"cpu": _state["cpu"], "count": _state["count"], "profiled": _state["profiled"]}
    (PROFILE_DIR / f"counts-{pid}.json").write_text(json.dumps(counts))

"""docbgm_site.cache.RedisCache against a real Redis: Django's cache API, one client per pool."""

import threading

import pytest
from django.core.cache.backends.base import DEFAULT_TIMEOUT

from docbgm_site.cache import RedisCache
from tests.conftest import redis_available, redis_url, require_service


@pytest.fixture
def cache():
    url = redis_url()
    require_service(redis_available(url), f"Redis is not reachable at {url}")
    cache = RedisCache(url, {"KEY_PREFIX": "docbgm-test-cache"})
    cache.clear()
    yield cache
    cache.clear()


def test_the_cache_api_works_and_reuses_one_client(cache):
    cache.set("a", {"x": 1}, DEFAULT_TIMEOUT)
    assert cache.get("a") == {"x": 1}
    assert cache.add("a", 2) is False and cache.add("b", 2) is True
    assert cache.get_many(["a", "b", "missing"]) == {"a": {"x": 1}, "b": 2}
    assert cache.incr("b") == 3
    assert cache.delete("a") is True and cache.get("a", "gone") == "gone"
    first = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is first and cache._cache.get_client() is first


def test_threads_share_the_client_safely(cache):
    errors = []

    def work(n):
        try:
            for i in range(50):
                cache.set(f"k{n}-{i}", i)
                assert cache.get(f"k{n}-{i}") == i
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache._cache._clients) == 1

"""Django's Redis cache, with one redis client per connection pool instead of one per operation.

django.core.cache.backends.redis builds a new `redis.Redis` for every cache call, and each new
client fills a table of about 80 response callbacks: with sessions in the cache that is most of a
cached session read's CPU (benchmarks/bench_load.py --profile). A `redis.Redis` is thread-safe
over its pool and the pool reconnects after a fork, so one client per pool serves every thread of
a gunicorn worker. Settings: CACHES["default"]["BACKEND"] = "docbgm_site.cache.RedisCache".
"""

from django.core.cache.backends import redis as django_redis
from django.utils.functional import cached_property


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    @cached_property
    def _cache(self):
        return RedisCacheClient(self._servers, **self._options)

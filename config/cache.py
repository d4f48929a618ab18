"""The shared cache's Redis backend: Django's own, keeping one redis-py client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call, and redis-py rebuilds its table of some
170 response callbacks in each constructor (redis/redis-py#3624): most of the CPU of a cache call, paid on every
throttled request, every claim's hints, every circuit-breaker check. A client is as thread-safe as its pool, and
Django gives each thread its own cache object anyway.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _RedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """`django.core.cache.backends.redis.RedisCache` with one client per connection pool (see above)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _RedisCacheClient

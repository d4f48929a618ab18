"""The shared cache's Redis backend (config.cache): Django's, with one redis-py client per connection pool."""

import pytest
from django.core.cache import cache

from config.cache import RedisCache


def test_every_call_of_one_cache_uses_the_same_redis_client():
    shared = RedisCache("redis://127.0.0.1:6379/0", {})  # no connection is opened until a command is sent

    assert shared._cache.get_client("throttle") is shared._cache.get_client("hint", write=True)


@pytest.mark.redis
def test_the_shared_cache_on_redis_is_this_backend_and_reads_what_it_wrote():
    cache.set("cache-backend-test", {"sold_out": "1f2e"}, 5)

    assert type(cache._cache).__name__ == "_RedisCacheClient"
    assert cache.get_many(["cache-backend-test", "absent"]) == {"cache-backend-test": {"sold_out": "1f2e"}}

"""Fixed-window rate limits kept in the shared cache, so every worker of every machine counts together.

`rate_take` takes one unit from every window of a name (e.g. per second and per minute) or from none: a
refusal gives back what it took, and says how long until the refusing window ends. Counting is conservative:
two workers racing for the last unit may both be refused for that window, never both let through.
"""

import contextlib

from django.core.cache import cache as default_cache


def rate_take(name: str, *, limits: list[tuple[int, int]], now: float, cache=None) -> float:
    """Take one unit of each (window seconds, limit) of `name` at `now` (Unix seconds).

    Return 0 when taken, else the seconds until the first refusing window ends (nothing taken). A limit of 0
    or less means no limit for that window.
    """
    cache = cache or default_cache
    taken = []
    for window, limit in limits:
        if limit <= 0:
            continue
        start = int(now // window) * window
        key = f"rate:{name}:{window}:{start}"
        cache.add(key, 0, timeout=window + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # the window's key expired between add and incr
            cache.add(key, 1, timeout=window + 1)
            count = 1
        taken.append(key)
        if count > limit:
            for taken_key in taken:
                with contextlib.suppress(ValueError):
                    cache.decr(taken_key)
            return max(start + window - now, 0.001)
    return 0

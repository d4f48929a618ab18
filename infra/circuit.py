"""A circuit breaker and a cap on calls in flight for an outbound HTTP service, kept in the shared cache.

Plumbing for the WeChat and WeChat Pay clients. When a service stops answering, every login would otherwise
hold a web worker for the whole read timeout, and the tills queue behind them. Two guards:

- the breaker: after `failure_threshold` consecutive failures (errors, timeouts, "busy" answers) within
  `window_seconds` it opens and refuses calls at once for `cooldown_seconds`; then it is half-open and lets one
  trial call through: success closes it, failure opens it for another cool-down;
- the cap: at most `max_concurrent_calls` calls to the service in flight on this host (0: no cap), so the
  workers left over keep serving the tills while the service is slow, before the breaker has seen enough.

Both live in the default cache. With the shared cache (`CACHE_URL`, Redis) every worker process agrees; with the
local-memory cache of the demo each process counts alone. A refusal is `CallRefused` with the seconds after
which a retry makes sense; the client turns it into its own domain error.
"""

import math
import socket
import time
import uuid
from contextlib import contextmanager

from django.core.cache import cache as default_cache

# Keys of an open breaker outlive its cool-down (it stays half-open until a trial call succeeds).
OPEN_STATE_SECONDS = 24 * 3600


class CallRefused(Exception):
    """The breaker is open (or a trial call is already out), or too many calls are in flight."""

    def __init__(self, *, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"call refused, retry after {retry_after}s")


class CircuitBreaker:
    """Guards the calls to one outbound service (`name`) for every process that shares the cache."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        window_seconds: float,
        cooldown_seconds: float,
        call_seconds: float,
        max_concurrent_calls: int = 0,
        cache=None,
        clock=None,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.window_seconds = window_seconds
        self.cooldown_seconds = cooldown_seconds
        # The longest one call can take (connect + read timeouts): a trial or a slot whose holder died is free
        # again after it.
        self.call_seconds = call_seconds
        self.max_concurrent_calls = max_concurrent_calls
        self.cache = cache or default_cache
        self.clock = clock or time.time
        prefix = f"circuit:{name}"
        self._failures_key = f"{prefix}:failures"
        self._open_key = f"{prefix}:open_until"
        self._trial_key = f"{prefix}:trial"
        # The cap protects this host's workers, so its slots are per host.
        self._slot_keys = [f"{prefix}:slot:{socket.gethostname()}:{index}" for index in range(max_concurrent_calls)]

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """closed, open or half_open (for logs and tests)."""
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return "closed"
        return "open" if self.clock() < open_until else "half_open"

    @contextmanager
    def call(self):
        """Guard one call: raise CallRefused at once, or run the block and count an exception as a failure.

        The block should raise for every outcome that means "the service is unwell" and return normally for
        every answer the service gave on purpose (including its refusals of the caller's input).
        """
        is_trial = self._admit()
        slot = self._take_slot(is_trial=is_trial)
        try:
            yield
        except BaseException:
            self._record_failure(is_trial=is_trial)
            raise
        else:
            self._record_success(is_trial=is_trial)
        finally:
            if slot is not None:
                self.cache.delete(slot)

    # -- admission -----------------------------------------------------------------------------------------
    def _admit(self) -> bool:
        """Return whether this call is the half-open breaker's trial; raise CallRefused while it is open."""
        open_until = self.cache.get(self._open_key)
        if open_until is None:
            return False
        now = self.clock()
        if now < open_until:
            raise CallRefused(retry_after=max(1, math.ceil(open_until - now)))
        # Half-open: the first caller to claim the trial goes through, the others are refused until it ends.
        if self.cache.add(self._trial_key, 1, timeout=math.ceil(self.call_seconds) + 1):
            return True
        raise CallRefused(retry_after=max(1, math.ceil(self.call_seconds)))

    def _take_slot(self, *, is_trial: bool) -> str | None:
        if not self._slot_keys:
            return None
        token = uuid.uuid4().hex
        for key in self._slot_keys:
            if self.cache.add(key, token, timeout=math.ceil(self.call_seconds) + 1):
                return key
        if is_trial:
            self.cache.delete(self._trial_key)
        raise CallRefused(retry_after=1)

    # -- outcomes ------------------------------------------------------------------------------------------
    def _record_success(self, *, is_trial: bool):
        # A success ends a run of failures: "consecutive" failures open the breaker, not a few spread out.
        keys = [self._failures_key, self._open_key, self._trial_key] if is_trial else [self._failures_key]
        self.cache.delete_many(keys)

    def _record_failure(self, *, is_trial: bool):
        if is_trial:
            self._open()
            return
        self.cache.add(self._failures_key, 0, timeout=math.ceil(self.window_seconds))
        try:
            failures = self.cache.incr(self._failures_key)
        except ValueError:  # the window ended between add and incr: this failure starts a new one
            self.cache.add(self._failures_key, 1, timeout=math.ceil(self.window_seconds))
            failures = 1
        if failures >= self.failure_threshold:
            self._open()

    def _open(self):
        self.cache.set(self._open_key, self.clock() + self.cooldown_seconds, timeout=OPEN_STATE_SECONDS)
        self.cache.delete_many([self._failures_key, self._trial_key])

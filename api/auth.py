"""Who is calling: the bearer key becomes a `Caller`; admin-only routes check it."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ServicesDep
from core.accounts import Caller, authenticate
from core.errors import PermissionDenied, TooManyRequests, Unauthorized

# auto_error=False: our own 401 in the one error envelope; the scheme still shows in /docs.
bearer = HTTPBearer(auto_error=False, description="A gptu API key (`gptu users key NAME`).")


class Throttle:
    """Counts wrong keys per client address; past the limit, that address's key checks wait.

    Every key from a blocked address is refused (429) until its oldest counted failure leaves
    the window, so guessing keys costs `window / limit` seconds per guess at best.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.failures: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def recent(self, address: str, now: float) -> deque[float]:
        """The address's failures still inside the window (older ones dropped)."""
        times = self.failures.setdefault(address, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[address]
        return times

    def check(self, address: str) -> None:
        """Raise 429 while the address has used up its failures."""
        if not self.limit:
            return
        now = time.monotonic()
        with self.lock:
            times = self.recent(address, now)
            if len(times) >= self.limit:
                wait = max(1, math.ceil(times[0] + self.window - now))
                raise TooManyRequests(
                    f"too many wrong API keys from your address; try again in {wait} s", wait
                )

    def failed(self, address: str) -> None:
        """Count one wrong key."""
        if self.limit:
            with self.lock:
                self.failures.setdefault(address, deque()).append(time.monotonic())


class SharedThrottle(Throttle):
    """A `Throttle` whose counts live in Redis, so every API replica sees the same failures.

    Each address's failures are a sorted set of times that expires with the window. When Redis
    does not answer, this process's own counts stand in (the in-memory `Throttle`).
    """

    def __init__(self, redis_url: str, limit: int, window: float) -> None:
        super().__init__(limit, window)
        import redis

        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def key(self, address: str) -> str:
        """The Redis key of an address's failures."""
        return f"gptu:wrong-keys:{address}"

    def check(self, address: str) -> None:
        """Raise 429 while the address has used up its failures, counted across replicas."""
        if not self.limit:
            return
        now = time.time()
        try:
            pipe = self.redis.pipeline()
            pipe.zremrangebyscore(self.key(address), "-inf", now - self.window)
            pipe.zcard(self.key(address))
            pipe.zrange(self.key(address), 0, 0, withscores=True)
            _, count, oldest = pipe.execute()
        except self.errors:
            super().check(address)
            return
        if count >= self.limit:
            wait = max(1, math.ceil(oldest[0][1] + self.window - now))
            raise TooManyRequests(
                f"too many wrong API keys from your address; try again in {wait} s", wait
            )

    def failed(self, address: str) -> None:
        """Count one wrong key, for every replica."""
        if not self.limit:
            return
        now = time.time()
        try:
            pipe = self.redis.pipeline()
            pipe.zadd(self.key(address), {f"{now}:{uuid.uuid4().hex}": now})
            pipe.expire(self.key(address), math.ceil(self.window) + 1)
            pipe.execute()
        except self.errors:
            super().failed(address)


def current_user(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller of this request, from `Authorization: Bearer <key>` (401 without a valid one,
    429 after too many wrong ones from the same address)."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    throttle: Throttle = request.app.state.throttle
    address = request.client.host if request.client else "unknown"
    throttle.check(address)
    try:
        with services.db.session() as session:  # its own short session: released at once
            return authenticate(session, credentials.credentials.strip())
    except Unauthorized:
        throttle.failed(address)
        raise


def admin_user(caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The caller, who must be an admin (403 otherwise)."""
    if not caller.admin:
        raise PermissionDenied("only an admin may do this")
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]
AdminUser = Annotated[Caller, Depends(admin_user)]

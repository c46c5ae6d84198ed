"""Who is calling: the bearer key becomes a `Caller`; admin-only routes check it."""

from __future__ import annotations

import math
import secrets
import threading
import time
import uuid
from collections import deque
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import ServicesDep
from core.accounts import Caller, authenticate
from core.errors import PermissionDenied, TooManyRequests, Unauthorized
from core.settings import Settings
from core.signin import Started, resolve_session

# auto_error=False: our own 401 in the one error envelope; the scheme still shows in /docs.
bearer = HTTPBearer(auto_error=False, description="A gptu API key (`gptu users key NAME`).")
COOKIE = "gptu_session"  # a signed-in page's session (HttpOnly, SameSite=Lax)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    """The caller of this request: from `Authorization: Bearer <key>` (programs; 429 after too
    many wrong ones from the same address), else from the session cookie of a signed-in page
    (which must also carry its CSRF token to change anything); 401 without either."""
    if credentials is not None and credentials.credentials.strip():
        throttle: Throttle = request.app.state.throttle
        address = client_address(request)
        throttle.check(address)
        try:
            with services.db.session() as session:  # its own short session: released at once
                return authenticate(session, credentials.credentials.strip())
        except Unauthorized:
            throttle.failed(address)
            raise
    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    with services.db.session() as session:
        signed = resolve_session(session, token, services.settings.session_idle_minutes)
    if request.method not in SAFE_METHODS:
        check_csrf(request, signed.csrf, services.settings.public_url)
    request.state.signed = signed
    return signed.caller


def client_address(request: Request) -> str:
    """The caller's address, as the throttles count it."""
    return request.client.host if request.client else "unknown"


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_origin(request: Request, public_url: str) -> None:
    """A sign-in sent by a browser must come from gptu's own pages (another site must not sign
    a visitor in to an account of its choosing); a program sends no Origin and passes."""
    sent_from = request.headers.get("origin")
    if sent_from and origin_of(sent_from) != origin_of(public_url or str(request.base_url)):
        raise PermissionDenied("refused: this sign-in did not come from gptu's own pages")


def check_csrf(request: Request, csrf: str, public_url: str) -> None:
    """A change made with the session cookie must come from our own pages: its Origin (or
    Referer) is this server's address (GPTU_PUBLIC_URL, else the request's own) and it carries
    the session's CSRF token in `X-CSRF-Token`; 403 otherwise."""
    sent_from = request.headers.get("origin") or request.headers.get("referer") or ""
    ours = origin_of(public_url or str(request.base_url))
    if not sent_from or origin_of(sent_from) != ours:
        raise PermissionDenied("refused: this change did not come from gptu's own pages")
    if not secrets.compare_digest(request.headers.get("x-csrf-token", ""), csrf):
        raise PermissionDenied("refused: the page's CSRF token is missing or stale; reload it")


def admin_user(caller: Annotated[Caller, Depends(current_user)]) -> Caller:
    """The caller, who must be an admin (403 otherwise)."""
    if not caller.admin:
        raise PermissionDenied("only an admin may do this")
    return caller


CurrentUser = Annotated[Caller, Depends(current_user)]
AdminUser = Annotated[Caller, Depends(admin_user)]


def base_url(request: Request, settings: Settings) -> str:
    """The address people open: GPTU_PUBLIC_URL, else this request's own."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


def set_cookie(response: Response, started: Started, request: Request, settings: Settings) -> None:
    """A new session's cookie: HttpOnly, SameSite=Lax, Secure behind https."""
    response.set_cookie(
        COOKIE, started.token, max_age=int(settings.session_max_hours * 3600), path="/",
        httponly=True, samesite="lax", secure=base_url(request, settings).startswith("https:"),
    )  # fmt: skip

"""Slows down guessing: a client whose logins or bearer tokens keep failing is refused for a while.

``FailureThrottle`` watches the answers of the guarded routes (the page's ``POST /login``, and every
``/api/`` and ``/covers/`` route, which answer 401 to a wrong token). After ``allowed`` failures in
``window`` seconds, a client (by its address) gets 429 with ``Retry-After`` on those routes for a
delay that doubles with each further failure (up to ``max_delay``). Failures are forgotten only as
they leave the window, never by a success (a guesser could otherwise clear them with any open route).
Behind a reverse proxy every reader shares the proxy's address: then put the throttle in the proxy.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

GUARDED_PREFIXES = ("/api/", "/covers/")
LOGIN_PATH = "/login"
FAILED_LOGIN = {400, 401}  # Gradio answers a wrong login with 400; the REST API a wrong token with 401
MAX_CLIENTS = 10_000  # past this many clients with failures on record, forget the stale ones


class FailureThrottle:
    def __init__(
        self,
        app: ASGIApp,
        allowed: int = 5,
        window: float = 60.0,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.allowed, self.window, self.base_delay, self.max_delay = allowed, window, base_delay, max_delay
        self.clock = clock
        self.failures: dict[str, deque[float]] = defaultdict(deque)
        self.blocked_until: dict[str, float] = {}

    def guarded(self, scope: Scope) -> bool:
        path = scope["path"]
        return path.startswith(GUARDED_PREFIXES) or (path == LOGIN_PATH and scope["method"] == "POST")

    def wait(self, client: str) -> float:
        """Seconds ``client`` must still wait (0 when it may try)."""
        return max(0.0, self.blocked_until.get(client, 0.0) - self.clock())

    def record_failure(self, client: str) -> None:
        now = self.clock()
        if len(self.failures) > MAX_CLIENTS:  # forget clients whose failures have all left the window
            for stale in [name for name, times in self.failures.items() if times[-1] < now - self.window]:
                del self.failures[stale]
                self.blocked_until.pop(stale, None)
        recent = self.failures[client]
        recent.append(now)
        while recent and recent[0] < now - self.window:
            recent.popleft()
        if len(recent) >= self.allowed:
            delay = min(self.base_delay * 2 ** (len(recent) - self.allowed), self.max_delay)
            self.blocked_until[client] = now + delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.guarded(scope):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        if (wait := self.wait(client)) > 0:
            detail = f"too many failed logins or tokens from your address: try again in {wait:.0f} s"
            response = JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": f"{wait:.0f}"})
            await response(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 401 or (scope["path"] == LOGIN_PATH and status in FAILED_LOGIN):
                    self.record_failure(client)
            await send(message)

        await self.app(scope, receive, watch)

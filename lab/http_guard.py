"""What every HTTP request to the lab passes before Gradio sees it.

- Host allow-list: a page on another site can make a browser send requests to 127.0.0.1 under
  its own name (DNS rebinding); with no login, the lab would then answer it. Only the names the
  server was started for are accepted: the loopback names, the --host value (for 0.0.0.0 or ::,
  this machine's names and addresses) and each --allowed-host.
- Login rate limit: after LOGIN_FAILURES wrong passwords from one address within
  LOGIN_WINDOW seconds, that address gets 429 for LOGIN_LOCKOUT seconds, even with the right
  password.
- Response headers: no MIME sniffing, no framing by other pages, no Referer to other sites.

Written as plain ASGI middleware (not BaseHTTPMiddleware) so Gradio's streamed event responses
pass through untouched; Gradio's launch() takes it through FastAPI's `middleware` argument.
"""
from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict, deque
from typing import Callable, Iterable

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
ANY_HOST = "*"
LOGIN_FAILURES = 5
LOGIN_WINDOW = 300.0
LOGIN_LOCKOUT = 60.0
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
)


def host_name(header: str) -> str:
    """The name part of a Host header: lowercase, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header[1:]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def machine_names() -> set[str]:
    """This machine's host names and interface addresses (what a client may call a 0.0.0.0 server)."""
    import psutil

    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%", 1)[0].lower())
    return names


def allowed_host_names(host: str, extra: Iterable[str] = ()) -> set[str] | None:
    """The Host names to accept for a server bound to `host`; None means any (an explicit '*')."""
    extra = [name.strip() for item in extra for name in str(item).split(",") if name.strip()]
    if ANY_HOST in extra:
        return None
    names = set(LOOPBACK_NAMES) | {host_name(name) for name in extra}
    if host.strip() in WILDCARD_HOSTS:
        names |= machine_names()
    else:
        names.add(host_name(host))
    return names


class LoginLimiter:
    """Failed logins per client address; thread-safe, with an injectable clock for tests."""

    def __init__(self, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW,
                 lockout: float = LOGIN_LOCKOUT, clock: Callable[[], float] = time.monotonic):
        self.failures, self.window, self.lockout, self.clock = failures, window, lockout, clock
        self._failed: dict[str, deque] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str) -> float:
        """Seconds this client must wait before it may try again (0: it may try now)."""
        with self._lock:
            return max(0.0, self._locked_until.get(client, 0.0) - self.clock())

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            recent = self._failed[client]
            recent.append(now)
            while recent and recent[0] < now - self.window:
                recent.popleft()
            if len(recent) >= self.failures:
                self._locked_until[client] = now + self.lockout
                recent.clear()

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failed.pop(client, None)


class RequestGuard:
    """ASGI middleware: Host allow-list, login rate limit, security headers (see the module doc)."""

    def __init__(self, app, allowed_hosts: set[str] | None = None, limiter: LoginLimiter | None = None):
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.limiter = limiter or LoginLimiter()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = host_name(_header(scope, b"host"))
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _plain(send, 400,
                                f"Host {host!r} is not one this lab server answers to; start it with "
                                "--allowed-host NAME to accept that name.\n")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        login = scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/login")
        client = (scope.get("client") or ("?", 0))[0]
        if login:
            wait = self.limiter.wait_seconds(client)
            if wait > 0:
                return await _plain(send, 429, f"Too many wrong passwords: try again in {wait:.0f} s.\n",
                                    [(b"retry-after", str(int(wait) + 1).encode())])
        status = 0

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [item for item in SECURITY_HEADERS if item[0] not in present]
                message = dict(message, headers=[*message.get("headers", []), *added])
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if login:
            if status == 200:
                self.limiter.succeeded(client)
            elif status in (400, 401, 403):
                self.limiter.failed(client)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def _plain(send, status: int, text: str, headers: list | None = None) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS,
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})

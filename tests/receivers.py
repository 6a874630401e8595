"""Real receivers on 127.0.0.1 for the alert tests: an HTTP endpoint and an SMTP server.

The HTTP receiver records every request (method, path, query, headers, body)
and answers what the test asks (status, body, a delay). The SMTP server is
aiosmtpd's, collecting each message as an ``email.message.EmailMessage``.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.proc import free_port


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    port: int
    requests: list[Request] = field(default_factory=list)
    status: int = 200
    answer: bytes = b'{"errcode": 0, "errmsg": "ok"}'
    delay: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, count: int = 1, timeout: float = 10) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.requests) >= count, f"expected {count} request(s), got {len(self.requests)}"
        return self.requests


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver: HttpReceiver

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            receiver.requests.append(
                Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
            )
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HttpReceiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def wait_for(self, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.messages) >= count, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    from aiosmtpd.controller import Controller

    receiver = SmtpReceiver(0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            receiver.messages.append(message)  # type: ignore[arg-type]
            return "250 OK"

    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            receiver.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    receiver.port = free_port()
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=receiver.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()

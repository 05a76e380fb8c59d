"""A real webhook receiver on 127.0.0.1 for the tests and the benchmark.

It verifies every request with `standardwebhooks.Webhook(secret).verify`, as a receiver should,
and records what arrived by `webhook-id`, so a test can count deliveries and duplicates. How it
answers depends on the path: /ok 200, /fail 500, /gone 410, /hang (no answer until stopped),
/big (200 with 10 MB), /random (fails `fail_rate`, hangs `hang_rate` of requests, else 200).
"""

from __future__ import annotations

import http.server
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Arrival:
    webhook_id: str
    path: str
    payload: dict | None
    verified: bool
    answered: int | None  # None: hung up without an answer


@dataclass
class Record:
    secret: str = ""
    fail_rate: float = 0.3
    hang_rate: float = 0.05
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=lambda: random.Random(1234))

    def add(self, arrival: Arrival) -> None:
        with self.lock:
            self.arrivals.append(arrival)

    def delivered_ids(self) -> Counter:
        """How many 2xx answers each webhook-id got (what the receiver accepted)."""
        with self.lock:
            return Counter(
                a.webhook_id for a in self.arrivals if a.answered and 200 <= a.answered < 300
            )

    def ids(self) -> Counter:
        with self.lock:
            return Counter(a.webhook_id for a in self.arrivals)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        record: Record = self.server.record
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        payload, verified = None, False
        try:
            payload = Webhook(record.secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, ValueError):
            pass
        path = self.path.split("?", 1)[0]
        if path == "/random":
            with record.lock:
                draw = record.rng.random()
            path = (
                "/hang"
                if draw < record.hang_rate
                else "/fail"
                if draw < record.hang_rate + record.fail_rate
                else "/ok"
            )
        status = {"/ok": 200, "/fail": 500, "/gone": 410, "/big": 200}.get(path, 404)
        if not verified and path != "/hang":
            status = 401
        if path == "/hang":
            record.add(Arrival(headers.get("webhook-id", ""), path, payload, verified, None))
            record.release.wait(60)
            return
        record.add(Arrival(headers.get("webhook-id", ""), path, payload, verified, status))
        if path == "/big" and status == 200:
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(b"y" * 65536)
            except OSError:
                pass
            return
        self._answer(status, b"broken" if status == 500 else b"thanks")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many senders at once: the default backlog of 5 drops SYNs

    def handle_error(self, request, client_address):
        pass  # a sender that hung up (timed out, or its worker was killed) is expected here


class Receiver:
    def __init__(self, secret: str = "", *, fail_rate: float = 0.3, hang_rate: float = 0.05):
        self.record = Record(secret=secret, fail_rate=fail_rate, hang_rate=hang_rate)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.record = self.record
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.record.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

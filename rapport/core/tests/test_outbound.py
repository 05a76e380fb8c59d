"""The guarded outbound client against a real HTTP server on 127.0.0.1 that this test starts.

The address checks are exercised for real: 127.0.0.1 and the names that resolve there are
refused before any connection (the server counts what reached it). Only the tests that need a
name resolving somewhere particular (DNS rebinding, TLS for a name) replace getaddrinfo.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from rapport.core import outbound
from rapport.core.outbound import OutboundFailed, OutboundRefused, Timeouts

FAST = Timeouts(connect=2, read=0.5, total=3)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.server.seen.append(
            {
                "method": self.command,
                "path": parts.path,
                "headers": dict(self.headers),
                "body": body,
            }
        )
        query = parse_qs(parts.query)
        if parts.path == "/ok":
            self._answer(200, b"fine")
        elif parts.path == "/fail":
            self._answer(500, b"broken")
        elif parts.path == "/hang":
            self.server.release.wait(10)
        elif parts.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            sent = 0
            try:
                while sent < 10 * 1024 * 1024:
                    self.wfile.write(b"x" * 65536)
                    sent += 65536
            except OSError:
                pass
            self.server.big_sent.append(sent)
        elif parts.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    if self.server.release.wait(0.2):
                        break
            except OSError:
                pass
        elif parts.path == "/redirect":
            code = int(query.get("code", ["302"])[0])
            self._answer(code, headers={"Location": query["to"][0]})
        elif parts.path == "/loop":
            self._answer(302, headers={"Location": "/loop"})
        else:
            self._answer(404, b"no such path")

    do_GET = do_POST = _handle


class Server:
    def __init__(self, tls_context: ssl.SSLContext | None = None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.seen = []
        self.httpd.big_sent = []
        self.httpd.release = threading.Event()
        if tls_context is not None:
            self.httpd.socket = tls_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.httpd.seen

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self):
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.stop()


@pytest.fixture
def second_server():
    running = Server()
    yield running
    running.stop()


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address"),
        ("192.168.1.20", "192.168.1.20 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("[::1]", "::1 is a loopback address"),
        ("[fd00::1]", "fd00::1 is a private address"),
        ("[fe80::1]", "fe80::1 is a link-local address"),
        ("[::ffff:127.0.0.1]", "IPv6 form of 127.0.0.1, a loopback address"),
        ("[::ffff:169.254.169.254]", "IPv6 form of 169.254.169.254, a link-local address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),  # noqa: S104 (refused, not bound)
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("localhost", "localhost resolves to"),
        ("2130706433", "2130706433 resolves to 127.0.0.1, which is a loopback address"),
    ],
)
def test_private_addresses_are_refused_before_any_connection(server, host, words):
    with pytest.raises(OutboundRefused) as refused:
        outbound.send("POST", f"http://{host}:{server.port}/ok", body=b"{}", timeouts=FAST)
    assert words in refused.value.reason
    assert "Rapport does not call private networks" in refused.value.reason
    assert server.seen == []


def test_the_metadata_address_is_named_in_words():
    with pytest.raises(OutboundRefused) as refused:
        outbound.check_url("http://169.254.169.254/latest/meta-data/")
    assert refused.value.reason == (
        "169.254.169.254 is a link-local address: Rapport does not call private networks"
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/file", "Only http and https URLs are called, not ftp."),
        ("file:///etc/passwd", "Only http and https URLs are called, not file."),
        ("gopher://example.com/", "not gopher"),
        ("example.com/hook", "not a URL without a scheme"),
        ("http:///nohost", "The URL has no host name."),
        ("http://example.com:99999/", "The URL is not valid"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("", "The URL is empty."),
    ],
)
def test_bad_urls_are_refused_in_words(url, words):
    with pytest.raises(OutboundRefused) as refused:
        outbound.check_url(url)
    assert words in refused.value.reason


def test_a_name_that_does_not_resolve_fails_in_words():
    with pytest.raises(OutboundFailed) as failed:
        outbound.check_url("http://no-such-host.invalid/")
    assert "no-such-host.invalid does not resolve" in failed.value.reason


def test_allow_private_lifts_the_address_check_but_not_the_scheme_check(server):
    with pytest.raises(OutboundRefused):
        outbound.send("GET", f"ftp://127.0.0.1:{server.port}/", allow_private=True)
    response = outbound.send("GET", server.url("/ok"), timeouts=FAST, allow_private=True)
    assert response.status == 200
    assert response.body == b"fine"


# --- answers ----------------------------------------------------------------------------------


def test_a_post_arrives_with_its_body_headers_and_the_real_host_name(server):
    response = outbound.send(
        "POST",
        server.url("/ok", host="localhost"),
        headers={"Content-Type": "application/json", "X-Test": "1"},
        body=b'{"a":1}',
        timeouts=FAST,
        allow_private=True,
    )
    assert response.ok
    (request,) = server.seen
    assert request["method"] == "POST"
    assert request["body"] == b'{"a":1}'
    assert request["headers"]["Host"] == f"localhost:{server.port}"
    assert request["headers"]["X-Test"] == "1"
    assert request["headers"]["User-Agent"] == outbound.USER_AGENT
    # No compressed answers: a small gzip body could inflate past the cap.
    assert request["headers"]["Accept-Encoding"] == "identity"


def test_a_500_is_an_answer_not_an_error(server):
    response = outbound.send(
        "POST", server.url("/fail"), body=b"", timeouts=FAST, allow_private=True
    )
    assert response.status == 500
    assert not response.ok
    assert response.body == b"broken"


def test_a_hanging_receiver_hits_the_read_timeout(server):
    started = time.monotonic()
    with pytest.raises(OutboundFailed) as failed:
        outbound.send("POST", server.url("/hang"), body=b"{}", timeouts=FAST, allow_private=True)
    assert "did not answer within 0.5 s" in failed.value.reason
    assert time.monotonic() - started < 2


def test_a_dripping_receiver_hits_the_total_deadline(server):
    # Each byte arrives well within the read timeout; only the total deadline stops it.
    started = time.monotonic()
    with pytest.raises(OutboundFailed) as failed:
        outbound.send(
            "GET",
            server.url("/drip"),
            timeouts=Timeouts(connect=1, read=1, total=1.5),
            allow_private=True,
        )
    assert "No complete answer within 1.5 s" in failed.value.reason
    assert time.monotonic() - started < 3


def test_a_10_mb_answer_is_capped_and_not_read_further(server):
    started = time.monotonic()
    response = outbound.send(
        "GET", server.url("/big"), timeouts=FAST, max_bytes=256 * 1024, allow_private=True
    )
    assert response.status == 200
    assert response.truncated
    assert len(response.body) == 256 * 1024
    assert time.monotonic() - started < 3
    # The server could not push the 10 MB: the connection was closed after the cap.
    deadline = time.monotonic() + 3
    while not server.httpd.big_sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.httpd.big_sent and server.httpd.big_sent[0] < 10 * 1024 * 1024


# --- redirects --------------------------------------------------------------------------------


def test_a_redirect_to_a_private_address_is_refused(server, second_server):
    # The first hop is allowed (the test's own server); where it redirects is checked again.
    target = second_server.url("/ok")
    with pytest.raises(OutboundRefused) as refused:
        outbound.send(
            "POST",
            server.url(f"/redirect?code=307&to={target}"),
            body=b"{}",
            timeouts=FAST,
            allow_private=True,
            allow_private_redirects=False,
        )
    assert refused.value.reason.startswith(f"Redirected to {target}: ")
    assert "127.0.0.1 is a loopback address" in refused.value.reason
    assert second_server.seen == []


def test_a_redirect_to_the_metadata_address_is_refused(server):
    with pytest.raises(OutboundRefused) as refused:
        outbound.send(
            "GET",
            server.url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
            timeouts=FAST,
            allow_private=True,
            allow_private_redirects=False,
        )
    assert "169.254.169.254 is a link-local address" in refused.value.reason


def test_redirects_are_followed_after_the_check_at_most_three_times(server, second_server):
    target = second_server.url("/ok")
    response = outbound.send(
        "POST",
        server.url(f"/redirect?code=303&to={target}"),
        body=b"{}",
        timeouts=FAST,
        allow_private=True,
    )
    assert response.status == 200
    assert response.redirects == (target,)
    assert second_server.seen[0]["method"] == "GET"  # 303: see other, without the body

    with pytest.raises(OutboundFailed) as failed:
        outbound.send("GET", server.url("/loop"), timeouts=FAST, allow_private=True)
    assert "More than 3 redirects" in failed.value.reason
    # The 303 above, then /loop and the 3 redirects followed; the 4th is not.
    assert len(server.seen) == 1 + 1 + 3


# --- pinning and TLS --------------------------------------------------------------------------


def fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """getaddrinfo answering `answers[name]` in turn (the last one repeats); other names go to
    the real resolver. Returns the list of names asked."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            asked.append(host)
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(monkeypatch, server):
    # A rebinding name: first 127.0.0.1 (allowed here), then an address nothing listens on.
    asked = fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1", "10.255.255.1"]})
    response = outbound.send(
        "GET", server.url("/ok", host="rebind.example"), timeouts=FAST, allow_private=True
    )
    assert response.status == 200
    assert asked == ["rebind.example"]
    assert server.seen[0]["headers"]["Host"] == f"rebind.example:{server.port}"


def test_a_rebinding_name_is_refused_on_the_address_it_resolves_to(monkeypatch, server):
    fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1"]})
    with pytest.raises(OutboundRefused) as refused:
        outbound.send("GET", server.url("/ok", host="rebind.example"), timeouts=FAST)
    assert "rebind.example resolves to 127.0.0.1, which is a loopback address" in (
        refused.value.reason
    )
    assert server.seen == []


def self_signed_context(name: str) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as pem:
        pem.write(certificate.public_bytes(serialization.Encoding.PEM))
        pem.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem.name)
    return context


def test_tls_is_verified_for_the_real_name(monkeypatch):
    tls_server = Server(tls_context=self_signed_context("hooks.example"))
    try:
        fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})
        with pytest.raises(OutboundFailed) as failed:
            outbound.send(
                "GET",
                f"https://hooks.example:{tls_server.port}/ok",
                timeouts=FAST,
                allow_private=True,
            )
        assert "TLS certificate of hooks.example could not be verified" in failed.value.reason
        assert tls_server.seen == []
    finally:
        tls_server.stop()


def test_a_closed_port_fails_in_words():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(OutboundFailed) as failed:
        outbound.send("GET", f"http://127.0.0.1:{port}/", timeouts=FAST, allow_private=True)
    assert failed.value.reason.startswith("Could not connect to 127.0.0.1")

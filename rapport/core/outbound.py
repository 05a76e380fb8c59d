"""The one way Rapport calls out over HTTP: guarded against being turned on its own network.

Every outbound request (webhooks today, anything later) goes through `send`. It guarantees:

- only `http` and `https` URLs;
- the host is resolved ONCE, every address it resolves to is checked, and the connection is
  made to a checked address itself — not to the name again — so a DNS answer that changes
  between the check and the connect (DNS rebinding) cannot reach a refused address;
- refused: loopback, private (RFC 1918, fc00::/7, 100.64/10), link-local (169.254/16 with
  the cloud metadata address 169.254.169.254, fe80::/10), unspecified, multicast, reserved
  and anything else that is not globally routable, also when written as an IPv4-mapped,
  NAT64 or 6to4 IPv6 address;
- redirects are not followed blindly: each `Location` is checked like the first URL (at most
  `max_redirects`, 3 by default);
- a connect timeout (5 s), a read timeout (10 s) per wait, and a total deadline (30 s) that a
  watchdog enforces even against a server that drips one byte at a time;
- the response body is kept up to `max_bytes` (256 KB); at most `max_bytes + 1` bytes are read,
  the rest is never read and the connection is closed;
- TLS is verified against the real host name (SNI and certificate check use the name while
  the TCP connection goes to the pinned IP), and the Host header is the real name too.

Why `http.client` and not `requests`: `requests` (urllib3) resolves the name itself when it
connects, so pinning the checked IP needs a transport adapter that rewrites the URL to the IP
and then patches SNI, hostname checking and the pool key back to the name — three places to
get wrong. `http.client` lets one small connection class open the socket to the IP and wrap it
with `server_hostname=<name>`, which is all the pinning there is. We do not need pooling.

Errors are in words: `OutboundRefused` (the policy says no: the URL or an address) and
`OutboundFailed` (it was allowed but did not work: DNS, connect, TLS, timeout, bad redirect).

Tests only: `allow_private=True` lifts the address check (not the scheme check) so a test can
deliver to the HTTP server it started on 127.0.0.1. No setting reads it here; a caller passes
it explicitly — the webhook code passes it only when `settings.RAPPORT_WEBHOOKS_ALLOW_PRIVATE`
is true, which only the tests set. `allow_private_redirects` (default: same as allow_private)
lets a test allow its own first hop while still checking where a redirect leads.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from urllib.parse import unquote, urljoin, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TOTAL_DEADLINE = 30.0
MAX_BYTES = 256 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "Rapport-Webhooks/1"
REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class OutboundRefused(Exception):
    """The call was not made: the URL or the address it leads to is not one Rapport calls."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class OutboundFailed(Exception):
    """The call was allowed but did not complete (name, connection, TLS, timeout, redirect)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Timeouts:
    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT
    total: float = TOTAL_DEADLINE


@dataclasses.dataclass(frozen=True)
class OutboundResponse:
    """What came back. `body` holds at most the cap; `truncated` says more was sent."""

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    url: str  # the URL that answered (after redirects)
    redirects: tuple[str, ...]
    elapsed: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclasses.dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the pinned addresses) and what to call it."""

    scheme: str
    host: str  # the name as written (no brackets for IPv6)
    port: int
    path: str  # path and query
    addresses: tuple[Address, ...]
    authorization: str | None  # Basic credentials written into the URL, if any

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


# --- the address policy --------------------------------------------------------------------


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which is what it reaches."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def _kind(address: Address) -> str | None:
    """The kind of address Rapport does not call ("a loopback"), None for a public one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind = _kind(embedded)
        return f"an IPv6 form of {embedded}, {kind}" if kind else None
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local"
    if address.is_unspecified:
        return "an unspecified"
    if address.is_multicast:
        return "a multicast"
    if address.is_reserved:
        return "a reserved"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        return "a private"
    if not address.is_global:
        return "a non-public"
    return None


def address_problem(address: Address, *, name: str | None = None) -> str | None:
    """Why Rapport does not call `address` (None when it may), in words; `name` is the host
    name that resolved to it, if any."""
    kind = _kind(address)
    if kind is None:
        return None
    subject = f"{name} resolves to {address}, which" if name else str(address)
    return f"{subject} is {kind} address: Rapport does not call private networks"


def _split(url: str) -> tuple[str, str, int, str, str | None]:
    if not isinstance(url, str) or not url.strip():
        raise OutboundRefused("The URL is empty.")
    if any(ord(character) < 33 for character in url.strip()):
        raise OutboundRefused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"The URL is not valid ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused(
            f"Only http and https URLs are called, not {scheme or 'a URL without a scheme'}."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("The URL has no host name.")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError:
        raise OutboundRefused(f"{host} is not a valid host name.") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return scheme, host, port or (443 if scheme == "https" else 80), path, authorization


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> tuple[Address, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundFailed(f"The name {host} does not resolve ({exc}).") from None
    addresses: list[Address] = []
    for _family, _type, _proto, _canonical, sockaddr in infos:
        # A scope id ("fe80::1%eth0") is dropped: the address alone decides.
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundFailed(f"The name {host} does not resolve to any address.")
    return tuple(addresses)


def check_url(url: str, *, allow_private: bool = False) -> Target:
    """The checked target of `url`: its scheme and every address its host resolves to must be
    allowed, or `OutboundRefused` says why (`OutboundFailed` when the name does not resolve).
    Also what a form calls at save time, so a refused URL is never stored."""
    scheme, host, port, path, authorization = _split(url)
    addresses = _resolve(host, port)
    if not allow_private:
        for address in addresses:
            problem = address_problem(address, name=None if _is_ip(host) else host)
            if problem is not None:
                raise OutboundRefused(problem)
    return Target(scheme, host, port, path, addresses, authorization)


# --- the connection --------------------------------------------------------------------------


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one checked IP that speaks to the server by its real name.

    `host` is the IP (what the socket connects to); TLS is wrapped with `server_hostname` set
    to the name, so SNI is sent and the certificate is verified for the name.
    """

    def __init__(self, address: Address, port: int, *, target: Target, timeout: float):
        super().__init__(str(address), port, timeout=timeout)
        self._target = target

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._target.scheme == "https":
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(self.sock, server_hostname=self._target.host)


class _Clock:
    """The total deadline: what is left of it, and a watchdog that cuts the socket at the end
    (a per-read timeout alone lets a server dripping a byte every 9 s hold a worker forever)."""

    def __init__(self, total: float):
        self.started = time.monotonic()
        self.deadline = self.started + total
        self.total = total
        self.expired = False
        self._timer: threading.Timer | None = None

    def left(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise OutboundFailed(f"No complete answer within {self.total:g} s.")
        return remaining

    def guard(self, connection: http.client.HTTPConnection) -> None:
        def cut():
            self.expired = True
            sock = connection.sock
            if sock is not None:
                # The plain socket's shutdown: it wakes the reading thread without racing
                # the TLS layer's own state.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        self.cancel()
        self._timer = threading.Timer(max(self.deadline - time.monotonic(), 0), cut)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _open(target: Target, timeouts: Timeouts, clock: _Clock) -> _PinnedConnection:
    """A connection to the first checked address that answers."""
    failures = []
    for address in target.addresses:
        connection = _PinnedConnection(
            address, target.port, target=target, timeout=min(timeouts.connect, clock.left())
        )
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise OutboundFailed(
                f"The TLS certificate of {target.host} could not be verified "
                f"({exc.verify_message or exc.reason})."
            ) from None
        except ssl.SSLError as exc:
            connection.close()
            raise OutboundFailed(f"TLS with {target.host} failed ({exc.reason}).") from None
        except TimeoutError:
            connection.close()
            failures.append(f"{address}: no answer within {timeouts.connect:g} s")
        except OSError as exc:
            connection.close()
            failures.append(f"{address}: {exc.strerror or exc}")
        else:
            return connection
    raise OutboundFailed(f"Could not connect to {target.host} ({'; '.join(failures)}).")


def _exchange(
    target: Target,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeouts: Timeouts,
    max_bytes: int,
    clock: _Clock,
) -> tuple[int, dict[str, str], bytes, bool]:
    connection = _open(target, timeouts, clock)
    clock.guard(connection)
    try:
        connection.sock.settimeout(min(timeouts.read, clock.left()))
        connection.putrequest(method, target.path, skip_host=True)
        connection.putheader("Host", target.host_header)
        sent = {name.lower() for name in headers}
        if "user-agent" not in sent:
            connection.putheader("User-Agent", USER_AGENT)
        if target.authorization and "authorization" not in sent:
            connection.putheader("Authorization", target.authorization)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        connection.sock.settimeout(min(timeouts.read, clock.left()))
        response = connection.getresponse()
        received = bytearray()
        truncated = False
        while True:
            connection.sock.settimeout(min(timeouts.read, clock.left()))
            chunk = response.read(min(_CHUNK, max_bytes + 1 - len(received)))
            if not chunk:
                break
            received += chunk
            if len(received) > max_bytes:
                truncated = True
                break
        status = response.status
        response_headers = {name.lower(): value for name, value in response.getheaders()}
        return status, response_headers, bytes(received[:max_bytes]), truncated
    except OutboundFailed:
        raise
    except TimeoutError:
        raise OutboundFailed(
            f"{target.host} did not answer within {timeouts.read:g} s (read timeout)."
        ) from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if clock.expired:
            raise OutboundFailed(f"No complete answer within {clock.total:g} s.") from None
        raise OutboundFailed(
            f"The connection to {target.host} broke ({type(exc).__name__}: {exc})."
        ) from None
    finally:
        clock.cancel()
        connection.close()


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeouts: Timeouts = Timeouts(),
    max_bytes: int = MAX_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    allow_private: bool = False,
    allow_private_redirects: bool | None = None,
) -> OutboundResponse:
    """Make one guarded HTTP request (see the module docstring for what is guaranteed).

    Any status is returned (a 500 is an answer, not an error); only a refused or failed call
    raises. A redirect is followed only after its target passed the same check; 303, and 301/302
    after a POST, continue as GET without the body (as browsers do), 307/308 repeat the method.
    Credentials never follow a redirect to another host.
    """
    if allow_private_redirects is None:
        allow_private_redirects = allow_private
    method = method.upper()
    headers = dict(headers or {})
    clock = _Clock(timeouts.total)
    redirects: list[str] = []
    current = url
    target = check_url(current, allow_private=allow_private)
    while True:
        clock.left()
        status, response_headers, received, truncated = _exchange(
            target, method, headers, body, timeouts, max_bytes, clock
        )
        location = response_headers.get("location")
        if status not in REDIRECTS or not location:
            return OutboundResponse(
                status=status,
                headers=response_headers,
                body=received,
                truncated=truncated,
                url=current,
                redirects=tuple(redirects),
                elapsed=time.monotonic() - clock.started,
            )
        if len(redirects) >= max_redirects:
            raise OutboundFailed(f"More than {max_redirects} redirects (the last to {location}).")
        following = urljoin(current, location)
        try:
            next_target = check_url(following, allow_private=allow_private_redirects)
        except OutboundRefused as refused:
            raise OutboundRefused(f"Redirected to {following}: {refused.reason}") from None
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
        if next_target.host != target.host:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization",)}
        redirects.append(following)
        current, target = following, next_target

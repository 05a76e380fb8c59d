"""The client's address as far as it can be trusted, behind the proxies named in the settings."""

import functools
import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def parse_trusted_proxies(value: str) -> tuple[str, ...]:
    """`RAPPORT_TRUSTED_PROXIES` as a tuple of networks; an entry that is no IP or CIDR is an
    error at start-up rather than a proxy silently not trusted."""
    proxies = tuple(item.strip() for item in value.split(",") if item.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"RAPPORT_TRUSTED_PROXIES: {proxy!r} is not an IP address or network "
                "(use e.g. 10.0.0.5 or 10.0.0.0/8, comma-separated)."
            ) from None
    return proxies


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _is_trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(request) -> str | None:
    """The address the request came from: REMOTE_ADDR, unless that is a trusted proxy, in which
    case the right-most X-Forwarded-For entry that is not a trusted proxy itself.

    Entries left of the first untrusted one were written by the client and prove nothing, so they
    are never used; without trusted proxies the header is ignored altogether.
    """
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    networks = _networks(tuple(getattr(settings, "RAPPORT_TRUSTED_PROXIES", ())))
    if not networks or not _is_trusted(remote, networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hop = remote
    for entry in reversed(forwarded.split(",")):
        address = _address(entry)
        if address is None:
            # A trusted proxy would not append garbage: stop at the last hop we can vouch for.
            break
        hop = address
        if not _is_trusted(address, networks):
            break
    return str(hop)

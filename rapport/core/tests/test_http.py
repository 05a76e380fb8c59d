"""The client address behind trusted proxies (RAPPORT_TRUSTED_PROXIES)."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from rapport.core.http import client_address, parse_trusted_proxies


def request(remote="203.0.113.9", forwarded=None):
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ()

    assert client_address(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_a_request_not_from_a_trusted_proxy_keeps_its_own_address(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ("10.0.0.5",)

    # Anyone can send the header; it counts only when a trusted proxy wrote it.
    assert client_address(request("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_the_right_most_untrusted_address_is_the_client(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ("10.0.0.0/8",)

    # The client itself wrote "1.2.3.4" to pose as someone else; the balancer appended its view.
    forwarded = "1.2.3.4, 198.51.100.7, 10.1.1.1"

    assert client_address(request("10.0.0.5", forwarded)) == "198.51.100.7"


def test_when_every_hop_is_trusted_the_left_most_is_taken(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ("10.0.0.0/8",)

    assert client_address(request("10.0.0.5", "10.9.9.9, 10.1.1.1")) == "10.9.9.9"


def test_a_malformed_entry_stops_at_the_last_hop_vouched_for(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ("10.0.0.0/8",)

    assert client_address(request("10.0.0.5", "198.51.100.7, not-an-ip")) == "10.0.0.5"
    assert client_address(request("10.0.0.5", "")) == "10.0.0.5"


def test_ipv6_proxies_and_clients(settings):
    settings.RAPPORT_TRUSTED_PROXIES = ("fd00::/8",)

    assert client_address(request("fd00::1", "2001:db8::7")) == "2001:db8::7"


def test_no_remote_address_is_none(settings):
    assert client_address(request("")) is None


def test_the_setting_is_parsed_and_checked():
    assert parse_trusted_proxies(" 10.0.0.5, 172.16.0.0/12 ,,") == ("10.0.0.5", "172.16.0.0/12")
    with pytest.raises(ImproperlyConfigured, match=r"RAPPORT_TRUSTED_PROXIES: 'lb\.internal'"):
        parse_trusted_proxies("10.0.0.5,lb.internal")

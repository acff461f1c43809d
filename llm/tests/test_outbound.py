"""The outbound policy on its own: which addresses are public, how the operator's allowance reads, and that the HTTP
client checks the address it connects to (not the one a name resolved to earlier). The HTTP-level attacks are in
tests/security/test_outbound.py."""

import ipaddress
import socket

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from llm.outbound import OutboundRefused, address_is_public, base_url_check, destination_addresses, outbound_client


@pytest.fixture(autouse=True)
def default_policy(settings):
    settings.OUTBOUND_HOSTS = ["*"]
    settings.OUTBOUND_PRIVATE_ALLOWED = []


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2606:4700::1", True),
        ("::ffff:8.8.8.8", True),
        ("2002:808:808::", True),
        ("64:ff9b::808:808", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff0e::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),
        ("64:ff9b::7f00:1", False),
        ("::7f00:1", False),
        ("::808:808", False),
        ("2001:db8::1", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ],
)
def test_which_addresses_are_public(address, public):
    assert address_is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("allowed,host,port,allowed_now", [
    (["127.0.0.1:8000"], "127.0.0.1", 8000, True),
    (["127.0.0.1:8000"], "127.0.0.1", 8001, False),
    (["127.0.0.1"], "127.0.0.1", 8001, True),
    (["127.0.0.0/8"], "127.9.9.9", 5432, True),
    (["10.0.0.0/8"], "127.0.0.1", 80, False),
    (["[::1]:8000"], "::1", 8000, True),
    (["::1"], "::1", 9, True),
    (["127.0.0.1:8000"], "::ffff:127.0.0.1", 8000, True),  # the same address, spelt as IPv6
    (["localhost:8000"], "localhost", 8000, True),  # by name: whatever it resolves to
    (["localhost:8000"], "127.0.0.1", 8000, False),
    (["127.0.0.1:8000", "[::1]:8000"], "localhost", 8000, True),  # by address: a name that resolves there
])
def test_the_operator_allowance(allowed, host, port, allowed_now, settings):
    settings.OUTBOUND_PRIVATE_ALLOWED = allowed
    if allowed_now:
        assert all(not address_is_public(address) for address in destination_addresses(host, port))
    else:
        with pytest.raises(OutboundRefused):
            destination_addresses(host, port)


def test_host_patterns_limit_names_but_not_what_the_operator_listed(settings):
    settings.OUTBOUND_HOSTS = ["api.openai.com", "*.example.org"]
    settings.OUTBOUND_PRIVATE_ALLOWED = ["127.0.0.1:8000"]
    base_url_check("http://127.0.0.1:8000/v1")
    base_url_check("https://models.example.org/v1")  # does not resolve here: let through until it is used
    with pytest.raises(OutboundRefused) as caught:
        base_url_check("https://example.org/v1")
    assert caught.value.message == (
        "the outbound policy refuses example.org: model endpoints may reach only api.openai.com, "
        "*.example.org (WHETSTONE_OUTBOUND_HOSTS)"
    )


@pytest.mark.parametrize(
    "url", ["http://[::1/v1", "http://host:99999/v1", "http://host:0/v1", "http://:80/v1", "file:///etc/passwd"]
)
def test_a_base_url_that_does_not_parse_is_refused_at_base_url(url):
    from common.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        base_url_check(url)
    assert caught.value.where == "base_url"


@pytest.mark.parametrize("entry", ["127.0.0.1:0", "127.0.0.1:http", "[::1", "10.0.0.0/33", "bad host:1", "h:70000"])
def test_a_malformed_allowance_fails_the_system_check(entry, settings):
    settings.OUTBOUND_PRIVATE_ALLOWED = [entry]
    with pytest.raises(SystemCheckError, match="llm.E001"):
        call_command("check")


@pytest.fixture
def resolver(monkeypatch):
    """Answers for the name "rebind.test", one per lookup, as a DNS server that rebinds would give them."""
    real = socket.getaddrinfo
    answers, asked = [], []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers.pop(0), port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


def test_the_client_checks_the_answer_it_gets_when_it_connects(resolver, make_listener):
    """DNS rebinding: the name resolves to a public address when the endpoint is saved, to 127.0.0.1 when it is used."""
    listener = make_listener()
    answers, asked = resolver
    answers.extend(["93.184.216.34", "127.0.0.1"])
    base_url_check(f"http://rebind.test:{listener.port}/v1")  # public now: saved
    with outbound_client(timeout=5) as http, pytest.raises(OutboundRefused):
        http.get(f"http://rebind.test:{listener.port}/v1/models")
    assert (asked, listener.requests) == (["rebind.test", "rebind.test"], [])


def test_the_client_connects_to_the_address_it_checked(resolver, make_listener, settings):
    """One lookup per connection: the socket goes to the checked address, so a second answer (10.0.0.1 here) is never
    asked for."""
    listener = make_listener()
    settings.OUTBOUND_PRIVATE_ALLOWED = [listener.address]
    answers, asked = resolver
    answers.extend(["127.0.0.1", "10.0.0.1"])
    with outbound_client(timeout=5) as http:
        assert http.get(f"http://rebind.test:{listener.port}/v1/models").status_code == 200
    assert (asked, len(listener.requests), answers) == (["rebind.test"], 1, ["10.0.0.1"])


def test_the_client_connects_to_an_allowed_address_and_does_not_follow_redirects(make_listener, settings):
    target = make_listener()
    source = make_listener(answer=lambda method, path: (302, {"Location": f"{target.url}/v1/models"}, b""))
    settings.OUTBOUND_PRIVATE_ALLOWED = [source.address, target.address]  # even an allowed target is not followed
    with outbound_client(timeout=5) as http:
        response = http.get(f"{source.url}/v1/models")
    assert (response.status_code, len(source.requests), target.requests) == (302, 1, [])


def test_the_client_ignores_proxy_variables(make_listener, monkeypatch, settings):
    listener = make_listener()
    proxy = make_listener()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    settings.OUTBOUND_PRIVATE_ALLOWED = [listener.address]
    with outbound_client(timeout=5) as http:
        assert http.get(f"{listener.url}/v1/models").status_code == 200
    assert (len(listener.requests), proxy.requests) == (1, [])


def test_a_name_that_does_not_resolve_cannot_connect():
    with outbound_client(timeout=5) as http, pytest.raises(httpx.ConnectError):
        http.get("http://no-such-host.invalid/v1/models")

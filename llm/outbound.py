"""The outbound policy: where the server may send a request whose address a user chose (a model endpoint's base URL).

An ML engineer types the URL, so without a rule the server would be their way into its own network: the cloud
metadata service, the database port, an admin page on localhost. The rule, for a destination host:port:

1. A destination the operator listed in OUTBOUND_PRIVATE_ALLOWED is allowed: by host name (the operator trusts what it
   resolves to), by address, or by CIDR range, each with or without a port.
2. Any other host must match one of OUTBOUND_HOSTS (host patterns, "*" by default), and every address it resolves to
   must be public or listed in OUTBOUND_PRIVATE_ALLOWED. Not public: loopback, private, link-local, shared (100.64/10),
   multicast, reserved, unspecified, documentation ranges; an IPv4 address carried inside IPv6 (mapped, 6to4, NAT64,
   Teredo) is judged as that IPv4 address, and the deprecated IPv4-compatible range ::/96 is never public.

Where it holds: `base_url_check` when an endpoint is saved (a refusal is a 400 at base_url), and `outbound_client`
on every call, always: its transport resolves the name itself, checks every address, then connects to an address it
checked, so a DNS answer that changes between the check and the connection (rebinding) gains nothing. The client never
follows redirects and ignores proxy variables (a proxy would connect, on our behalf, to an address nobody checked).
A refusal is decided before any connection is attempted, so it reads the same whether a port is open or closed.
"""

import fnmatch
import ipaddress
import logging
import socket
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from common.errors import ApplicationError

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]


class OutboundRefused(ApplicationError):
    """The policy refuses a destination. Raised at save time (where="base_url") and from inside the HTTP client."""

    def __init__(self, message: str):
        super().__init__(message, where="base_url", code="outbound_refused")


class _Unresolved(Exception):
    """The name does not resolve (now); not a refusal."""


# ---------------------------------------------------------------------------------------------------------------
# What counts as public


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address: the one traffic is relayed to
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        if address in _IPV4_COMPATIBLE:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None and not address_is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


# ---------------------------------------------------------------------------------------------------------------
# The operator's settings


@dataclass(frozen=True)
class _Allowance:
    """One entry of OUTBOUND_PRIVATE_ALLOWED: a host name pattern or an address range, and an optional port."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host_pattern: str
    port: int | None

    def matches_name(self, host: str, port: int) -> bool:
        return bool(self.host_pattern) and fnmatch.fnmatchcase(host, self.host_pattern) and self.port in (None, port)

    def matches_address(self, address: Address, port: int) -> bool:
        if self.network is None or self.port not in (None, port):
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None and self.network.version == 4:
            address = address.ipv4_mapped
        return address.version == self.network.version and address in self.network


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ImproperlyConfigured(f"WHETSTONE_OUTBOUND_PRIVATE_ALLOWED: {entry!r} has no valid port (1 to 65535)")
    return int(text)


def _allowance_parse(entry: str) -> _Allowance:
    text = entry.strip().lower()
    try:
        if "/" in text:
            return _Allowance(ipaddress.ip_network(text, strict=False), "", None)
        if text.startswith("["):
            inside, closed, rest = text[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise ValueError(entry)
            return _Allowance(ipaddress.ip_network(inside), "", _port(rest[1:], entry) if rest else None)
        if text.count(":") > 1:
            return _Allowance(ipaddress.ip_network(text), "", None)
    except ValueError as error:
        raise ImproperlyConfigured(
            f"WHETSTONE_OUTBOUND_PRIVATE_ALLOWED: {entry!r} is not host[:port], [IPv6 address]:port or a CIDR range"
        ) from error
    host, _colon, port_text = text.partition(":")
    port = _port(port_text, entry) if _colon else None
    try:
        return _Allowance(ipaddress.ip_network(host), "", port)
    except ValueError:
        pass
    if not host or not all(char.isalnum() or char in ".-_*" for char in host):
        raise ImproperlyConfigured(f"WHETSTONE_OUTBOUND_PRIVATE_ALLOWED: {entry!r} is not host[:port], [IPv6 "
                                   "address]:port "
                                   f"or a CIDR range")
    return _Allowance(None, host.rstrip("."), port)


@lru_cache(maxsize=16)
def _allowances(entries: tuple[str, ...]) -> tuple[_Allowance, ...]:
    return tuple(_allowance_parse(entry) for entry in entries)


def outbound_settings_check() -> list[str]:
    """What is wrong with the operator's outbound settings (empty when nothing is); run by `manage.py check`."""
    problems = []
    for entry in settings.OUTBOUND_PRIVATE_ALLOWED:
        try:
            _allowance_parse(entry)
        except ImproperlyConfigured as error:
            problems.append(str(error))
    return problems


# ---------------------------------------------------------------------------------------------------------------
# The rule


def _resolve(host: str, port: int) -> list[Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as error:
        raise _Unresolved(host) from error
    addresses = []
    for _family, _type, _proto, _canonical, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise _Unresolved(host)
    return addresses


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refusal(host: str) -> OutboundRefused:
    return OutboundRefused(_("the outbound policy refuses %(host)s: its address is not public, and "
                             "WHETSTONE_OUTBOUND_PRIVATE_ALLOWED does not list it") % {"host": host})


def destination_addresses(host: str, port: int) -> list[Address]:
    """The addresses to connect to for host:port, every one allowed by the policy. Raises OutboundRefused, or
    _Unresolved when the name does not resolve."""
    host = host.strip("[]").lower().rstrip(".")
    allowances = _allowances(tuple(settings.OUTBOUND_PRIVATE_ALLOWED))
    if any(allowance.matches_name(host, port) for allowance in allowances):
        return _resolve(host, port)
    literal = _literal(host)
    listed = literal is not None and any(allowance.matches_address(literal, port) for allowance in allowances)
    if not listed and not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in settings.OUTBOUND_HOSTS):
        if not settings.OUTBOUND_HOSTS:
            raise OutboundRefused(_("the outbound policy refuses %(host)s: WHETSTONE_OUTBOUND_HOSTS allows no host")
                                  % {"host": host})
        raise OutboundRefused(
            _(
                "the outbound policy refuses %(host)s: model endpoints may reach only %(patterns)s "
                "(WHETSTONE_OUTBOUND_HOSTS)"
            )
            % {"host": host, "patterns": ", ".join(settings.OUTBOUND_HOSTS)}
        )
    # A literal address is checked before anything touches the network; a name is resolved first.
    if literal is not None and not listed and not address_is_public(literal):
        raise _refusal(host)
    addresses = _resolve(host, port)
    for address in addresses:
        if not address_is_public(address) and not any(
            allowance.matches_address(address, port) for allowance in allowances
        ):
            raise _refusal(host)
    return addresses


def base_url_parts(base_url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL as the HTTP client will read it; ApplicationError at base_url otherwise."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise ApplicationError(
            _("the base URL is not a valid URL: %(url)s") % {"url": repr(base_url)}, where="base_url"
        ) from error
    if url.scheme not in DEFAULT_PORTS or not url.raw_host:
        raise ApplicationError(_("the base URL must start with http:// or https:// and name a host; got %(url)s")
                               % {"url": repr(base_url)}, where="base_url")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ApplicationError(_("the base URL's port must be between 1 and 65535; got %(port)s") % {"port": url.port},
                               where="base_url")
    return url.raw_host.decode("ascii"), url.port or DEFAULT_PORTS[url.scheme]


def base_url_check(base_url: str) -> None:
    """Refuse, when an endpoint is saved, a base URL the policy refuses now (OutboundRefused, where="base_url").

    A name that does not resolve now is let through: the check on every call decides when it is used.
    """
    host, port = base_url_parts(base_url)
    try:
        destination_addresses(host, port)
    except _Unresolved:
        pass


# ---------------------------------------------------------------------------------------------------------------
# The HTTP client


class _CheckedNetworkBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, behind the policy: connect_tcp gets the host name of the URL, resolves it,
    checks every address and connects to one of those addresses (TLS still verifies the certificate for the name)."""

    def __init__(self):
        self._system = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = destination_addresses(host, port)
        except _Unresolved as error:
            raise httpcore.ConnectError(f"cannot resolve {host}") from error
        failure = None
        for address in addresses:
            try:
                return self._system.connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                                socket_options=socket_options)
            except httpcore.ConnectError as error:
                failure = error
        raise failure

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused(_("the outbound policy refuses Unix sockets"))

    def sleep(self, seconds: float) -> None:
        self._system.sleep(seconds)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, *, limits: httpx.Limits):
        # Not super().__init__(): it would build the pool on the plain socket backend, which connects wherever a name
        # resolves. handle_request and close only use self._pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedNetworkBackend(),
        )


def outbound_client(*, timeout: float, max_connections: int = 10) -> httpx.Client:
    """An httpx client for requests to user-chosen addresses: the policy checked at connect time, no redirects
    followed, proxy variables ignored. A refused destination raises OutboundRefused out of the request call."""
    limits = httpx.Limits(max_connections=max_connections)
    return httpx.Client(transport=_CheckedTransport(limits=limits), timeout=timeout, follow_redirects=False,
                        trust_env=False)


# ---------------------------------------------------------------------------------------------------------------
# What failed, in our words


def http_status_problem(status: int) -> str:
    """What an HTTP status other than 200 means, in our words: the remote's body and headers are never relayed (they
    would make this a way to read internal pages). Operators find the body in the server log."""
    if 300 <= status < 400:
        return _(
            "the endpoint answered with a redirect (HTTP status %(status)s), which is not followed; use the address "
            "it redirects to as the base URL"
        ) % {"status": status}
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return _("the endpoint answered HTTP status %(status)s") % {"status": status}
    if status in (401, 403):
        return _("the endpoint answered HTTP status %(status)s (%(phrase)s); check the API key") % {"status": status,
                                                                                                    "phrase": phrase}
    return _("the endpoint answered HTTP status %(status)s (%(phrase)s)") % {"status": status, "phrase": phrase}


def connection_problem(error: Exception, *, base_url: str, timeout_seconds: float) -> str:
    """A failed request in our words: refused by the policy, timed out, could not connect, or broken off."""
    if isinstance(error, OutboundRefused):
        return error.message
    if isinstance(error, httpx.TimeoutException):
        return _("no answer within %(seconds)s s (timeout)") % {"seconds": f"{timeout_seconds:g}"}
    host, port = base_url_parts(base_url)
    if isinstance(error, httpx.ConnectError):
        return _("could not connect to %(host)s:%(port)s") % {"host": host, "port": port}
    return _("the connection to %(host)s:%(port)s failed before a complete answer") % {"host": host, "port": port}


def remote_body_log(base_url: str, response: httpx.Response) -> None:
    """The start of what the remote answered, for the operator's log only."""
    logger.warning("%s answered HTTP %s: %r", base_url, response.status_code, response.text[:500])

"""Which addresses Tocsin may send to on someone's behalf: the SSRF guard's policy.

A webhook URL is chosen by whoever configures a service or a contact method, but the POST
comes from a worker inside the operator's network. Without a guard such a URL reaches what
sits beside the worker: loopback services, private networks, the cloud metadata endpoint
(169.254.169.254). So targets must be public unicast addresses, in IPv4 and IPv6 alike (an
IPv4-mapped IPv6 address is judged as the IPv4 address it carries), unless the operator
allows private targets (``TOCSIN_WEBHOOK_ALLOW_PRIVATE_TARGETS``, docs/security.md).

The check that counts runs at send time on the addresses a name resolves to, and the
connection goes to a checked address (activities/outbound_http.py). ``url_refusal`` is the
early check when a URL is configured: it catches literal addresses and ``localhost``
without resolving anything, since DNS answers can change between configuring and sending.
"""

import ipaddress
import re
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The kinds of address refused, by the ipaddress property that recognises each.
_REFUSED_KINDS = ("unspecified", "loopback", "link_local", "multicast", "private", "reserved")
# What inet_aton accepts besides dotted quads: 2130706433, 0x7f.1, 127.1 (all loopback).
_LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$")


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be sent to, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in _REFUSED_KINDS:
        if getattr(address, f"is_{kind}"):
            return f"{address} is not a public address ({kind.replace('_', '-')})"
    if not address.is_global:  # e.g. 100.64.0.0/10, shared address space
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is written as one (in any form a resolver takes)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_refusal(host: str) -> str | None:
    """Why ``host`` is plainly not a public target (a literal address or localhost), or None
    when only resolving it can tell."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return f"{name} is a loopback name"
    address = literal_address(name)
    return None if address is None else address_refusal(address)


def url_refusal(url: str) -> str | None:
    """Why a webhook URL is refused when it is configured, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an http(s) URL"
    refusal = host_refusal(host)
    return None if refusal is None else f"must not point at a private network: {refusal}"

"""The image-URL policy: what an input image URL must be before Replicate is asked to fetch it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import attrs

from base_core.errors import InvalidRequest

MAX_URL_LENGTH = 2048


@attrs.frozen
class UrlPolicy:
    """Which input image URLs the service passes on to Replicate.

    Only http(s) URLs with a host are accepted; loopback, private, link-local and other
    internal addresses are refused unless `allow_private_hosts` (the offline demo serves
    its images from loopback). Names are not resolved here: the core does no I/O.
    """

    allow_private_hosts: bool = False

    def check(self, field: str, url: object) -> str:
        if not isinstance(url, str) or not url:
            raise InvalidRequest(field, "must be an http(s) URL")
        if len(url) > MAX_URL_LENGTH:
            raise InvalidRequest(field, f"must be at most {MAX_URL_LENGTH} characters")
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
            raise InvalidRequest(field, "must not contain spaces or control characters")
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise InvalidRequest(field, "is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise InvalidRequest(field, "must be an http(s) URL with a host")
        if parts.username or parts.password:
            raise InvalidRequest(field, "must not carry credentials")
        if not self.allow_private_hosts and _is_internal_host(host):
            raise InvalidRequest(field, "must point at a public host")
        return url


def _is_internal_host(host: str) -> bool:
    name = host.rstrip(".").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(
        (".localhost", ".local", ".internal")
    ):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        last_label = name.rsplit(".", 1)[-1]
        if last_label.isdigit() or last_label.startswith("0x"):
            # No public name ends in a number: this is an IPv4 address in a non-canonical
            # spelling resolvers still accept (2130706433, 0x7f000001, 0177.0.0.1, 127.1).
            return True
        return "." not in name  # a bare intranet name
    if isinstance(address, ipaddress.IPv6Address):
        address = _embedded_ipv4(address) or address
    # `is_global` holds for multicast groups (224.0.0.0/4, ff0e::/16): no image lives there.
    return not address.is_global or address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if int(address) >> 32 == 0 or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


__all__ = ["MAX_URL_LENGTH", "UrlPolicy"]

"""Which receiver URLs the service may call. A webhook makes the service send requests where an admin
says; without this check that could be the metadata service, Redis or an admin page on the internal
network. Checked when an endpoint is registered and again before every attempt (a name can be made to
resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from grader.errors import InvalidInput


class RefusedUrl(InvalidInput):
    code = "webhook_url_refused"


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RefusedUrl(f"webhook URL host '{host}' does not resolve: {exc}", details={"host": host}) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse anything but http(s) to a public address (any address when `allow_private`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedUrl(f"webhook URL must be http:// or https:// with a host, not '{url}'", details={"url": url})
    if parts.username or parts.password:
        raise RefusedUrl(
            "webhook URL must not carry a user or password; sign-in is the signature", details={"url": url}
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedUrl(f"webhook URL has a bad port: '{url}'", details={"url": url}) from None
    if allow_private:
        return
    for address in _addresses(parts.hostname, port):
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise RefusedUrl(
                f"webhook URL '{url}' resolves to {address}, a loopback, private or link-local address; "
                "set GRADER_WEBHOOK_ALLOW_PRIVATE=true to allow receivers inside your own network",
                details={"url": url, "address": str(address)},
            )

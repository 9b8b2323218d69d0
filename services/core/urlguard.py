"""Refuse URLs that would make ingest a way into our own network (SSRF).

A URL is allowed only if every address its host resolves to is public, unless the host,
or the address, is named in `ingest_allow_hosts`. The ingest job calls this again for
every redirect, so a public URL cannot bounce to a private one, and connects only to the
address checked here (`services.packager.fetch`), so a DNS answer that changes between
the check and the connection (rebinding) cannot either.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from services.core.errors import BadRequest

# Cloud metadata addresses that are not all covered by link-local checks.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


def _allowed(host: str, address: Address, allow: list[str]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def resolve(host: str) -> list[Address]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise BadRequest(f"cannot resolve host {host!r}", code="url_unresolvable") from error
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str, allow: list[str]) -> Address:
    """The address to connect to for `url`; `BadRequest` (code `url_forbidden`) unless it is
    http(s) to a host whose every address is public (or allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("only http and https URLs can be ingested", code="url_scheme")
    host = parts.hostname
    addresses = resolve(host)
    for address in addresses:
        if is_internal(address) and not _allowed(host, address, allow):
            raise BadRequest(
                f"{host} resolves to {address}, a private or internal address", code="url_forbidden"
            )
    return addresses[0]

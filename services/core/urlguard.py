"""Refuse URLs that would make ingest a way into our own network (SSRF).

A URL is allowed only if every address its host resolves to is public, unless the host,
or the address, is named in `ingest_allow_hosts`. The ingest job calls this again for
every redirect, so a public URL cannot bounce to a private one, and connects only to the
address checked here (`services.ingest.fetch`), so a DNS answer that changes between
the check and the connection (rebinding) cannot either.
"""

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from services.core.errors import BadRequest

log = logging.getLogger(__name__)

# Cloud metadata addresses that are not all covered by link-local checks.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

# IPv6 ranges that embed an IPv4 address or reach one through a translator or relay, or
# are scoped to a site: refused whole, whatever they embed, since the hop that unwraps
# them (a 6to4 relay, a Teredo server, a NAT64 gateway) may sit inside our network.
# Python's `is_global` disagrees across versions on several of them (6to4 and site-local
# count as global), so the list is explicit.
TUNNEL_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "2002::/16",        # 6to4 (RFC 3056): 2002:AABB:CCDD:: carries IPv4 AA.BB.CC.DD
    "2001::/32",        # Teredo (RFC 4380)
    "fec0::/10",        # site-local (RFC 3879, deprecated but still routed on some sites)
    "64:ff9b::/96",     # NAT64 well-known prefix (RFC 6052)
    "64:ff9b:1::/48",   # NAT64 local-use prefix (RFC 8215)
    "::/96",            # IPv4-compatible ::a.b.c.d (RFC 4291, deprecated)
    "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765, SIIT)
    "100::/64",         # discard-only (RFC 6666)
))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _isatap_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an ISATAP interface id (`::0:5efe:a.b.c.d`, RFC 5214)."""
    iid = address.packed[8:]
    if iid[:4] in (b"\x00\x00\x5e\xfe", b"\x02\x00\x5e\xfe"):
        return ipaddress.IPv4Address(iid[4:])
    return None


def is_internal(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return is_internal(address.ipv4_mapped)
        if any(address in network for network in TUNNEL_NETWORKS):
            return True
        embedded = _isatap_ipv4(address)
        if embedded is not None and is_internal(embedded):
            return True
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
    """Every address `host` resolves to; `refused` if it resolves to none."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        log.info("event=url_refused host=%r reason=unresolvable", host)
        raise refused(host) from error
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def refused(host: str) -> BadRequest:
    """One answer for a name that does not resolve and one that resolves inside: two
    answers would let anyone list our internal names by asking. The log says which."""
    return BadRequest(f"{host} does not resolve to a public address", code="url_forbidden")


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
            # Not which address: that would make the guard a way to map internal names.
            log.info("event=url_refused host=%r reason=internal", host)
            raise refused(host)
    return addresses[0]

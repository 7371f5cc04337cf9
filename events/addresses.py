"""Where a webhook may go: https (unless WEBHOOK_ALLOW_HTTP) and public addresses only.

Checked when an endpoint is registered and again at every delivery, since DNS can change: the
delivery connects to the very address checked here (never resolving the name again), so a name
that flips to 127.0.0.1 between the check and the connection cannot reach inside our network.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(Exception):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    hostname: str
    port: int
    address: str  # the checked IP the connection goes to
    path: str  # path and query, as sent


def check_url_shape(url):
    """Scheme and host only (no DNS): raises AddressRefused."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise AddressRefused("The URL must use https." if parts.scheme != "https" else "Unsupported URL.")
    if not parts.hostname:
        raise AddressRefused("The URL has no host.")
    if parts.username or parts.password:
        raise AddressRefused("The URL must not carry credentials.")
    try:
        parts.port  # noqa: B018  raises on a port out of range
    except ValueError:
        raise AddressRefused("The URL's port is invalid.") from None
    return parts


def _refused(address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is false for loopback, private, link-local, shared (100.64/10), reserved and
    # documentation ranges; multicast can be "global", so it is refused by name.
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


def resolve(url):
    """The Target to connect to, every address of the name checked; raises AddressRefused."""
    parts = check_url_shape(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"The host {parts.hostname!r} does not resolve.") from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise AddressRefused(f"The host {parts.hostname!r} does not resolve.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        # Any one refused address refuses the name: otherwise a name with one public and one
        # private address would reach inside whenever the private one came first.
        for address in addresses:
            if _refused(address):
                raise AddressRefused(
                    "The URL resolves to a loopback, private, link-local, multicast or reserved address."
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, hostname=parts.hostname, port=port, address=addresses[0], path=path)

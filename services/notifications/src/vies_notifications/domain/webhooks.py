"""Webhook rules: Standard Webhooks signatures and the guard against server-side request forgery.

Signature scheme (https://www.standardwebhooks.com/, spec "Signature scheme"):
the signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``, signed with
HMAC-SHA256 and the secret's bytes; the header is ``webhook-signature: v1,<base64>``.
Secrets are given as ``whsec_`` + base64 (24 to 64 random bytes); a plain string
is accepted too and used as UTF-8 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from vies_shared.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of the format, not a secret


def new_secret() -> str:
    """A fresh secret in the ``whsec_`` form (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key bytes of a secret; raises ``InvalidInput`` for a malformed ``whsec_`` secret or a short one."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("secret: the part after whsec_ must be base64") from exc
        if not 24 <= len(key) <= 64:
            raise InvalidInput("secret: a whsec_ secret must hold 24 to 64 bytes")
        return key
    if len(secret) < 24:
        raise InvalidInput("secret: at least 24 characters")
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def url_host(url: str) -> str:
    """The host of a subscription URL, after checking its shape: http(s), a host, no credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidInput(f"url: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url: only http and https URLs are accepted")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidInput("url: credentials in the URL are not accepted; use the signing secret")
    if not parts.hostname:
        raise InvalidInput("url: a host is required")
    del port
    return parts.hostname.lower().rstrip(".")


# Not global, yet not flagged by every Python: shared address space (carrier-grade NAT, some clouds'
# metadata such as 100.100.100.200), and IPv6 prefixes that carry an IPv4 address to a gateway that
# may reach private networks (6to4, NAT64).
DENIED_NETWORKS = {
    "shared address space": ipaddress.ip_network("100.64.0.0/10"),
    "6to4": ipaddress.ip_network("2002::/16"),
    "NAT64": ipaddress.ip_network("64:ff9b::/96"),
    "local-use NAT64": ipaddress.ip_network("64:ff9b:1::/48"),
}


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The address classes refused, first match named (an address may be in several).
ADDRESS_RULES: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("loopback", lambda address: address.is_loopback),
    ("link-local", lambda address: address.is_link_local),
    ("private", lambda address: address.is_private),
    ("reserved", lambda address: address.is_multicast or address.is_reserved or address.is_unspecified),
    ("not globally routable", lambda address: not address.is_global),
)


def _forbidden(address: IPAddress) -> str | None:
    """The rule an address breaks (a name, never the address), or None for a globally routable one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    for rule, network in DENIED_NETWORKS.items():
        if address.version == network.version and address in network:
            return rule
    return next((rule for rule, breaks in ADDRESS_RULES if breaks(address)), None)


def _allowed(host: str, address: str, allowlist: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for raw in allowlist:
        entry = raw.lower()
        if entry in (host, address):
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_addresses(host: str, addresses: Iterable[str], allowlist: Iterable[str]) -> None:
    """Refuse a host resolving to any address that is not globally routable, unless allow-listed.

    The error names the rule, never the address: the caller must not learn what an internal
    name resolves to (the guard would otherwise map the cluster's DNS for them).
    """
    addresses = list(addresses)
    allowlist = list(allowlist)
    if not addresses:
        raise InvalidInput(f"url: {host} does not resolve")
    for address in addresses:
        reason = _forbidden(ipaddress.ip_address(address))
        if reason is not None and not _allowed(host, address, allowlist):
            raise InvalidInput(f"url: {host} resolves to a {reason} address, which is not allowed")

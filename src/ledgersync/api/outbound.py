"""Outbound URLs the server itself fetches (webhook endpoints): public http(s) only, checked after DNS.

A URL is judged by the addresses its host resolves to, not by how it is spelt: 2130706433, 0x7f.1, [::1],
[::ffff:127.0.0.1], localhost. and a name whose DNS points inside all come down to an address that is refused.
The check runs when an endpoint is registered and again at every delivery, and the delivery connects to the
very address that passed (so a DNS answer that changes in between cannot slip through); redirects are never
followed. The operator may allow non-public addresses for local development (`allow_private`)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# IPv6 ranges that carry an IPv4 address in their low 32 bits (NAT64); the IPv4 address is what is reached.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class UnsafeUrl(ValueError):
    """A URL the server must not fetch; the message says which rule it breaks."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def why_not_public(ip: IP) -> str | None:
    """None for a public unicast address, else what it is (loopback, private, link-local ...)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = why_not_public(inner)
            return f"{reason} ({inner}, carried in IPv6)" if reason else None
    for attr, label in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        return "not a public address"
    return None


def _ip_literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host:port (the same lookup a connection would make)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {host!r} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parts(url: str) -> tuple[str, str, int]:
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    scheme = split.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs may be used")
    host = split.hostname or ""
    if not host:
        raise UnsafeUrl("the URL has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


def public_addresses(url: str, *, resolve: Resolver = system_resolver) -> list[IP]:
    """The addresses `url` would reach, all of them public; UnsafeUrl if any one is not (a name that
    resolves to a public and a private address is refused: which one a client picks is not ours to say)."""
    _, host, port = _parts(url)
    literal = _ip_literal(host)
    found = [literal] if literal is not None else [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
    if not found:
        raise UnsafeUrl(f"the host {host!r} does not resolve")
    for ip in found:
        reason = why_not_public(ip)
        if reason:
            shown = host if literal is not None else f"{host} resolves to {ip}, which"
            raise UnsafeUrl(f"{shown} is {reason}; webhooks go only to public addresses")
    return found


def check_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> None:
    """Registration-time check: http(s), and (unless private addresses are allowed) public after DNS."""
    _parts(url)
    if not allow_private:
        public_addresses(url, resolve=resolve)


def post(
    client: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allow_private: bool,
    resolve: Resolver = system_resolver,
) -> httpx.Response:
    """POST without following redirects. Unless private addresses are allowed, the host is resolved and
    checked here and the request goes to that checked address (Host header and TLS name kept as the URL's,
    so virtual hosting and certificate checks work as usual)."""
    if allow_private:
        _parts(url)
        return client.post(url, content=content, headers=dict(headers), timeout=timeout, follow_redirects=False)
    ip = public_addresses(url, resolve=resolve)[0]
    target = httpx.URL(url)
    pinned = target.copy_with(host=str(ip))
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    request = client.build_request(
        "POST",
        pinned,
        content=content,
        headers={**headers, "host": host_header},
        timeout=timeout,
        extensions={"sni_hostname": target.host} if target.scheme == "https" else None,
    )
    return client.send(request, follow_redirects=False)


__all__ = [
    "UnsafeUrl",
    "base_url_allowed",
    "check_url",
    "post",
    "public_addresses",
    "system_resolver",
    "why_not_public",
]


def _origin(url: str) -> tuple[str, str, int, str]:
    split = urlsplit(url.strip())
    scheme = split.scheme.lower()
    port = split.port  # ValueError for a port out of range
    default = 443 if scheme == "https" else 80
    return scheme, (split.hostname or "").lower(), port or default, split.path.rstrip("/")


def base_url_allowed(url: str, allowed: list[str]) -> bool:
    """Whether a connection's `base_url` is one the operator allows: same scheme, host and port as an entry
    (an entry's port `*` matches any port, for local sandboxes on ephemeral ports), under its path if it has
    one. Everything else a caller might give (another host, a userinfo trick, a scheme) does not match."""
    try:
        scheme, host, port, path = _origin(url)
    except ValueError:
        return False
    if scheme not in ("http", "https") or not host or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        return False
    for entry in allowed:
        wildcard = entry.rstrip("/").endswith(":*") or ":*/" in entry
        try:
            e_scheme, e_host, e_port, e_path = _origin(entry.replace(":*", "", 1) if wildcard else entry)
        except ValueError:
            continue
        if (scheme, host) != (e_scheme, e_host) or (not wildcard and port != e_port):
            continue
        if not e_path or path == e_path or path.startswith(e_path + "/"):
            return True
    return False

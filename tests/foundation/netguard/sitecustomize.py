"""Loaded by a test subprocess: refuse and record every non-loopback network attempt (DNS included)."""

import ipaddress
import os
import socket

_LOG = os.environ["NETGUARD_LOG"]
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _record(kind: str, target: object) -> None:
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{kind} {target!r}\n")


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback or host in ("0.0.0.0", "::")
    except ValueError:
        return False


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        _record("connect", address)
        raise ConnectionRefusedError(f"netguard: refused connection to {address!r}")
    return _connect(self, address)


def connect_ex(self, address):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        _record("connect_ex", address)
        return 111
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if not _is_local(host):
        _record("dns", host)
        raise socket.gaierror(socket.EAI_NONAME, f"netguard: refused lookup of {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = getaddrinfo

"""HTTP sessions for requests to URLs people configure, with the SSRF guard at connect time.

The guard lives in the resolver: aiohttp connects only to the addresses its resolver
returns, so filtering them there leaves no gap between checking an address and connecting
to it (a DNS answer that changes in between, "DNS rebinding", changes nothing). aiohttp
skips the resolver for literal IP addresses, so ``target_refusal`` checks those before the
request. The policy itself is tocsin/ssrf.py.
"""

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from tocsin.ssrf import address_refusal, literal_address


class ForbiddenTarget(OSError):
    """The URL's host is, or resolves only to, addresses the guard refuses."""


class GuardedResolver(AbstractResolver):
    """The default resolver, keeping only public addresses (ForbiddenTarget if none is)."""

    def __init__(self) -> None:
        self._resolver: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._resolver is None:  # made on first use: it needs the running loop
            self._resolver = DefaultResolver()
        found = await self._resolver.resolve(host, port, family)
        refusals = [address_refusal(ipaddress.ip_address(r["host"])) for r in found]
        allowed = [r for r, refusal in zip(found, refusals, strict=True) if refusal is None]
        if not allowed:
            reason = next((r for r in refusals if r), "no address")
            raise ForbiddenTarget(f"{host} resolves to no allowed address: {reason}")
        return allowed

    async def close(self) -> None:
        if self._resolver is not None:
            await self._resolver.close()


def target_refusal(host: str, allow_private: bool) -> str | None:
    """Why a literal-address host is refused before any request (resolved names are
    checked by the resolver), or None."""
    if allow_private:
        return None
    address = literal_address(host)
    return None if address is None else address_refusal(address)


def guarded_session(
    *, allow_private: bool, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientSession:
    """A session whose connections reach only allowed addresses (any, if ``allow_private``).
    Proxies from the environment are ignored (``trust_env`` stays off), so a request never
    goes anywhere but the checked address."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else GuardedResolver())
    return aiohttp.ClientSession(timeout=timeout, connector=connector)


def forbidden(err: BaseException) -> ForbiddenTarget | None:
    """The guard's refusal inside an aiohttp connection error, if that is what it was."""
    if isinstance(err, aiohttp.ClientConnectorError) and isinstance(err.os_error, ForbiddenTarget):
        return err.os_error
    return None

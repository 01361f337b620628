"""Rate limits per conversation and per client, and who the client is.

The counting is the ``limits`` library's (a moving window over the storage that
``assistant.wiring.make_rate_limiter`` chooses); this module only decides the
keys.  A client is its peer address, unless the peer is one of
``server.trusted_proxies``: only then is ``X-Forwarded-For`` read, from the
right, and the first hop that is not a trusted proxy is the client.  Everything
left of that hop was written by the client itself, so a forged header cannot
give it a fresh identity (and a fresh limit).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import Request

from assistant.core.errors import XiaoShenError
from assistant.core.settings import LimitsSettings

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import RateLimiter

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
log = logging.getLogger(__name__)


class RateLimited(XiaoShenError):
    """Too many requests; ``retry_after_s`` says when the window has room again."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[_Network]) -> str:
    """The client's address: ``peer``, or the right-most untrusted hop of
    ``X-Forwarded-For`` when ``peer`` is a trusted proxy."""
    if not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    # every hop is one of our proxies: the left-most is as close to the client as we know
    return hops[0] if hops else peer


def _in(address: str, networks: Sequence[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address (a forged word, "testclient"): never a trusted proxy
    return any(ip in network for network in networks)


class RateLimits:
    """The configured limits over one limiter; ``hit_*`` count a request or raise RateLimited."""

    def __init__(self, limiter: RateLimiter, settings: LimitsSettings, trusted_proxies: Sequence[str]) -> None:
        from limits import parse_many

        self.limiter = limiter
        self.enabled = settings.enabled
        #: hits not counted because the counter storage failed (see ``_hit``).
        self.storage_errors = 0
        self.trusted = tuple(ipaddress.ip_network(c, strict=False) for c in trusted_proxies)
        self._rates: dict[str, list[RateLimitItem]] = {
            name: parse_many(getattr(settings, name)) if getattr(settings, name) else []
            for name in ("message_per_conversation", "message_per_client", "conversation_per_client")
        }

    def client(self, request: Request) -> str:
        """Who sent ``request`` (see the module docstring)."""
        peer = request.client.host if request.client else ""
        return client_address(peer, request.headers.get("x-forwarded-for"), self.trusted)

    def hit_message(self, request: Request, conversation_id: str) -> None:
        """Count a message post against its conversation and its client."""
        self._hit("message_per_conversation", conversation_id, "messages in this conversation")
        self._hit("message_per_client", self.client(request), "messages from this address")

    def hit_conversation(self, request: Request) -> None:
        """Count a new conversation against its client."""
        self._hit("conversation_per_client", self.client(request), "new conversations from this address")

    def _hit(self, name: str, key: str, what: str) -> None:
        if not self.enabled:
            return
        for rate in self._rates[name]:
            try:
                allowed = self.limiter.hit(rate, name, key)
            except Exception as e:
                # The shared counter storage (Redis) is away: the request goes through
                # uncounted rather than failing every citizen's message; /readyz reports
                # the outage (the balancer takes the worker out) and the log says so.
                self.storage_errors += 1
                log.warning("rate limit %s not counted, the counter storage failed: %s", name, e)
                return
            if not allowed:
                reset = self.limiter.get_window_stats(rate, name, key).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                raise RateLimited(
                    f"too many {what}: the limit is {rate}; wait {retry} s and try again",
                    retry_after_s=retry,
                )

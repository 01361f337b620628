"""Sign-in throttling and lock-out: failed sign-ins counted per account and per client.

The counting is the ``limits`` library's, on the same limiter (and so the same
counter storage, ``limits.storage_url``) as the message limits of
``assistant.api.ratelimit``: pointing that setting at Redis makes every server
process count one account's failures together.  The rates are
``auth.login_failures_per_account`` and ``auth.login_failures_per_client``.

A full window locks: while an account's window is full, even its right
password is refused, so a slow guesser gains nothing; the window empties by
itself (no administrator needed), and a successful sign-in empties the
account's window.  Unknown usernames are counted like real ones, so a
lock-out says nothing about whether an account exists.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from assistant.api.ratelimit import RateLimited
from assistant.core.settings import AuthSettings

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import RateLimiter

_ACCOUNT = "login_failures_account"
_CLIENT = "login_failures_client"


class LoginThrottle:
    """Failed sign-ins per account and per client over one ``limits`` limiter."""

    def __init__(self, limiter: RateLimiter, settings: AuthSettings) -> None:
        from limits import parse_many

        self.limiter = limiter
        self._rates: dict[str, list[RateLimitItem]] = {
            _ACCOUNT: parse_many(settings.login_failures_per_account) if settings.login_failures_per_account else [],
            _CLIENT: parse_many(settings.login_failures_per_client) if settings.login_failures_per_client else [],
        }

    def check(self, username: str, client: str) -> None:
        """Raise RateLimited (429, Retry-After) while the account or the client is locked out."""
        for name, key in ((_ACCOUNT, username), (_CLIENT, client)):
            for rate in self._rates[name]:
                if not self.limiter.test(rate, name, key):
                    retry = self._retry_after(rate, name, key)
                    raise RateLimited(
                        f"too many failed sign-ins for this account or from this address; wait {retry} s and try again",
                        retry_after_s=retry,
                    )

    def failed(self, username: str, client: str) -> bool:
        """Count one failed sign-in; True when it locks the account or the client out."""
        locked = False
        for name, key in ((_ACCOUNT, username), (_CLIENT, client)):
            for rate in self._rates[name]:
                self.limiter.hit(rate, name, key)
                locked = locked or not self.limiter.test(rate, name, key)
        return locked

    def succeeded(self, username: str) -> None:
        """A right password: the account's failures are forgiven (the client's are not)."""
        for rate in self._rates[_ACCOUNT]:
            self.limiter.clear(rate, _ACCOUNT, username)

    def _retry_after(self, rate: RateLimitItem, name: str, key: str) -> int:
        reset = self.limiter.get_window_stats(rate, name, key).reset_time
        return max(1, math.ceil(reset - time.time()))

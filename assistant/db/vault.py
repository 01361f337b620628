"""Encrypted originals of masked messages: what a role with the right may reveal.

Messages are stored masked (:mod:`assistant.core.pii`).  With a key in
``XS_PRIVACY__KEY`` (a Fernet key) the typed text is also kept, encrypted with
that key, in its own table; the key lives in settings, never in the database.
Without a key the originals are not kept at all, and nothing can be revealed.
"""

from __future__ import annotations

from typing import Any

from assistant.core.errors import ConfigError

_GENERATE = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


class OriginalsVault:
    """Encrypts and decrypts originals with one Fernet key (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: str) -> None:
        try:
            from cryptography.fernet import Fernet
        except ImportError as e:  # pragma: no cover - a dependency of the project
            raise ConfigError("XS_PRIVACY__KEY needs the cryptography package: pip install 'cryptography>=42,<47'") from e
        try:
            self._fernet: Any = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as e:
            raise ConfigError(
                f"XS_PRIVACY__KEY is not a Fernet key (32 url-safe base64 bytes, {len(key)} characters given); "
                f"make one with {_GENERATE}"
            ) from e

    def encrypt(self, text: str) -> str:
        """The ciphertext of ``text`` (ASCII, safe for a Text column)."""
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The text of ``token``; ConfigError when it was encrypted with another key."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as e:
            raise ConfigError(
                "an original cannot be decrypted with XS_PRIVACY__KEY: it was kept under another key; "
                "restore the key it was written with"
            ) from e


def make_vault(key: str) -> OriginalsVault | None:
    """The vault for ``key``, or None when no key is configured (originals are not kept)."""
    return OriginalsVault(key) if key else None

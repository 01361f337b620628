"""What every ``xiaoshen`` command group shares: the ``--config`` option and the
Settings a command loads from it.

It lives apart from the top CLI (``assistant.cli``) because the top CLI
registers the groups of ``kb``, ``eval``, ``intents`` and ``bench``: were the
groups to import it back, the CLIs would form an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.core.settings import Settings, load_settings

#: ``--config/-c``: a TOML settings file; without it XS_CONFIG and the XS_* environment apply.
ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="TOML settings file (else XS_CONFIG, XS_* env)")
]


def settings_from(config: Path | None) -> Settings:
    """Build the Settings once for a command (``config`` is its ``--config`` value)."""
    return load_settings(config)


__all__ = ["ConfigOption", "settings_from"]

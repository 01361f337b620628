"""Intent classification and the action policy.

- ``make_classifier(settings, embedder=)``: the IntentClassifier named by
  ``IntentSettings.backend``: ``trained`` (the artefact of
  ``xiaoshen intents train`` under ``intents/models/``) or ``rules`` (keyword
  cues, no artefact).
- ``make_policy(settings)``: the ActionPolicy with the thresholds fitted by
  ``xiaoshen intents fit-policy`` (``assistant/dialogue/policy.json``).

Nothing trains at request time: both artefacts are built by commands and
committed, so a fresh checkout starts without training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.errors import ConfigError

if TYPE_CHECKING:
    from assistant.core.settings import IntentSettings
    from assistant.core.types import IntentClassifier
    from assistant.core.types import Embedder
    from assistant.dialogue.policy import ActionPolicy


def make_classifier(settings: IntentSettings, *, embedder: Embedder | None = None) -> IntentClassifier:
    """Build the configured classifier; a missing artefact raises ConfigError with the fix.

    ``embedder`` is the shared query embedder: the trained model uses its
    vectors as features and refuses a different embedder than it was trained with.
    """
    from intents.rules import RuleClassifier
    from intents.trained import TrainedClassifier

    builders = {
        "rules": lambda: RuleClassifier(),
        "trained": lambda: TrainedClassifier.load(settings.model_path, embedder=embedder),
    }
    if settings.backend not in builders:
        raise ConfigError(
            f"unknown intent backend {settings.backend!r}; use one of {sorted(builders)} (XS_INTENTS__BACKEND)"
        )
    return builders[settings.backend]()


def make_policy(settings: IntentSettings) -> ActionPolicy:
    """The action policy with the fitted thresholds (``policy_path`` or the committed file)."""
    from assistant.dialogue.policy import load_policy

    return load_policy(settings.policy_path)


__all__ = ["make_classifier", "make_policy"]

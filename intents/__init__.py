"""Intent classification.

- :mod:`intents.trained`: the artefact of ``xiaoshen intents train`` under
  ``intents/models/`` (``TrainedClassifier``, loaded by its ``load()``).
- :mod:`intents.rules`: keyword cues, no artefact.
- :mod:`intents.cli`: ``xiaoshen intents`` (train, fit-policy, evaluate).

Which classifier runs (``IntentSettings.backend``) is chosen in
:mod:`assistant.wiring`, which also loads the action policy fitted by
``xiaoshen intents fit-policy`` (``assistant/dialogue/policy.json``).  Nothing
trains at request time: both artefacts are built by commands and committed,
so a fresh checkout starts without training.
"""

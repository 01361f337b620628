"""The floor every stage stands on: types, Protocols, settings, errors and text rules.

Nothing here imports any other module of the project (an import-linter
contract in ``pyproject.toml`` holds it so); every stage, the dialogue, the
helpdesk, the wiring and the edges import from here.
"""

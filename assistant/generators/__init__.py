"""Generators: who writes the answer text.

- ``composer`` (default): deterministic, grounded in the item's fields
  (:mod:`assistant.generators.composer`).
- ``openai``: any OpenAI-compatible chat server (vLLM, Ollama, a cloud
  endpoint) through LangChain's ``ChatOpenAI``.
- ``llamacpp``: a local GGUF model through ``llama-cpp-python``
  (extra ``xiaoshen[llm]``).

Both LLM backends are wrapped by :class:`assistant.generators.llm.LLMGenerator`:
the prompt holds only the retrieved fields and the question, personal data is
masked first, every number/date/phone/address of the answer must occur in the
cited context, and a slow or failing model gives way to the composer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.core.errors import ConfigError

if TYPE_CHECKING:
    from assistant.core.settings import GeneratorSettings
    from assistant.core.types import Generator


def make_generator(settings: GeneratorSettings) -> Generator:
    """Build the configured Generator; a missing package or model raises BackendUnavailable."""
    from assistant.generators.composer import Composer

    def _openai() -> Generator:
        from assistant.generators.llm import make_openai_generator

        return make_openai_generator(settings)

    def _llamacpp() -> Generator:
        from assistant.generators.llm import make_llamacpp_generator

        return make_llamacpp_generator(settings)

    builders = {"composer": Composer, "openai": _openai, "llamacpp": _llamacpp}
    if settings.backend not in builders:
        raise ConfigError(
            f"unknown generator backend {settings.backend!r}; use one of {sorted(builders)} (XS_GENERATOR__BACKEND)"
        )
    return builders[settings.backend]()


__all__ = ["make_generator"]

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
cited context, and a slow or failing model gives way to the composer (the
stream's ``AnswerStream.fallback`` says why).  The backend named by
``GeneratorSettings.backend`` is chosen in :mod:`assistant.wiring`.
"""

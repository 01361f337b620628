"""The knowledge base: item files, validation, lifecycle, the graph and FAQ import.

- ``knowledge_base.loader``: YAML item files -> ``ServiceItem``; ``validate``/``check``.
- ``knowledge_base.graph``: ``KnowledgeBase`` (items by id, live items, graph queries).
- ``knowledge_base.lifecycle``: publish / retire / history with recorded changes.
- ``knowledge_base.faq_import``: question-answer collections -> item FAQs or corpus JSONL.
- ``knowledge_base.cli``: the ``xiaoshen kb`` commands.
"""

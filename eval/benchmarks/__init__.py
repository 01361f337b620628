"""Benchmark sets: ``parts/*.jsonl`` written by area owners, assembled into ``dev.jsonl``."""

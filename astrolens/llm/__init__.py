"""Clients of the LLMs that annotate candidates: Ollama (local) and OpenAI-compatible servers.

Each is a pure request builder, a thin httpx transport and a pure parser; every failure ends
in an `AnnotationError` whose message says what to do, never in an empty annotation.
"""

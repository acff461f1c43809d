"""Fixtures for llm tests, shared through the root conftest."""

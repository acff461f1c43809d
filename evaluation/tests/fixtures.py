"""Fixtures for evaluation tests, shared through the root conftest."""

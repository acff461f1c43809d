"""Fixtures for annotation tests, shared through the root conftest."""

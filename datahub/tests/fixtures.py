"""Fixtures for datahub tests, shared through the root conftest."""

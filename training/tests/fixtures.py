"""Fixtures for training tests, shared through the root conftest."""

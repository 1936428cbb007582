"""Helpers the tests share that are not fixtures (the fixtures are in tests/conftest.py and, for one package's
tests, in tests/<package>/conftest.py)."""

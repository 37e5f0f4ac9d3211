"""This repository's own test configuration: pytest's ``pytester`` for the tests that run
pytest. The harness's options, fixtures and report hooks are the installed plugin
:mod:`leg.harness.plugin` (entry point ``pytest11``), not this file."""

pytest_plugins = ["pytester"]

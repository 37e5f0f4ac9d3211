"""This repository's own test configuration: pytest's ``pytester`` for the tests that run
pytest, and the Hypothesis profiles of the property tests. The harness's options, fixtures
and report hooks are the installed plugin :mod:`leg.harness.plugin` (entry point
``pytest11``), not this file."""

import os

pytest_plugins = ["pytester"]

# Hypothesis profiles. Local runs keep the default profile and explore: every run draws new
# cases. CI (.ci/run exports HYPOTHESIS_PROFILE=ci) is derandomized: the cases are drawn
# from a hash of each test, so a CI run fails only on what the change under test did, not
# on a new draw (CI at 87bdc4c failed on a tests/test_tv.py case the change had not
# touched). When a property fails, here or locally, Hypothesis prints the falsifying
# example (and with print_blob the @reproduce_failure blob): fix the code or the test, and
# add that case to the test as an @example(...) (see tests/test_tv.py) so every run, CI's
# included, checks it from then on.
try:
    from hypothesis import settings
except ImportError:  # an install without the dev extra: no property tests to configure
    pass
else:
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                              deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

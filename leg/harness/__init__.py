"""The evaluation harness: sanity checks, perturbation-size comparisons, ground-truth and
estimand accuracy of saliency methods, as pytest suites (:mod:`leg.harness.evaluation`, the
repository's ``evaluation/`` folder) run by the plugin :mod:`leg.harness.plugin`.

Run it with ``leg evaluate [pytest arguments]`` from any folder, or call
:func:`leg.harness.api.evaluate` from a test of your own. The library (``leg``) never imports
this package.
"""

"""LEG and LEG-TV, the methods under test: their explainers are the library's
(:class:`leg.LEG`, :class:`leg.LEGTV`, registered in :mod:`leg.explainers`); here are their
records."""

from __future__ import annotations

from leg.harness.methods.record import Method

_COMMON = dict(budget="model evaluations", sampled=True, estimates="gradient",
               suites={"sanity", "perturbation", "groundtruth"}, role="asserted",
               asserted={"key-size", "deletion", "ground-truth", "input-invariance"}, ours=True,
               figure=True)

METHODS = (
    Method("leg", "LEG: the regression of the model's response on structured Gaussian noise "
           "(Luo et al., ICCV 2021)", **_COMMON),
    Method("leg-tv", "LEG-TV: LEG with a total-variation penalty, solved as a linear program "
           "(Luo et al., ICCV 2021)", **_COMMON),
)

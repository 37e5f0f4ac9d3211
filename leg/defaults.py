"""The defaults ``leg explain`` and the Python API (:class:`leg.LEG`, :class:`leg.LEGTV`)
share, in one place: ``LEG(model).explain(image, seed=0)`` computes the map ``leg explain``
writes for that image with ``--seed 0``.

They were chosen by measurement on the shipped Lite0 and photos; the measurements are in
the documentation (docs/estimators.md, docs/reliability.md). Sampling until the map's
predicted seed-to-seed Spearman reaches a target spends the model evaluations where the map
needs them.

Where the command line and the API still differ, on purpose:

- ``seed``: the CLI fixes 0 (a rerun rewrites the same files); the API's ``None`` draws
  fresh noise, as NumPy does, unless the caller passes a seed;
- ``progress``: the CLI shows progress unless ``--quiet`` (bars on a terminal, plain lines
  otherwise); the API shows a bar on terminals for runs over two seconds;
- the compatibility layer (:mod:`leg.compat`) keeps the 2019 code's per-channel scheme,
  8 px cells, moment estimator and i.i.d. draws, which its callers' scripts assume.

Nothing here imports anything: modules that need a default import it from here.
"""

from __future__ import annotations

#: Noise level σ on ``[0, 1]`` images (laplacian scheme: per-cell std ≈ 2σ).
SIGMA = 0.0025
#: Cells ``(rows, cols)`` when neither ``cell_size`` nor ``grid`` is given.
GRID = (14, 14)
#: Noise on all colour channels at once (one sample set; keeps the sign).
MODE = "joint"
#: Samples per set: ``"auto"`` draws rounds until the predicted reliability is reached.
N_SAMPLES = "auto"
#: ``n_samples="auto"``: the predicted seed-to-seed Spearman correlation to reach.
TARGET_RELIABILITY = 0.9
#: ``n_samples="auto"``: the cap, per sample set.
MAX_SAMPLES = 4000
#: ``n_samples="auto"``: the first round (per set), and the smallest round after it.
ROUND_SAMPLES = 500
#: How the perturbations are laid out (:mod:`leg.designs`).
DESIGN = "orthogonal"
#: The covariance of the noise (:mod:`leg.covariance`).
SCHEME = "laplacian"
#: How the map is estimated from the samples (:mod:`leg.regression`).
ESTIMATOR = "ridge"
#: LEG-TV's constraint level λ.
LAMBDA = 0.075
#: LEG-TV's LP solver.
SOLVER = "highs"
#: Perturbed images per model call.
BATCH_SIZE = 64

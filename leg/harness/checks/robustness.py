"""Robustness: how much a map changes when the input changes a little (lower is better).

Three metrics, as Quantus 0.6 defines them (``quantus.AvgSensitivity``,
``quantus.MaxSensitivity``, ``quantus.LocalLipschitzEstimate``); where this module differs,
it says so. ``benchmarks/quantus_families.py`` compares the numbers.

The functions take the maps of the perturbed inputs as arrays: the harness explains the
inputs :func:`perturbed_inputs` draws (deterministically from a seed, in chunks if it likes)
through its job system, then scores them here. Maps are ``(H, W)``; a stack of ``n`` maps
is ``(n, H, W)``; images are ``(H, W, C)`` in ``[0, 1]``.

Sensitivity (Bhatt et al., IJCAI 2020, "average sensitivity"; Yeh et al., NeurIPS 2019,
"max-sensitivity")
    For ``n`` inputs ``x'_k = x + u_k``, ``u_k`` uniform in the L-inf ball of radius ``r``
    (each pixel and channel independently in ``[-r, r]``; Quantus ``batch_uniform_noise``
    with ``lower_bound=0.2``, 200 samples), the per-sample sensitivity is
    ``||Phi(x'_k) - Phi(x)||_F / ||Phi(x)||_F`` (:func:`sensitivities`);
    :func:`avg_sensitivity` is its mean, :func:`max_sensitivity` its maximum.
    Normalisation: *relative to the map's own norm*, as Quantus does (its default
    ``norm_denominator`` is the Frobenius norm of the attribution, not of ``x``). The papers
    write the numerator alone (``normalise=False`` gives it); the relative form is what
    makes maps of different scales comparable (dividing by ``||x||`` would not: a map
    multiplied by 1e-3 would look 1000 times more robust). With ``normalise=True`` the score
    does not change when every map is multiplied by the same positive constant; a map with
    ``||Phi(x)|| = 0`` scores NaN. Differences from Quantus: the perturbed inputs are
    clipped to ``[0, 1]`` (the explainers' declared range; Quantus does not clip) and drawn
    from a seeded generator (Quantus uses NumPy's global one). Captum's
    ``sensitivity_max`` uses radius 0.02 and 10 samples; pass ``radius`` and ``n``.

Local Lipschitz estimate (Alvarez-Melis & Jaakkola, 2018)
    ``max_k ||Phi(x'_k) - Phi(x)||_2 / ||x'_k - x||_2`` over ``x'_k = x + g_k``, ``g_k``
    Gaussian with standard deviation 0.1 per pixel and channel (Quantus' ``perturb_std``;
    the paper maximises over a ball, Quantus and this module sample). Normalisation: every
    map is divided by its own maximum ``|value|`` first (Quantus' default ``normalise=True``
    with ``normalise_by_max``; an all-zero map is left as it is), so the score is invariant
    to each map's scale. Quantus divides by a maximum over several maps at once: the maps of
    ``x`` by the maximum over the *whole* ``a_batch`` it is given (before it splits it into
    batches), the maps of the perturbed inputs by the maximum over each batch at each
    step. So its score of an image depends on the other images, and ``Phi(x)`` and
    ``Phi(x'_k)`` are scaled differently even with ``batch_size=1``
    (``benchmarks/quantus_families.py`` reproduces its numbers that way exactly; with
    ``normalise=False`` on both sides they agree to 1e-11). Samples with ``x'_k = x``
    (possible only after clipping) are skipped; Quantus adds 1e-10 to the denominator.

Controls that win alone
    A map that ignores the input -- a constant map, a fixed Gaussian blob, the harness's
    ``random`` map with a fixed seed -- never changes, so it scores 0 on all three: the best
    possible robustness, with no information about the model. A robustness verdict must
    therefore be paired with a faithfulness floor (``tests/test_robustness.py`` measures
    this control against the gradient of a model). The Sobel ``edge`` map, in contrast, is
    *not* robust to pixel noise (noise is all edges).
"""

from __future__ import annotations

import numpy as np

from leg._validation import check_choice, check_float, check_int
from leg.harness.checks._arrays import (
    as_image,
    as_images,
    as_map,
    as_maps,
    check_count,
    check_seed,
)
from leg.harness.checks.map_scores import GATE, MapCheck, price_variants
from leg.harness.checks.metrics import Metric
from leg.harness.engine.suite import Check

__all__ = [
    "DEFAULT_RADIUS",
    "SUITE",
    "Robustness",
    "N_SAMPLES",
    "PERTURBATION_KINDS",
    "ROBUSTNESS_METRICS",
    "avg_sensitivity",
    "lipschitz_quotients",
    "local_lipschitz",
    "max_sensitivity",
    "perturbed_inputs",
    "sensitivities",
]

ROBUSTNESS_METRICS = {
    "avg_sensitivity": Metric(
        "avg_sensitivity", higher_is_better=False,
        description="Mean over uniform L-inf perturbations (radius 0.2) of ||map(x') - map(x)|| "
                    "/ ||map(x)|| (Bhatt et al., IJCAI 2020; Quantus AvgSensitivity)."),
    "max_sensitivity": Metric(
        "max_sensitivity", higher_is_better=False,
        description="Maximum over uniform L-inf perturbations (radius 0.2) of ||map(x') - "
                    "map(x)|| / ||map(x)|| (Yeh et al., NeurIPS 2019; Quantus MaxSensitivity)."),
    "local_lipschitz": Metric(
        "local_lipschitz", higher_is_better=False,
        description="Maximum over Gaussian perturbations (std 0.1) of ||map(x') - map(x)|| / "
                    "||x' - x||, maps max-normalised (Alvarez-Melis & Jaakkola, 2018; Quantus "
                    "LocalLipschitzEstimate)."),
}

PERTURBATION_KINDS = ("uniform", "gaussian")
#: Quantus' defaults: ``lower_bound=0.2`` (sensitivity), ``perturb_std=0.1`` (Lipschitz).
DEFAULT_RADIUS = {"uniform": 0.2, "gaussian": 0.1}
#: Quantus' ``nr_samples`` for all three metrics.
N_SAMPLES = 200


def perturbed_inputs(image, n: int = N_SAMPLES, kind: str = "uniform",
                     radius: float | None = None, seed: int = 0, *, first: int = 0,
                     clip: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """``(n, H, W, C)`` perturbed copies of an ``(H, W, C)`` (or ``(H, W)``) image.

    ``kind="uniform"``: ``x + u``, ``u`` uniform in ``[-radius, radius]`` per pixel and
    channel (the sensitivity metrics; default radius 0.2). ``"gaussian"``: ``x + g``, ``g``
    normal with standard deviation ``radius`` (the Lipschitz estimate; default 0.1). The
    result is clipped to ``clip`` (``None``: not clipped). Copy ``k`` (counted from
    ``first``) is drawn from ``numpy.random.default_rng([seed, k])``, so the copies
    ``first .. first + n - 1`` are the same whether drawn in one call or in chunks.
    """
    x = as_image(image)
    n = check_count(n)
    seed = check_seed(seed)
    kind = check_choice(kind, "kind", PERTURBATION_KINDS)
    r = DEFAULT_RADIUS[kind] if radius is None else check_float(radius, "radius", low=0.0)
    first = check_int(first, "first", minimum=0)
    out = np.empty((n, *x.shape))
    for i in range(n):
        rng = np.random.default_rng([seed, first + i])
        noise = (rng.uniform(-r, r, size=x.shape) if kind == "uniform"
                 else rng.normal(0.0, r, size=x.shape))
        out[i] = x + noise
    return out if clip is None else np.clip(out, *clip, out=out)


def sensitivities(saliency, perturbed_maps, *, normalise: bool = True) -> np.ndarray:
    """``(n,)`` per-sample sensitivity ``||perturbed_maps[k] - saliency||_F`` divided by
    ``||saliency||_F`` when ``normalise`` (all NaN when that norm is 0).

    ``saliency``: the ``(H, W)`` map of ``x``; ``perturbed_maps``: ``(n, H, W)`` maps of the
    perturbed inputs (from :func:`perturbed_inputs`), same explainer, target and seed.
    """
    m = as_map(saliency)
    p = as_maps(perturbed_maps, m.shape, "perturbed_maps")
    num = np.sqrt(((p - m) ** 2).sum(axis=(1, 2)))
    if not normalise:
        return num
    den = float(np.sqrt((m ** 2).sum()))
    return np.full(len(p), np.nan) if den == 0 else num / den


def avg_sensitivity(saliency, perturbed_maps, *, normalise: bool = True) -> float:
    """Mean of :func:`sensitivities` (Bhatt et al. 2020; Quantus ``AvgSensitivity``);
    ``>= 0``, 0 for a map that does not change; lower is better."""
    return float(np.mean(sensitivities(saliency, perturbed_maps, normalise=normalise)))


def max_sensitivity(saliency, perturbed_maps, *, normalise: bool = True) -> float:
    """Maximum of :func:`sensitivities` (Yeh et al. 2019; Quantus ``MaxSensitivity``);
    ``>= 0``, 0 for a map that does not change; lower is better."""
    return float(np.max(sensitivities(saliency, perturbed_maps, normalise=normalise)))


def _max_normalised(maps: np.ndarray) -> np.ndarray:
    peak = np.abs(maps).max(axis=(-2, -1), keepdims=True)
    return maps / np.where(peak == 0, 1.0, peak)


def lipschitz_quotients(saliency, perturbed_maps, image, perturbed_images, *,
                        normalise: bool = True) -> np.ndarray:
    """``(n,)`` quotients ``||Phi_k - Phi||_2 / ||x'_k - x||_2``; NaN where ``x'_k = x``.

    ``image`` ``(H, W, C)`` and ``perturbed_images`` ``(n, H, W, C)`` (from
    :func:`perturbed_inputs` with ``kind="gaussian"``); ``saliency`` ``(H, W)`` and
    ``perturbed_maps`` ``(n, H, W)`` their maps. ``normalise``: divide each map by its own
    maximum ``|value|`` first (Quantus' default).
    """
    m = as_map(saliency)
    p = as_maps(perturbed_maps, m.shape, "perturbed_maps")
    x = as_image(image)
    xp = as_images(perturbed_images, x.shape, "perturbed_images")
    if x.shape[:2] != m.shape:
        raise ValueError(f"The 'image' is {x.shape[0]}x{x.shape[1]} but the 'saliency' is "
                         f"{m.shape[0]}x{m.shape[1]}.")
    if len(xp) != len(p):
        raise ValueError(f"Got {len(xp)} perturbed images for {len(p)} perturbed maps.")
    if normalise:
        m, p = _max_normalised(m), _max_normalised(p)
    num = np.sqrt(((p - m) ** 2).sum(axis=(1, 2)))
    den = np.sqrt(((xp - x) ** 2).reshape(len(xp), -1).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def local_lipschitz(saliency, perturbed_maps, image, perturbed_images, *,
                    normalise: bool = True) -> float:
    """Maximum of :func:`lipschitz_quotients` over the samples with ``x'_k != x``
    (Alvarez-Melis & Jaakkola 2018; Quantus ``LocalLipschitzEstimate``); ``>= 0``, lower is
    better; NaN when every sample equals ``x``."""
    q = lipschitz_quotients(saliency, perturbed_maps, image, perturbed_images,
                            normalise=normalise)
    q = q[np.isfinite(q)]
    return float(q.max()) if q.size else float("nan")


# ------------------------------------------------------------------------------ the suite
#: The harness's perturbation: uniform noise of this radius per pixel and channel (Captum's
#: ``sensitivity_max`` default), one set per image shared by the three metrics.
HARNESS_RADIUS = 0.02
#: A map that moves under the perturbation although it does not move between images.
_NO_SPREAD = 1e6


def relative(value: float, unrelated: float) -> float:
    """``value / unrelated``: how far the perturbation moved the map, as a fraction of how
    far the maps of other images are (0/0: 1, the map moves with nothing; x/0:
    ``1e6``)."""
    if unrelated > 0:
        return value / unrelated
    return 1.0 if value == 0 else _NO_SPREAD


class Robustness(MapCheck):
    """Average and maximum sensitivity and the local Lipschitz estimate of every map of the
    comparison plans, each relative to the same quantity between the maps of different
    images, against a bound over the images (see :data:`BOUNDS`)."""

    name = "robustness"
    title = "Robustness: maps of slightly perturbed inputs"
    description = "how much a map changes when its input changes a little"
    order = 63
    #: A pass: the relative value is significantly below the bound over the images.
    bounds = {"avg-sensitivity": 0.5, "max-sensitivity": 0.5, "local-lipschitz": 1.0}
    metrics = (
        (Check("avg-sensitivity", "avg-sens", "the mean change of the map under uniform "
               f"noise of radius {HARNESS_RADIUS} (relative to its norm), divided by its "
               "mean change to the same method's maps of the other images; pass when "
               "significantly below 0.5 over the images (one-sided Wilcoxon)",
               "Bhatt et al., IJCAI 2020", "robustness",
               "a map that ignores the input (a constant map, a random map with a fixed "
               "seed) never moves: relative to maps that do not move between images it "
               "scores 1 and fails, and " + GATE),
         ROBUSTNESS_METRICS["avg_sensitivity"]),
        (Check("max-sensitivity", "max-sens", "as avg-sensitivity, the largest change over "
               "the noisy copies", "Yeh et al., NeurIPS 2019", "robustness",
               "as avg-sensitivity"), ROBUSTNESS_METRICS["max_sensitivity"]),
        (Check("local-lipschitz", "lipschitz", "the largest ||map change|| / ||input "
               "change|| over the noisy copies (maps divided by their maxima), divided by "
               "the mean of the same quotient over the other images; pass when "
               "significantly below 1 (the map changes no faster near the image than "
               "between images)", "Alvarez-Melis & Jaakkola, 2018", "robustness",
               "as avg-sensitivity"), ROBUSTNESS_METRICS["local_lipschitz"]),
    )

    def prepare(self, pipeline, ran: dict) -> None:
        """The maps of ``robustness_samples`` noisy copies of every image
        (``result.extra[(model, image)] = (copies, {method: maps})``)."""
        from leg.harness.engine.maps import explain_variants

        res = pipeline.result
        variants = {}
        for (model, img_id), img in res.images.items():
            if model not in ran or not ran[model][0].robustness_samples:
                continue
            copies = perturbed_inputs(img, ran[model][0].robustness_samples, "uniform",
                                      HARNESS_RADIUS, seed=res.profile.seed)
            variants[(model, img_id)] = {f"noise{k}": c for k, c in enumerate(copies)}
        maps = explain_variants(pipeline, ran, variants)
        for (model, img_id), versions in variants.items():
            by_method = {}
            for method in ran[model][1]:
                got = [maps.get((model, img_id, v, method)) for v in versions]
                if all(m is not None for m in got):
                    by_method[method] = np.stack(got)
            res.extra[(model, img_id)] = (np.stack(list(versions.values())), by_method)

    def score(self, check, image, saliency, *, model, image_id, method, result, **_):
        copies, by_method = result.extra.get((model, image_id), (None, {}))
        if method not in by_method:
            return None
        others = [(result.images[(m, i)], result.maps[(m, i, method)])
                  for (m, i) in result.images
                  if m == model and i != image_id and (m, i, method) in result.maps]
        if not others:
            return None
        other_images = np.stack([o[0] for o in others])
        other_maps = np.stack([o[1] for o in others])
        if check == "local-lipschitz":
            raw = local_lipschitz(saliency, by_method[method], image, copies)
            spread = np.nanmean(lipschitz_quotients(saliency, other_maps, image,
                                                    other_images))
        else:
            near = sensitivities(saliency, by_method[method])
            raw = float(np.mean(near) if check == "avg-sensitivity" else np.max(near))
            spread = float(np.mean(sensitivities(saliency, other_maps)))
        if not (np.isfinite(raw) and np.isfinite(spread)):
            return None
        return relative(raw, spread), raw

    def price(self, profile, images_dir, models) -> list:
        return price_variants(self.name, profile, images_dir, models,
                              lambda plan: plan.robustness_samples, "noisy copies")


SUITE = Robustness()

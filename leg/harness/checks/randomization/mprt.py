"""Efficient and smooth MPRT (Hedström et al., TMLR 2024), matched to Quantus 0.6.

Two repairs of the model-parameter randomisation test (MPRT, Adebayo et al. 2018), as
Quantus implements them (``quantus.EfficientMPRT`` and ``quantus.SmoothMPRT``); where this
module differs, it says so. ``benchmarks/quantus_crosscheck.py`` compares the numbers.

eMPRT (efficient MPRT)
    The *complexity* of a map is the discrete entropy of its value histogram
    (:func:`complexity`, Quantus ``discrete_entropy``): ``np.histogram(map, bins=n_bins)``
    over the map's own ``[min, max]`` (equal-width bins), then
    ``scipy.stats.entropy(counts)`` in nats — ``-sum p_b log p_b`` with ``p_b`` the
    fraction of pixels in bin ``b``. So it lies in ``[0, log(min(n_bins, H*W))]``, is 0
    for a constant map, and does not change when the map is multiplied by a positive
    constant (Quantus' default ``normalise_by_average_second_moment_estimate`` is such a
    constant, so normalising or not gives the same score). Quantus' eMPRT score of an image
    is the *relative rise* ``(H(randomized) - H(original)) / H(original)`` between the
    original and the fully randomized model (``evaluation_scores``; higher is better);
    ``b / a`` is its ``scores_fraction_explanation``. Defaults here: ``n_bins=100`` (Quantus
    without a ``rule``), ``absolute=True`` (the histogram of ``|map|``, the issue's
    definition and Quantus with ``abs=True``; Quantus' own default is ``abs=False``, the
    signed map — pass ``absolute=False`` to match it). ``kind="shannon"`` is the other
    Quantus complexity, ``entropy``: Shannon entropy of ``|map| / sum |map|`` over pixels.

    Verdict (ours: Quantus reports the score only). A model-independent map does not
    change under randomization, so its rise is 0 whatever its complexity; a map that is
    already noise is already maximally complex, so its rise is about 0 too. Pass iff the
    median rise over images exceeds ``margin`` plus the ``quantile`` of ``|rise|`` between
    two explanations of the *original* model under different seeds (the rise estimation
    noise alone gives; 0 for a deterministic method): :func:`emprt_threshold`,
    :func:`emprt_verdict`. A constant original or randomized map (complexity 0) makes the
    case ``"degenerate"``. Per-image numbers (:class:`EMPRTResult`) are for the paired
    statistics (original vs randomized complexity of the same image).

sMPRT (smooth MPRT)
    Each explanation is averaged over ``n`` copies of the input before the usual MPRT
    similarity: ``n - 1`` copies with Gaussian noise of standard deviation
    ``sigma * (max(x) - min(x))`` (over all pixels and channels of that image) and, last,
    the image itself (Quantus' ``nr_samples=50``, ``noise_magnitude=0.1``, the last copy
    noiseless; no clipping). Quantus then takes ``|mean map|``, normalises it (a positive
    constant) and scores the Spearman rank correlation between the original and the
    randomized model's smoothed maps —
    :func:`leg.harness.checks.randomization.similarity.spearman_abs` exactly,
    the default ``metric`` here. Differences: the noise is seeded (``seed``; Quantus draws
    from NumPy's global generator), the original and the randomized model see the *same*
    noisy copies (common random numbers, as in the rest of the sanity suite), and
    ``clip=(0, 1)`` keeps the copies in the explainers' declared image range (Quantus does
    not clip).

    LEG and sMPRT. LEG's map is already an average over noisy copies of the input (a
    regression on many perturbations of ``x``), so sMPRT's outer average mostly widens
    LEG's perturbation distribution (noise of ``sigma`` around each noisy copy) and
    multiplies its sample count by ``n``; expect sMPRT to change LEG's verdict less than
    the gradient's. Sharing: the last (noiseless) copy *is* the ordinary explanation; pass
    it as ``clean_map`` (the map the cascading check already computed with the same seed)
    and only ``n - 1`` explanations are new. With ``indexed=True`` the explainer gets the
    copy index ``k`` (``explain(image, k)``), so a stochastic explainer can use seed
    ``seed + k`` and copy ``n - 1`` keeps the ordinary seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from leg.harness.checks.metrics import Metric, register

__all__ = [
    "COMPLEXITY_KINDS",
    "EMPRTResult",
    "complexity",
    "emprt",
    "emprt_threshold",
    "emprt_verdict",
    "noisy_copies",
    "smooth_explanation",
    "smprt",
]

COMPLEXITY_KINDS = ("discrete", "shannon")
#: Default histogram bins (Quantus ``EfficientMPRT`` without a ``rule``).
N_BINS = 100
#: Default eMPRT margin: the median relative rise must exceed this (plus reseed noise).
EMPRT_MARGIN = 0.01

register(Metric("complexity_rise", True, "Relative rise of the map's complexity (entropy of "
                "the |map| histogram) from the original to the fully randomized model (eMPRT).",
                "randomization", reference="Hedström et al., TMLR 2024"))


def _map(saliency, name: str = "saliency") -> np.ndarray:
    m = np.asarray(saliency, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"The {name} must be an (H, W) map; got shape {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"The {name} has NaN or inf values.")
    return m


def complexity(saliency, *, n_bins: int = N_BINS, absolute: bool = True,
               kind: str = "discrete") -> float:
    """Complexity of an ``(H, W)`` map in nats, ``[0, log(H*W)]``; 0 for a constant map.

    ``kind="discrete"``: entropy of the ``n_bins``-bin histogram of the map (of ``|map|``
    when ``absolute``) over its own range (Quantus ``discrete_entropy``). ``"shannon"``:
    entropy of ``|map| / sum |map|`` (Quantus ``entropy``; 0 for an all-zero map).
    """
    from scipy.stats import entropy

    m = _map(saliency)
    if kind not in COMPLEXITY_KINDS:
        raise ValueError(f"Unknown complexity kind {kind!r}; choose one of "
                         f"{list(COMPLEXITY_KINDS)}.")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    if kind == "shannon":
        a = np.abs(m).ravel()
        total = a.sum()
        return 0.0 if total == 0 else float(entropy(a / total))
    counts, _ = np.histogram(np.abs(m) if absolute else m, bins=int(n_bins))
    return float(entropy(counts))


@dataclass(frozen=True)
class EMPRTResult:
    """Per-image eMPRT numbers, shape ``(N,)`` each (image order as given).

    ``complexity_original`` / ``complexity_randomized``: :func:`complexity` of the original
    and the fully randomized model's map; ``degenerate``: either map is constant (or the
    original complexity is 0, so the rise is undefined).
    """

    complexity_original: np.ndarray
    complexity_randomized: np.ndarray
    degenerate: np.ndarray

    @property
    def rise(self) -> np.ndarray:
        """Relative rise ``(b - a) / a`` (Quantus' eMPRT score); NaN where degenerate."""
        a, b = self.complexity_original, self.complexity_randomized
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.degenerate, np.nan, (b - a) / a)

    @property
    def fraction(self) -> np.ndarray:
        """``b / a`` (Quantus ``scores_fraction_explanation``); 1 for an unchanged map."""
        return self.rise + 1.0

    def rows(self, image_ids: Sequence[str] | None = None) -> list[dict]:
        """One dict per image: ``image``, both complexities, ``rise``, ``degenerate``."""
        ids = list(image_ids) if image_ids is not None else [str(i) for i in
                                                              range(len(self.degenerate))]
        if len(ids) != len(self.degenerate):
            raise ValueError(f"Got {len(ids)} image ids for {len(self.degenerate)} images.")
        return [{"image": i, "complexity_original": float(a), "complexity_randomized": float(b),
                 "rise": float(r), "degenerate": bool(d)}
                for i, a, b, r, d in zip(ids, self.complexity_original,
                                         self.complexity_randomized, self.rise,
                                         self.degenerate, strict=True)]


def emprt(original_maps, randomized_maps, *, n_bins: int = N_BINS, absolute: bool = True,
          kind: str = "discrete") -> EMPRTResult:
    """eMPRT of ``N`` images: ``original_maps`` and ``randomized_maps`` are ``(N, H, W)``
    (or sequences of ``(H, W)`` maps), the same image at the same index."""
    from leg.harness.checks.randomization.similarity import is_degenerate

    orig, rand = list(original_maps), list(randomized_maps)
    if len(orig) != len(rand) or not orig:
        raise ValueError(f"eMPRT needs as many original as randomized maps, at least one; got "
                         f"{len(orig)} and {len(rand)}.")
    a = np.array([complexity(m, n_bins=n_bins, absolute=absolute, kind=kind) for m in orig])
    b = np.array([complexity(m, n_bins=n_bins, absolute=absolute, kind=kind) for m in rand])
    flat = np.array([is_degenerate(o) or is_degenerate(r) or ca <= 0
                     for o, r, ca in zip(orig, rand, a, strict=True)])
    return EMPRTResult(a, b, flat)


def emprt_threshold(reseed_rises=None, *, quantile: float = 0.95,
                    margin: float = EMPRT_MARGIN) -> float:
    """``margin`` plus the ``quantile`` of ``|reseed_rises|`` (the relative complexity
    change between two seeds of the original model; none or all NaN: 0)."""
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must lie in [0, 1]; got {quantile}.")
    noise = 0.0
    if reseed_rises is not None:
        r = np.abs(np.asarray(reseed_rises, dtype=np.float64).ravel())
        r = r[np.isfinite(r)]
        if r.size:
            noise = float(np.quantile(r, quantile))
    return float(margin + noise)


def emprt_verdict(rises, reseed_rises=None, *, quantile: float = 0.95,
                  margin: float = EMPRT_MARGIN, degenerate: bool = False) -> str:
    """``"pass"`` iff the median relative complexity rise over images exceeds
    :func:`emprt_threshold`, else ``"fail"``; ``"degenerate"`` when ``degenerate`` or a rise
    is not finite (a constant map)."""
    r = np.atleast_1d(np.asarray(rises, dtype=np.float64))
    if degenerate or r.size == 0 or not np.all(np.isfinite(r)):
        return "degenerate"
    return "pass" if float(np.median(r)) > emprt_threshold(
        reseed_rises, quantile=quantile, margin=margin) else "fail"


# ---------------------------------------------------------------------------------- sMPRT
def noisy_copies(image, n: int = 50, sigma: float = 0.1, *, seed: int = 0,
                 clip: tuple[float, float] | None = None) -> np.ndarray:
    """``(n, *image.shape)``: ``n - 1`` copies of ``image`` with Gaussian noise of standard
    deviation ``sigma * (max - min)`` of the image, then the image itself; clipped to
    ``clip = (lo, hi)`` when given (Quantus does not clip; the harness's explainers need
    ``[0, 1]`` images, so it passes ``(0, 1)``)."""
    x = np.asarray(image, dtype=np.float64)
    if int(n) != n or n < 1:
        raise ValueError(f"n (noisy copies) must be a positive integer; got {n!r}.")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 (a fraction of the image's range); got {sigma}.")
    std = sigma * float(x.max() - x.min())
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((int(n) - 1, *x.shape)) * std
    out = np.concatenate([x[None] + noise, x[None]], axis=0)
    return out if clip is None else np.clip(out, *clip)


def smooth_explanation(explain: Callable, image, *, n: int = 50, sigma: float = 0.1,
                       seed: int = 0, indexed: bool = False, clean_map=None,
                       clip: tuple[float, float] | None = None) -> np.ndarray:
    """Mean ``(H, W)`` map of ``explain`` over :func:`noisy_copies` of ``image``.

    ``explain``: ``image -> (H, W)`` map (``(image, k) -> map`` with ``indexed=True``, ``k``
    the copy index, ``n - 1`` the noiseless copy). ``clean_map``: the map of the noiseless
    copy when already known (it is then not recomputed). ``clip``: see :func:`noisy_copies`.
    """
    copies = noisy_copies(image, n, sigma, seed=seed, clip=clip)
    total = None
    for k, x in enumerate(copies):
        if k == len(copies) - 1 and clean_map is not None:
            m = _map(clean_map, "clean_map")
        else:
            m = _map(explain(x, k) if indexed else explain(x), "explainer's map")
        if total is not None and m.shape != total.shape:
            raise ValueError(f"The explainer returned maps of shapes {total.shape} and {m.shape}.")
        total = m.copy() if total is None else total + m
    return total / len(copies)


def smprt(explain_original: Callable, explain_randomized: Callable, images, *, n: int = 50,
          sigma: float = 0.1, seed: int = 0, metric: str = "spearman_abs",
          indexed: bool = False, clip: tuple[float, float] | None = None) -> dict:
    """sMPRT of ``images`` (``(N, H, W, C)`` or a sequence): per image, the similarity
    ``metric`` (:data:`leg.harness.checks.randomization.similarity.SIMILARITIES`) of the two
    models' smoothed maps.

    Image ``i`` uses noise seed ``seed + i`` for both models (common random numbers).
    Returns ``similarity`` ``(N,)``, ``original`` and ``randomized`` ``(N, H, W)`` smoothed
    maps.
    """
    from leg.harness.checks.randomization.similarity import similarity

    orig, rand = [], []
    for i, img in enumerate(images):
        kw = {"n": n, "sigma": sigma, "seed": seed + i, "indexed": indexed, "clip": clip}
        orig.append(smooth_explanation(explain_original, img, **kw))
        rand.append(smooth_explanation(explain_randomized, img, **kw))
    if not orig:
        raise ValueError("sMPRT needs at least one image.")
    sims = np.array([similarity(metric, a, b) for a, b in zip(orig, rand, strict=True)])
    return {"similarity": sims, "original": np.stack(orig), "randomized": np.stack(rand)}

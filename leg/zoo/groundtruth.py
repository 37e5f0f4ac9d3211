"""Synthetic classifiers whose true saliency is known exactly.

Every model here is a two-class classifier on ``(N, H, W, C)`` images in ``[0, 1]``:

    p(x) = sigmoid(g(x)),      output = [p, 1 - p],

where the logit ``g`` is a smooth function of the *means of a few image regions*,

    m_r(x) = (1 / (|R_r| * C)) * sum_{(i, j) in R_r, c} x[i, j, c],

so its gradient with respect to every pixel value is known in closed form:

    dp/dx[i, j, c] = p (1 - p) * sum_r (dg/dm_r) * 1[(i, j) in R_r] / (|R_r| * C).

They are the only place where a saliency map can be called *correct*: compare an estimate
with :meth:`GroundTruthModel.true_map` at :meth:`GroundTruthModel.base_image`. Each logit is
zero on a uniform mid-grey image, so the models are far from saturation near mid-grey.

Three families (regions are placed in proportion to the image size, so they need not align
with any grid of cells):

* :func:`linear_region` -- ``g`` linear in the pixels, piecewise-constant weights on two
  rectangles (one positive, one negative); the truth is piecewise constant up to ``p(1-p)``.
* :func:`smooth_region_means` -- ``g`` a smooth non-linear function (``tanh`` of a contrast
  plus a sigmoid-gated product) of the means of three rectangles.
* :func:`two_object_contrast` -- two discs, ``g = a * mean(A) - b * mean(B) + const``.

:func:`ground_truth_suite` returns all three at several image sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import expit

from leg._validation import check_int

__all__ = [
    "GroundTruthModel",
    "linear_region",
    "smooth_region_means",
    "two_object_contrast",
    "ground_truth_suite",
]

# |g| below this keeps p = sigmoid(g) inside (0.35, 0.65) at the base image.
_MAX_BASE_LOGIT = 0.6


class GroundTruthModel:
    """A two-class classifier ``[p, 1 - p]`` with ``p = sigmoid(g(region means))``.

    Parameters
    ----------
    name : str
        Identifier used in reports, e.g. ``"linear_region_28x28x3"``.
    image_shape : tuple of int
        ``(H, W, C)`` of the images the model accepts.
    regions : mapping of str to ndarray
        Region name -> boolean mask of shape ``(H, W)`` (non-empty). The region mean averages
        over the masked pixels and over all ``C`` channels.
    link : callable
        ``link(m) -> g``: maps region means of shape ``(N, R)`` (columns in the order of
        ``regions``) to logits of shape ``(N,)``.
    link_grad : callable
        ``link_grad(m) -> dg/dm`` of shape ``(N, R)``: the exact gradient of ``link``.
    target : {0, 1}, default 0
        Column of the output whose gradient :meth:`true_gradient` returns (0: ``p``).
    description : str, default ""
        The formula of ``g`` in words, for reports.

    Attributes
    ----------
    name, image_shape, target, description
        As given.
    regions : dict of str to ndarray
        The boolean ``(H, W)`` masks.
    """

    def __init__(self, name: str, image_shape: tuple[int, int, int],
                 regions: Mapping[str, np.ndarray],
                 link: Callable[[np.ndarray], np.ndarray],
                 link_grad: Callable[[np.ndarray], np.ndarray], *, target: int = 0,
                 description: str = ""):
        if not isinstance(name, str) or not name:
            raise TypeError(f"The 'name' parameter must be a non-empty string; got {name!r}.")
        shape = tuple(image_shape)
        if len(shape) != 3:
            raise ValueError(
                f"The 'image_shape' parameter must be a tuple (H, W, C); got {image_shape!r}."
            )
        h = check_int(shape[0], "image_shape[0]", minimum=2)
        w = check_int(shape[1], "image_shape[1]", minimum=2)
        c = check_int(shape[2], "image_shape[2]", minimum=1)
        check_int(target, "target", minimum=0)
        if target > 1:
            raise ValueError(f"The 'target' parameter must be 0 or 1; got {target}.")
        if not regions:
            raise ValueError("The 'regions' parameter must hold at least one mask; got none.")
        masks = {}
        for key, mask in regions.items():
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (h, w):
                raise ValueError(
                    f"The 'regions' mask {key!r} must have shape ({h}, {w}); got {mask.shape}."
                )
            if not mask.any():
                raise ValueError(f"The 'regions' mask {key!r} must be non-empty; got no pixels.")
            masks[key] = mask
        self.name = name
        self.image_shape: tuple[int, int, int] = (h, w, c)
        self.target = int(target)
        self.description = description
        self.regions = masks
        self._link = link
        self._link_grad = link_grad
        stacked = np.stack([m.ravel() for m in masks.values()]).astype(np.float64)
        # (R, H*W): averaging weights of each region (the 1/C for the channels comes later).
        self._weights = stacked / stacked.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return f"GroundTruthModel(name={self.name!r}, image_shape={self.image_shape})"

    # -- input checks ---------------------------------------------------------------------
    def _check_batch(self, images) -> np.ndarray:
        try:
            x = np.asarray(images, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The 'images' parameter must be a numeric array; got {type(images).__name__}."
            ) from exc
        if x.shape == self.image_shape:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != self.image_shape:
            h, w, c = self.image_shape
            raise ValueError(
                f"The 'images' parameter must have shape (N, {h}, {w}, {c}) for model "
                f"{self.name!r}; got shape {x.shape}."
            )
        return x

    def _check_image(self, image) -> np.ndarray:
        try:
            x = np.asarray(image, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The 'image' parameter must be a numeric array; got {type(image).__name__}."
            ) from exc
        h, w, c = self.image_shape
        if c == 1 and x.shape == (h, w):
            x = x[:, :, None]
        if x.shape != self.image_shape:
            raise ValueError(
                f"The 'image' parameter must have shape ({h}, {w}, {c}) for model "
                f"{self.name!r} (one image, no batch axis); got shape {x.shape}."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("The 'image' parameter must be finite; got NaN or inf values.")
        return x

    # -- the model ------------------------------------------------------------------------
    def region_means(self, images: np.ndarray) -> np.ndarray:
        """Region means ``m`` of shape ``(N, R)`` of ``(N, H, W, C)`` images."""
        x = self._check_batch(images)
        n = x.shape[0]
        pixel_means = x.reshape(n, -1, self.image_shape[2]).mean(axis=2)  # (N, H*W)
        return pixel_means @ self._weights.T

    def score(self, images: np.ndarray) -> np.ndarray:
        """The logit ``g(x)`` of shape ``(N,)`` for ``(N, H, W, C)`` images."""
        return np.asarray(self._link(self.region_means(images)), dtype=np.float64)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``[p, 1 - p]`` of shape ``(N, 2)``, float64.

        Parameters
        ----------
        images : ndarray of shape (N, H, W, C)
            Values are meant to lie in ``[0, 1]``; values outside are accepted (perturbed
            images need not be clipped) and the formula is applied as is. A single image of
            shape ``(H, W, C)`` is treated as a batch of one.
        """
        g = self.score(images)
        return np.stack([expit(g), expit(-g)], axis=1)

    def true_gradient(self, image: np.ndarray) -> np.ndarray:
        """Exact gradient of the target-class probability w.r.t. the pixel values.

        Parameters
        ----------
        image : ndarray of shape (H, W, C)
            Where to take the gradient (``(H, W)`` accepted for one channel).

        Returns
        -------
        ndarray of shape (H, W, C), float64
            ``d output[target] / d image[i, j, c]``.
        """
        x = self._check_image(image)
        h, w, c = self.image_shape
        m = x.reshape(1, -1, c).mean(axis=2) @ self._weights.T  # (1, R)
        g = float(np.asarray(self._link(m), dtype=np.float64)[0])
        dg_dm = np.asarray(self._link_grad(m), dtype=np.float64).reshape(-1)  # (R,)
        p = expit(g)
        dp_dg = p * (1.0 - p) * (1.0 if self.target == 0 else -1.0)
        per_pixel = (dg_dm @ self._weights).reshape(h, w) / c
        return np.repeat((dp_dg * per_pixel)[:, :, None], c, axis=2)

    def gradient(self, images: np.ndarray, target: int, *, score: str = "probability"
                 ) -> np.ndarray:
        """Exact gradient of a class score w.r.t. the pixels of every image: ``(N, H, W, C)``.

        The same call shape as :meth:`leg.models.KerasClassifier.gradient`, so the
        gradient baselines (gradient, SmoothGrad, Integrated Gradients) run on these
        models. Perturbed images need not lie in ``[0, 1]``.

        Parameters
        ----------
        images : ndarray of shape (N, H, W, C)
            A single ``(H, W, C)`` image is a batch of one.
        target : {0, 1}
            Output column: 0 is ``p``, 1 is ``1 - p``.
        score : {"probability", "logit"}, default "probability"
            ``"probability"`` differentiates the output column (what ``__call__`` returns);
            ``"logit"`` its log-odds, ``g`` for class 0 and ``-g`` for class 1.
        """
        x = self._check_batch(images)
        if isinstance(target, bool) or target not in (0, 1):
            raise ValueError(f"The 'target' parameter must be 0 or 1; got {target!r}.")
        if score not in ("probability", "logit"):
            raise ValueError(
                f"The 'score' parameter must be one of ['logit', 'probability']; got {score!r}."
            )
        n = x.shape[0]
        h, w, c = self.image_shape
        m = self.region_means(x)  # (N, R)
        dg_dm = np.asarray(self._link_grad(m), dtype=np.float64).reshape(n, -1)  # (N, R)
        sign = 1.0 if target == 0 else -1.0
        if score == "probability":
            p = expit(np.asarray(self._link(m), dtype=np.float64))
            scale = sign * p * (1.0 - p)
        else:
            scale = np.full(n, sign)
        per_pixel = (dg_dm @ self._weights).reshape(n, h, w) * (scale / c)[:, None, None]
        return np.repeat(per_pixel[..., None], c, axis=3)

    # -- removal effects in closed form (the targets of removal-based methods) -----------------
    def _target_probability(self, m: np.ndarray) -> np.ndarray:
        """The output column ``target`` at region means ``m`` ``(N, R)``: ``(N,)``."""
        g = np.asarray(self._link(m), dtype=np.float64)
        return expit(g) if self.target == 0 else expit(-g)

    def _contributions(self, image, fill) -> tuple[np.ndarray, np.ndarray]:
        """``(x, d)``: the checked image and ``d = w_r * mean_c(x - fill)``, ``(R, H*W)``."""
        x = self._check_image(image)
        b = self._check_image(fill)
        d = (x - b).mean(axis=2).reshape(-1)
        return x, self._weights * d[None, :]

    def removal_effects(self, image: np.ndarray, fill: np.ndarray,
                        masks: np.ndarray) -> np.ndarray:
        """Exact drop of the target probability when each mask's pixels show ``fill``.

        Computed from the regions and the link (no call of the model): the region means
        move by ``-sum_{pixels in mask} w_r * mean_c(x - fill)``.

        Parameters
        ----------
        image, fill : ndarray of shape (H, W, C)
            The explained image and what replaces removed pixels.
        masks : ndarray of shape (K, H, W), bool
            The pixels removed in each of ``K`` cases.

        Returns
        -------
        ndarray of shape (K,)
            ``p(x) - p(x with mask k filled)`` for the target column.
        """
        x, contrib = self._contributions(image, fill)
        h, w, _ = self.image_shape
        masks = np.asarray(masks, dtype=np.float64)
        if masks.ndim != 3 or masks.shape[1:] != (h, w):
            raise ValueError(
                f"The 'masks' parameter must have shape (K, {h}, {w}); got {masks.shape}."
            )
        m = self.region_means(x)  # (1, R)
        moved = m - masks.reshape(len(masks), -1) @ contrib.T  # (K, R)
        return self._target_probability(m)[0] - self._target_probability(moved)

    def _game(self, image, fill, segments) -> tuple[np.ndarray, np.ndarray]:
        """``(m0, A)``: region means with every segment off (the fill) and each segment's
        shift of them when on, ``(R,)`` and ``(R, M)``."""
        _, contrib = self._contributions(image, fill)
        h, w, _ = self.image_shape
        seg = np.asarray(segments)
        if seg.shape != (h, w) or not np.issubdtype(seg.dtype, np.integer) or seg.min() < 0:
            raise ValueError(
                f"The 'segments' parameter must be non-negative integer labels of shape "
                f"({h}, {w}); got shape {seg.shape} and dtype {seg.dtype}."
            )
        n = int(seg.max()) + 1
        a = np.stack([np.bincount(seg.ravel(), weights=row, minlength=n) for row in contrib])
        return self.region_means(self._check_image(fill))[0], a

    def coalition_scores(self, image: np.ndarray, fill: np.ndarray, segments: np.ndarray,
                         z: np.ndarray) -> np.ndarray:
        """Exact target probability of ``z * image + (1 - z) * fill`` per segment.

        Parameters
        ----------
        image, fill : ndarray of shape (H, W, C)
        segments : ndarray of shape (H, W), int
            Labels ``0 .. M-1`` (the players).
        z : ndarray of shape (N, M)
            1 keeps a segment, 0 fills it.

        Returns
        -------
        ndarray of shape (N,)
        """
        m0, a = self._game(image, fill, segments)
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if z.shape[1] != a.shape[1]:
            raise ValueError(f"The 'z' parameter must have {a.shape[1]} columns (one per "
                             f"segment); got shape {z.shape}.")
        return self._target_probability(m0 + z @ a.T)

    def shapley_values(self, image: np.ndarray, fill: np.ndarray, segments: np.ndarray, *,
                       exact_limit: int = 22, n_permutations: int = 40000,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Shapley values of the segments for ``v(z)`` of :meth:`coalition_scores`.

        Segments that touch no region, or whose pixels equal the fill on average over every
        region's weights, are null players (value 0); removing them leaves the others'
        values unchanged. With at most ``exact_limit`` other players the values are exact
        (every coalition enumerated, ``2**M'`` closed-form evaluations). Beyond that they are
        the mean over ``n_permutations`` random orders (antithetic pairs, seeded) of the
        closed-form game, with their standard errors.

        Returns
        -------
        values, standard_errors : ndarray of shape (M,)
            The errors are 0 where the values are exact.
        """
        m0, a = self._game(image, fill, segments)
        check_int(exact_limit, "exact_limit", minimum=0)
        check_int(n_permutations, "n_permutations", minimum=2)
        n = a.shape[1]
        players = np.flatnonzero(np.any(a != 0, axis=0))
        k = len(players)
        values, errors = np.zeros(n), np.zeros(n)
        if k == 0:
            return values, errors
        ap = a[:, players]  # (R, k)
        if k <= exact_limit:
            values[players] = _exact_shapley(lambda m: self._target_probability(m), m0, ap)
            return values, errors
        rng = np.random.default_rng(seed)
        half = n_permutations // 2
        total, total_sq, count = np.zeros(k), np.zeros(k), 0
        for start in range(0, half, 2500):
            orders = rng.permuted(np.tile(np.arange(k), (min(2500, half - start), 1)), axis=1)
            orders = np.concatenate([orders, orders[:, ::-1]])  # antithetic
            steps = np.cumsum(ap.T[orders], axis=1)  # (P, k, R)
            path = np.concatenate([np.broadcast_to(m0, (len(orders), 1, len(m0))),
                                   m0 + steps], axis=1)
            v = self._target_probability(path.reshape(-1, len(m0))).reshape(len(orders), -1)
            marginal = np.empty_like(orders, dtype=np.float64)
            np.put_along_axis(marginal, orders, np.diff(v, axis=1), axis=1)
            pairs = marginal.reshape(2, -1, k).mean(axis=0)  # antithetic pair means
            total += pairs.sum(axis=0)
            total_sq += (pairs ** 2).sum(axis=0)
            count += len(pairs)
        mean = total / count
        values[players] = mean
        errors[players] = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0) / count)
        return values, errors

    def path_attribution(self, image: np.ndarray, baseline: np.ndarray, *,
                         nodes: int = 64) -> np.ndarray:
        """Integrated gradients' exact target: ``(x - b) * integral_0^1 grad p(b + t(x - b)) dt``,
        summed over channels, ``(H, W)``.

        The integral of the exact gradient is taken by ``nodes``-point Gauss-Legendre
        quadrature (the integrand is smooth; 64 nodes reach machine precision on these
        models); the map sums to ``p(x) - p(b)`` (completeness).
        """
        x = self._check_image(image)
        b = self._check_image(baseline)
        check_int(nodes, "nodes", minimum=1)
        t, wq = np.polynomial.legendre.leggauss(nodes)
        t, wq = (t + 1.0) / 2.0, wq / 2.0
        grads = self.gradient(b[None] + t[:, None, None, None] * (x - b)[None], self.target)
        return ((x - b) * np.tensordot(wq, grads, axes=1)).sum(axis=2)

    def true_map(self, image: np.ndarray) -> np.ndarray:
        """The true saliency map: :meth:`true_gradient` summed over channels, shape ``(H, W)``."""
        return self.true_gradient(image).sum(axis=2)

    def base_image(self, seed: int = 0) -> np.ndarray:
        """A reproducible image at which to explain, shape ``(H, W, C)``, float64.

        A smooth random texture (Gaussian-filtered noise, a shared luminance part plus a
        weaker per-channel part) around mid-grey 0.5, with values within about 0.5 +/- 0.16,
        so far inside ``(0, 1)``. If the texture pushes the target probability outside
        ``(0.35, 0.65)``, its amplitude is reduced until it does not (for the models of this
        module the logit is 0 at uniform grey, so this always succeeds).

        Parameters
        ----------
        seed : int, default 0
            Seed of the texture; the same seed gives the same image.
        """
        seed = check_int(seed, "seed", minimum=0)
        h, w, c = self.image_shape
        rng = np.random.default_rng(seed)
        blur = max(1.0, min(h, w) / 7.0)

        def texture(shape):
            t = gaussian_filter(rng.standard_normal(shape), sigma=(blur, blur, 0)[:len(shape)],
                                mode="wrap")
            return t / max(np.abs(t).max(), 1e-12)

        luminance = texture((h, w))[:, :, None]
        colour = texture((h, w, c)) if c > 1 else np.zeros((h, w, 1))
        pattern = luminance + 0.3 * colour
        amplitude = 0.12
        image = 0.5 + amplitude * pattern
        for _ in range(30):
            if abs(float(self.score(image)[0])) <= _MAX_BASE_LOGIT:
                break
            amplitude *= 0.7
            image = 0.5 + amplitude * pattern
        return image


def _exact_shapley(value: Callable[[np.ndarray], np.ndarray], m0: np.ndarray,
                   a: np.ndarray) -> np.ndarray:
    """Exact Shapley values of ``k`` players for ``v(S) = value(m0 + sum_{j in S} a[:, j])``
    by enumerating all ``2**k`` coalitions (in blocks of at most ``2**16``): ``(k,)``."""
    from scipy.special import gammaln

    k = a.shape[1]
    sizes = np.arange(k + 1)
    # w(s) = s! (k - s - 1)! / k! for a coalition of size s not containing the player.
    w = np.zeros(k + 1)
    w[:k] = np.exp(gammaln(sizes[:k] + 1) + gammaln(k - sizes[:k]) - gammaln(k + 1))
    w_in = np.concatenate([[0.0], w[:k]])  # coalition S containing the player: w(|S| - 1)
    low = min(k, 16)
    codes = np.arange(2 ** low)
    bits_low = ((codes[:, None] >> np.arange(low)) & 1).astype(np.float64)  # (2^low, low)
    m_low = bits_low @ a[:, :low].T
    size_low = bits_low.sum(axis=1).astype(int)
    phi = np.zeros(k)
    for high in range(2 ** (k - low)):
        bits_high = ((high >> np.arange(k - low)) & 1).astype(np.float64)
        v = value(m0 + a[:, low:] @ bits_high + m_low)
        s = size_low + int(bits_high.sum())
        plus, minus = v * w_in[s], v * w[s]
        phi[:low] += bits_low.T @ plus - (1.0 - bits_low).T @ minus
        phi[low:] += np.where(bits_high > 0, plus.sum(), -minus.sum())
    return phi


# -- region helpers -------------------------------------------------------------------------
def _check_shape(height, width, channels) -> tuple[int, int, int]:
    h = check_int(height, "height", minimum=8)
    w = check_int(width, "width", minimum=8)
    c = check_int(channels, "channels", minimum=1)
    return h, w, c


def _rect(h: int, w: int, top: float, left: float, bottom: float, right: float) -> np.ndarray:
    """Boolean (h, w) mask of rows [top*h, bottom*h) and columns [left*w, right*w), rounded."""
    r0, r1 = round(top * h), max(round(bottom * h), round(top * h) + 1)
    c0, c1 = round(left * w), max(round(right * w), round(left * w) + 1)
    mask = np.zeros((h, w), dtype=bool)
    mask[r0:r1, c0:c1] = True
    return mask


def _disc(h: int, w: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """Pixels whose centre lies within ``radius * min(h, w)`` of ``(cy * h, cx * w)``."""
    rows = np.arange(h)[:, None] + 0.5
    cols = np.arange(w)[None, :] + 0.5
    r = radius * min(h, w)
    return (rows - cy * h) ** 2 + (cols - cx * w) ** 2 <= r ** 2


def _size_tag(h: int, w: int, c: int) -> str:
    return f"{h}x{w}x{c}"


# -- the three families ---------------------------------------------------------------------
def linear_region(height: int = 28, width: int = 28, channels: int = 3) -> GroundTruthModel:
    """A logit linear in the pixels with piecewise-constant weights on two rectangles.

    ``g(x) = 10 * (mean_P(x) - 0.5) - 5 * (mean_N(x) - 0.5)``, i.e. ``g = c + sum w * x``
    with weight ``+10 / (|P| C)`` on every pixel and channel of rectangle ``P`` (rows
    20-55 %, columns 15-50 % of the image), ``-5 / (|N| C)`` on rectangle ``N`` (rows
    60-85 %, columns 55-85 %), zero elsewhere, and ``c = -2.5``.

    Parameters
    ----------
    height, width, channels : int, default 28, 28, 3
        Image shape ``(H, W, C)``; ``H, W >= 8``.

    Returns
    -------
    GroundTruthModel
        Its true map is ``p(1-p)`` times those weights (times ``C``): piecewise constant.
    """
    h, w, c = _check_shape(height, width, channels)
    regions = {
        "positive": _rect(h, w, 0.20, 0.15, 0.55, 0.50),
        "negative": _rect(h, w, 0.60, 0.55, 0.85, 0.85),
    }
    coef = np.array([10.0, -5.0])

    def link(m):
        return (m - 0.5) @ coef

    def link_grad(m):
        return np.broadcast_to(coef, m.shape)

    return GroundTruthModel(
        f"linear_region_{_size_tag(h, w, c)}", (h, w, c), regions, link, link_grad,
        description="g = 10*(mean(positive) - 0.5) - 5*(mean(negative) - 0.5)",
    )


def smooth_region_means(height: int = 28, width: int = 28,
                        channels: int = 3) -> GroundTruthModel:
    """A smooth non-linear logit of the means of three rectangles.

    With ``u_r = mean_r(x) - 0.5`` for rectangles ``A`` (rows 15-45 %, columns 10-45 %),
    ``B`` (rows 15-45 %, columns 55-90 %) and ``C`` (rows 60-90 %, columns 25-75 %):

        g = 4 tanh(6 (u_A - u_B)) + 8 u_C sigmoid(10 u_A).

    The first term is a saturating contrast between ``A`` and ``B``; the second lets ``C``
    count more when ``A`` is bright (an interaction). The true map is constant within
    each rectangle but its levels depend on the image.

    Parameters
    ----------
    height, width, channels : int, default 28, 28, 3
        Image shape ``(H, W, C)``; ``H, W >= 8``.
    """
    h, w, c = _check_shape(height, width, channels)
    regions = {
        "A": _rect(h, w, 0.15, 0.10, 0.45, 0.45),
        "B": _rect(h, w, 0.15, 0.55, 0.45, 0.90),
        "C": _rect(h, w, 0.60, 0.25, 0.90, 0.75),
    }

    def link(m):
        u = m - 0.5
        return 4.0 * np.tanh(6.0 * (u[:, 0] - u[:, 1])) + 8.0 * u[:, 2] * expit(10.0 * u[:, 0])

    def link_grad(m):
        u = m - 0.5
        sech2 = 1.0 - np.tanh(6.0 * (u[:, 0] - u[:, 1])) ** 2
        s = expit(10.0 * u[:, 0])
        return np.stack([24.0 * sech2 + 80.0 * u[:, 2] * s * (1.0 - s),
                         -24.0 * sech2,
                         8.0 * s], axis=1)

    return GroundTruthModel(
        f"smooth_region_means_{_size_tag(h, w, c)}", (h, w, c), regions, link, link_grad,
        description="u_r = mean(r) - 0.5; g = 4*tanh(6*(u_A - u_B)) + 8*u_C*sigmoid(10*u_A)",
    )


def two_object_contrast(height: int = 28, width: int = 28,
                        channels: int = 3) -> GroundTruthModel:
    """A contrast between two disc-shaped objects.

    ``g = 8 * mean(A) - 6 * mean(B) - 1``, where disc ``A`` is centred at 35 % of the height
    and 30 % of the width with radius 18 % of ``min(H, W)``, and disc ``B`` at (65 %, 70 %)
    with radius 14 % (a pixel belongs to a disc when its centre does). The constant makes
    ``g = 0`` on uniform grey. The true map is ``+8 p(1-p) / |A|`` on ``A`` and
    ``-6 p(1-p) / |B|`` on ``B`` (summed over channels), zero elsewhere.

    Parameters
    ----------
    height, width, channels : int, default 28, 28, 3
        Image shape ``(H, W, C)``; ``H, W >= 8``.
    """
    h, w, c = _check_shape(height, width, channels)
    regions = {
        "A": _disc(h, w, 0.35, 0.30, 0.18),
        "B": _disc(h, w, 0.65, 0.70, 0.14),
    }
    coef = np.array([8.0, -6.0])

    def link(m):
        return m @ coef - 1.0

    def link_grad(m):
        return np.broadcast_to(coef, m.shape)

    return GroundTruthModel(
        f"two_object_contrast_{_size_tag(h, w, c)}", (h, w, c), regions, link, link_grad,
        description="g = 8*mean(disc A) - 6*mean(disc B) - 1",
    )


SUITE_SHAPES: tuple[tuple[int, int, int], ...] = (
    (28, 28, 3),
    (32, 48, 3),  # not square
    (56, 56, 3),
    (28, 28, 1),  # grayscale
    (30, 30, 3),  # not divisible by 4 or 8
)


def ground_truth_suite() -> list[GroundTruthModel]:
    """All three families at every shape in :data:`SUITE_SHAPES` (15 models).

    Returns
    -------
    list of GroundTruthModel
        In the order (family, shape): linear_region, smooth_region_means,
        two_object_contrast, each at 28x28x3, 32x48x3, 56x56x3, 28x28x1 and 30x30x3.
    """
    return [family(h, w, c)
            for family in (linear_region, smooth_region_means, two_object_contrast)
            for h, w, c in SUITE_SHAPES]

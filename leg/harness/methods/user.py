"""Saliency methods the user brings: ``--leg-methods NAME=package.module:attribute``, or a
package's entry point in the group ``leg.explainers``.

The attribute is a factory ``(classifier, **options) -> explainer`` or an explainer class;
the explainer's ``.explain(image, target=None, *, seed=None)`` returns an object with an
``(H, W)`` ``.saliency`` or a bare ``(H, W)`` array. A factory that accepts ``budget`` is a
black-box method: the perturbation suites compare it at LEG's number of model evaluations.

A user method travels to the workers as an option of its items (:data:`FACTORY_OPTION`, the
``module:attribute`` target), so it is part of the cache key and every process builds it the
same way. Its output is checked (:class:`UserExplainer`): a map of the wrong shape or with
NaN raises one message naming the method, which the harness records for that item alone.
"""

from __future__ import annotations

import importlib
import inspect
import re
from importlib.metadata import entry_points

import numpy as np

from leg.harness.methods.record import Method

__all__ = ["ENTRY_POINT_GROUP", "FACTORY_OPTION", "UserExplainer", "user_method",
           "load_factory", "make_user_explainer", "parse_methods"]

ENTRY_POINT_GROUP = "leg.explainers"
#: The option that carries a user method's ``module:attribute`` to wherever it runs.
FACTORY_OPTION = "user_factory"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def user_method(name: str, target: str, factory) -> Method:
    """The record of a user's method: ``target`` (``module:attribute``) built in every
    process from ``factory``. It is the method under test (asserted in the sanity checks)
    and runs in every suite; its budget counts model evaluations when the factory names a
    ``budget`` parameter (then it is compared at LEG's budget). The factory may say more
    with attributes: ``estimates`` (``"gradient"`` or ``"removal"``: the ground-truth
    target it is judged against) and ``needs_gradient``."""
    return Method(name, f"your method ({target})",
                  budget="model evaluations" if _accepts_budget(factory) else None,
                  needs_gradient=bool(getattr(factory, "needs_gradient", False)),
                  estimates=getattr(factory, "estimates", "gradient"),
                  suites={"sanity", "perturbation", "groundtruth"}, role="asserted",
                  target=target)


def load_factory(target: str):
    """The object ``module:attribute`` names; ``ValueError`` saying what is missing."""
    if not _TARGET.match(target):
        raise ValueError(f"{target!r} is not of the form package.module:attribute.")
    module, attr = target.split(":", 1)
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"Cannot import {module!r} for the method {target!r}: {exc} (is it "
                         "on the path? `leg evaluate` adds the current folder)") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module!r} has no attribute {attr!r} (for the method "
                             f"{target!r}).")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{target!r} is a {type(obj).__name__}, not a factory or an "
                         "explainer class.")
    return obj


def _accepts_budget(factory) -> bool:
    """Whether ``factory`` names a ``budget`` parameter (``**options`` alone does not count:
    the harness cannot know that it is handled)."""
    try:
        return "budget" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _entry_point_targets() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def parse_methods(text: str, builtin) -> tuple[list[str], list[Method]]:
    """``--leg-methods`` as ``(names in order, user methods)``.

    Each comma-separated part is a built-in name (``builtin``), ``NAME=module:attribute``, or
    the name of an entry point in :data:`ENTRY_POINT_GROUP`. ``ValueError`` for anything else.
    """
    names: list[str] = []
    users: list[Method] = []
    installed = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part:
            name, target = (s.strip() for s in part.split("=", 1))
        elif part in builtin:
            names.append(part)
            continue
        else:
            installed = _entry_point_targets() if installed is None else installed
            if part not in installed:
                raise ValueError(
                    f"Unknown method {part!r}: not built in ({', '.join(sorted(builtin))}), "
                    f"not an installed '{ENTRY_POINT_GROUP}' entry point"
                    f"{' (' + ', '.join(sorted(installed)) + ')' if installed else ''}; "
                    "give your own as NAME=package.module:attribute.")
            name, target = part, installed[part]
        if not _NAME.match(name):
            raise ValueError(f"Method name {name!r}: use letters, digits, '.', '_' or '-', "
                             "starting with a letter.")
        if name in builtin:
            raise ValueError(f"{name!r} is a built-in method; give your method another name.")
        if name in names:
            raise ValueError(f"The method {name!r} is given twice.")
        factory = load_factory(target)
        names.append(name)
        users.append(user_method(name, target, factory))
    return names, users


class UserExplainer:
    """A user's explainer with its output checked: ``.explain`` returns an object with an
    ``(H, W)`` float ``saliency`` (the image's height and width), or raises ``ValueError``."""

    def __init__(self, name: str, inner):
        self.name = name
        self._inner = inner

    def explain(self, image: np.ndarray, target=None, *, seed: int | None = None):
        from leg.explainers import Explanation

        result = self._inner.explain(image, target, seed=seed)
        saliency = getattr(result, "saliency", result)
        try:
            saliency = np.asarray(saliency, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"The method {self.name!r} returned a {type(result).__name__} "
                             "whose saliency is not a numeric array.") from exc
        if saliency.shape != tuple(image.shape[:2]):
            raise ValueError(f"The method {self.name!r} returned a map of shape "
                             f"{saliency.shape}; expected (H, W) = {tuple(image.shape[:2])}.")
        if not np.all(np.isfinite(saliency)):
            bad = int(np.count_nonzero(~np.isfinite(saliency)))
            raise ValueError(f"The method {self.name!r} returned a map with {bad} non-finite "
                             "values (NaN or inf).")
        if saliency is not getattr(result, "saliency", None):
            n_eval = getattr(result, "n_evaluations", None)
            result = Explanation(self.name, saliency, getattr(result, "target", target),
                                 n_evaluations=n_eval, seed=seed)
        return result


def make_user_explainer(name: str, target: str, classifier, **options) -> UserExplainer:
    """Build the user's method ``name`` (``module:attribute`` ``target``) for ``classifier``."""
    factory = load_factory(target)
    inner = factory(classifier, **options)
    if not callable(getattr(inner, "explain", None)):
        raise ValueError(f"The method {name!r} ({target}) built a {type(inner).__name__} "
                         "without an .explain(image, target=None, *, seed=None) method.")
    return UserExplainer(name, inner)

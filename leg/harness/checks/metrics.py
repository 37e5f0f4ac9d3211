"""What a report needs to label a metric's number: its name and its direction."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Metric"]


@dataclass(frozen=True)
class Metric:
    """Metadata of one evaluation metric.

    Parameters
    ----------
    name : str
        Identifier used as a column name in tables, e.g. ``"key_size"``.
    higher_is_better : bool
        True when a larger value means a better saliency map.
    description : str
        One sentence for the human summary.
    """

    name: str
    higher_is_better: bool
    description: str

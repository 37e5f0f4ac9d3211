"""A synthetic harness run, shaped like a standard-profile report, for the report tests."""

from __future__ import annotations

import numpy as np

from leg.harness.checks.verdicts import Verdict, rank
from leg.harness.report import Report

SANITY = ("leg", "leg-tv", "gradient", "random", "edge")
PERTURBATION = ("leg", "leg-tv", "lime", "kernel-shap", "occlusion", "rise", "grad-cam",
                "integrated-gradients", "smoothgrad", "gradient", "random", "random-cells")
BACKGROUNDS = ("mean", "black", "white", "noise", "dist-k")
IDENTITY = {"profile": "standard", "parameters_hash": "p1", "models": ["digits", "lite0"],
            "fingerprints": {"digits": "f1", "lite0": "f2"}}


def _sanity_verdicts(model: str, checks: tuple[str, ...]) -> list[Verdict]:
    out = []
    for method in SANITY:
        for check in checks:
            if method == "edge" and check != "informativeness":
                v = Verdict(model, method, check, "fail", 1.0, 0.75)
            elif method == "random" and check != "informativeness":
                v = Verdict(model, method, check, "uninformative", 0.02, 0.3)
            elif method == "random":
                v = Verdict(model, method, check, "uninformative", 0.01, 0.3, True)
            else:
                v = Verdict(model, method, check, "pass", 0.041, 0.314,
                            check == "informativeness",
                            method in ("leg", "leg-tv") and check != "independent",
                            "ssim at cascade-conv1: median 0.041, must be at most 0.314")
            out.append(v)
    return out


def _floor_verdicts(model: str, expected: bool) -> list[Verdict]:
    out = []
    for check in ("key-size", "deletion"):
        for i, method in enumerate(PERTURBATION):
            if method == "random-cells":
                out.append(Verdict(model, method, check, "reference", 0.55))
                continue
            value = round(0.1 + 0.05 * i, 3)
            ok = value < 0.55
            asserted = method == "leg-tv" or (check == "deletion" and method == "leg")
            verdict = "pass" if ok else ("expected-failure" if expected and asserted
                                         else "fail")
            out.append(Verdict(model, method, check, verdict, value, 0.55, False, asserted))
    return out


def synthetic_verdicts() -> list[Verdict]:
    out = _sanity_verdicts("digits", ("cascading", "independent", "label", "informativeness"))
    out += _sanity_verdicts("lite0", ("cascading", "independent", "informativeness"))
    out += _floor_verdicts("digits", False) + _floor_verdicts("lite0", True)
    out += [Verdict("ground-truth models", m, "ground-truth", "pass" if i < 2 else "fail",
                    round(0.95 - 0.2 * i, 3), 0.9, True, m == "leg-tv")
            for i, m in enumerate(PERTURBATION[:-1])]
    for spec in ("ground-truth models", "digits", "lite0"):
        out += [Verdict(spec, "leg", "estimand", "pass", 0.97, 0.9, True, True),
                Verdict(spec, "leg-tv", "estimand", "pass", 0.96, 0.9, True)]
    return out


def synthetic_leaderboards():
    rng = np.random.default_rng(0)
    out = []
    for model in ("digits", "lite0"):
        for bg in BACKGROUNDS:
            out.append(rank(f"{model}: key size (lower is better)", bg, "key_size", False,
                            {m: (float(rng.random()), "9/10 found") for m in PERTURBATION}))
        for kind, higher in (("deletion", False), ("insertion", True)):
            out.append(rank(f"{model}: {kind} area", "mean", f"{kind}_auc", higher,
                            {m: float(rng.random()) for m in PERTURBATION}))
    for b in (100, 300, 1000, 3000):
        out.append(rank("ground truth: correlation with the true map (higher is better)",
                        f"n={b}", "pearson_cell", True,
                        {m: float(rng.random()) for m in PERTURBATION[:-1]}))
    return out


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 3))  # wider than the page: must be scaled down
    ax.plot(np.arange(10), np.arange(10) ** 2)
    return fig


def metric_rows(shift: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Sanity and ground-truth metric rows; ``shift`` maps a row's (method, metric) or
    (method, budget) to an amount added to its value."""
    shift = shift or {}
    sanity = [{"check": "cascading", "model": "digits", "image": f"digit{i}", "method": m,
               "stage": "cascade-conv1", "depth": 4, "metric": metric,
               "value": 0.1 + 0.01 * i + shift.get((m, metric), 0.0), "threshold": 0.3,
               "verdict": "pass", "higher_is_better": False}
              for i in range(3) for m in ("leg", "leg-tv") for metric in ("ssim", "hog_pearson")]
    gt = [{"model": "linear_region_28x28x3", "method": m, "budget": b, "metric": "pearson_cell",
           "value": 0.9 + shift.get((m, b), 0.0), "higher_is_better": True}
          for m in ("leg", "leg-tv", "lime") for b in (100, 1000)]
    return sanity, gt


def synthetic_report(root, run_id: str = "run-a", *, verdicts=None, shift=None,
                     identity=None) -> Report:
    """A report with every kind of content a real run has (verdicts, leaderboards, a wide
    table, long prose, a wide figure, long test names); not yet written."""
    rep = Report(root, run_id=run_id, info={"profile": "standard"})
    rep.set_info("identity", identity or IDENTITY)
    rep.set_info("configuration", {"models": [{"spec": "digits"}, {"spec": "lite0"}],
                                   "seed": 0, "regression_tolerance": 0.1})
    rep.set_info("versions", {"leg": "0.1.0", "tensorflow": "2.21.0", "numpy": "2.1.0",
                              "python": "3.11.2"})
    rep.add_verdicts(synthetic_verdicts() if verdicts is None else verdicts)
    rep.add_leaderboards(synthetic_leaderboards())
    sanity, gt = metric_rows(shift)
    rep.add_table("sanity", sanity)
    rep.add_table("groundtruth", gt)
    wide = [{f"a_rather_long_column_name_{j}": f"value-{i}-{j}" * 3 for j in range(30)}
            for i in range(5)]
    rep.add_table("wide", wide)
    prose = " ".join(["A long explanation of the check with `code`, **bold** and a very "
                      "long token " + "x" * 300] * 5)
    rep.add_section("Sanity checks: decisive stages", prose, order=10,
                    tables=[("wide", None)], figures=["wide_figure"])
    rep.add_figure("wide_figure", _figure(), "a figure wider than the page")
    for i in range(40):
        rep.record_test(f"evaluation/test_sanity.py::test_sanity[digits-digit{i}-leg-"
                        + "cascade-" * 20 + "]", "passed" if i else "failed", 0.01,
                        "assert " + "long message " * 40 if not i else "")
    return rep

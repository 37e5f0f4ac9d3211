"""Machinery of the perturbation and ground-truth suites: result cache and resume, report
sections, statistics, regression rows."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from leg.harness import perturbation_suite as ps
from leg.harness.cache import CRASH_ENV, CacheDamageWarning, ResultCache, result_key
from leg.harness.config import GroundTruthPlan, PerturbationPlan, get_profile
from leg.harness.report import Report
from leg.harness.runs import GROUNDTRUTH_KEY, compare
from leg.zoo.groundtruth import linear_region

REPO = Path(__file__).resolve().parents[1]
SPEC = "groundtruth:linear_region_28x28x3"


def _items(n=4, steps=50):
    model = linear_region()
    img = model.base_image(0)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        sal = model.true_map(img) + 0.01 * i * rng.standard_normal(img.shape[:2])
        bg = ("mean", "black", "white", "noise")[i % 4]
        key = ps.score_key(explanation=f"e{i}", background=bg, curves=True, alpha_steps=steps,
                           curve_steps=5, k=32, seed=0)
        out.append(ps.ScoreItem(key, img, sal, 0, bg, True, steps, 5, 32, 0))
    return tuple(out)


def test_result_cache_roundtrip_nan_and_corrupt_entry(tmp_path):
    cache = ResultCache(tmp_path)
    key = result_key(a=1)
    assert key != result_key(a=2) and cache.get(key) is None and key not in cache
    cache.put(key, {"key_size": float("nan"), "curve": [0.5, 0.25]})
    got = cache.get(key)
    assert np.isnan(got["key_size"]) and got["curve"] == [0.5, 0.25]
    assert cache.keys() == [key]
    cache.path(key).write_text("{not json")
    with pytest.warns(CacheDamageWarning, match="not a readable JSON entry"):
        assert cache.get(key) is None and key not in cache  # damaged counts as missing


def test_damaged_scores_are_recomputed_exactly_where_damaged(tmp_path):
    items = _items()
    job = ps.ScoreJob(SPEC, items, str(tmp_path))
    ps.run_score_job(job)
    cache = ResultCache(tmp_path)
    first = {it.key: cache.get(it.key) for it in items}
    cache.path(items[0].key).write_bytes(np.random.default_rng(0).bytes(200))
    cache.path(items[1].key).write_bytes(cache.path(items[3].key).read_bytes())
    with pytest.warns(CacheDamageWarning) as record:
        status = dict(ps.run_score_job(job))
    assert len(record) == 2
    assert status == {items[0].key: "computed", items[1].key: "computed",
                      items[2].key: "cached", items[3].key: "cached"}
    for it in items:
        np.testing.assert_equal(cache.get(it.key)["key_size"], first[it.key]["key_size"])


def test_score_job_is_computed_once_and_resumes(tmp_path, monkeypatch):
    calls = []
    real = ps.load_model_once

    def counting(spec):
        clf = real(spec)

        def f(x):
            calls.append(len(x))
            return clf(x)

        return f

    monkeypatch.setattr(ps, "load_model_once", counting)
    items = _items()
    job = ps.ScoreJob(SPEC, items, str(tmp_path))
    first = dict(ps.run_score_job(job))
    assert set(first.values()) == {"computed"} and calls
    entry = ResultCache(tmp_path).get(items[0].key)
    assert set(entry) >= {"key_size", "deletion", "insertion", "deletion_auc", "evaluations"}
    assert len(entry["deletion"]) == 6 and entry["evaluations"] > 0
    calls.clear()
    assert set(dict(ps.run_score_job(job)).values()) == {"cached"} and not calls
    ResultCache(tmp_path).path(items[2].key).unlink()  # as if interrupted before it
    status = dict(ps.run_score_job(job))
    assert status[items[2].key] == "computed"
    assert sum(v == "cached" for v in status.values()) == 3


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from test_perturbation_suite import _items, SPEC
    from leg.harness import perturbation_suite as ps
    job = ps.ScoreJob(SPEC, _items(), sys.argv[1])
    print(json.dumps(dict(ps.run_score_job(job))))
""")


def test_scores_resume_after_a_kill(tmp_path):
    env = {**os.environ, CRASH_ENV: "2"}
    code = SCRIPT.format(tests=str(REPO / "tests"))
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    assert len(ResultCache(tmp_path).keys()) == 2
    env.pop(CRASH_ENV)
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    status = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(status.values()) == ["cached", "cached", "computed", "computed"]


def test_the_true_map_deletes_faster_than_its_complement():
    """Black background (pixels ~0.5 -> 0): removing the true map's pixels first lowers the
    probability sooner than removing the pixels the model ignores first."""
    item = _items(1, steps=100)[0]
    clf = linear_region()
    sal = item.saliency

    def score(s):
        return ps.score_map(clf, ps.ScoreItem("k", item.image, s, 0, "black", True, 100, 10,
                                              32, 0))

    good, bad = score(sal), score(np.where(np.abs(sal) < 1e-9, 1.0, 0.0))
    assert good["deletion_auc"] < bad["deletion_auc"]
    assert good["deletion"][0] == pytest.approx(clf(item.image[None])[0, 0])


def _fake_results():
    prof = get_profile("smoke")
    res = ps.PerturbationResults(profile=prof)
    rng = np.random.default_rng(0)
    img = rng.random((8, 8, 1))
    for i, im in enumerate(("a", "b")):
        res.images[("m", im)] = img
        res.probabilities[("m", im)] = 0.9
        for j, method in enumerate(("leg", "leg-tv", "random")):
            res.maps[("m", im, method)] = rng.standard_normal((8, 8))
            res.explanations.append({"model": "m", "image": im, "method": method,
                                     "budget": 10, "n_evaluations": 10, "seconds": 0.1})
            ks = float("nan") if (method == "random" and i == 0) else 0.1 * (j + 1 + i)
            res.keysize.append({"model": "m", "image": im, "method": method,
                                "background": "mean", "key_size": ks, "deletion_auc": 0.2 * j,
                                "insertion_auc": 0.5, "evaluations": 5})
            for kind in ("deletion", "insertion"):
                res.curves += [{"model": "m", "image": im, "method": method,
                                "background": "mean", "kind": kind, "alpha": a,
                                "probability": 1 - a} for a in (0.0, 0.5, 1.0)]
            res.scores.append(ps._score_row("keysize", "m", im, method, "mean", "key_size", ks))
    res.budgets["m"] = 10
    return res


def test_keysize_statistics_count_nan_apart():
    stats = {r["method"]: r for r in ps.keysize_statistics(_fake_results())}
    assert stats["leg"]["count"] == 2 and stats["leg"]["not_found"] == 0
    assert stats["leg"]["mean"] == pytest.approx(0.15)
    assert stats["random"]["count"] == 1 and stats["random"]["not_found"] == 1
    # NaN (no alpha changed the class) counts as worst: median of (1 + 1e-9, 0.4)
    assert ps.median_key_size(_fake_results().keysize, method="random") == pytest.approx(0.7)


def test_perturbation_and_groundtruth_report_sections(tmp_path):
    from dataclasses import replace

    from leg.harness import groundtruth_suite as gs

    res = _fake_results()
    res.profile = replace(res.profile, perturbation=(PerturbationPlan("m", 2, 10),))
    rep = Report(tmp_path, "run")
    ps.add_to_report(rep, res)
    gres = gs.GroundTruthResults(profile=replace(res.profile, groundtruth=GroundTruthPlan(
        models=("x",), budgets=(100, 400))))
    for b, err in ((100, 0.4), (400, 0.2)):
        gres.n_evaluations[("x", "leg", b)] = b
        for method, v in (("leg", 0.8), ("random", 0.0)):
            gres.rows.append({"model": "x", "method": method, "budget": b,
                              "metric": "pearson_cell", "value": v, "n_evaluations": b,
                              "higher_is_better": True})
        gres.rows.append({"model": "x", "method": "leg", "budget": b, "metric": "rel_error",
                          "value": err, "n_evaluations": b, "higher_is_better": False})
    assert gs.error_slopes(gres)["x"] == pytest.approx(-0.5)
    gs.add_to_report(rep, gres)
    d = rep.write()
    with open(d / "keysize.csv") as f:
        assert next(csv.reader(f)) == ["model", "image", "method", "background", "key_size"]
    with open(d / "curves.csv") as f:
        assert next(csv.reader(f)) == ["model", "image", "method", "background", "kind",
                                       "alpha", "probability"]
    with open(d / "groundtruth.csv") as f:
        assert next(csv.reader(f))[:5] == ["model", "method", "budget", "metric", "value"]
    summary = (d / "summary.md").read_text()
    for title in ("Perturbation size: key-size statistics", "Ground truth: LEG consistency",
                  "Perturbation figures"):
        assert title in summary and title in (d / "index.html").read_text()
    for fig in ("curves_m_mean", "masked_m", "groundtruth_correlation",
                "groundtruth_leg_error"):
        assert (d / "figures" / f"{fig}.png").is_file()


def test_matrix_verdicts_against_the_granularity_floor():
    from dataclasses import replace

    res = _fake_results()
    for rows in (res.keysize, res.explanations):
        for r in rows:
            if r["method"] == "random":
                r["method"] = ps.FLOOR
    res.profile = replace(res.profile, perturbation=(PerturbationPlan("m", 2, 10),),
                          perturbation_methods=("leg", "leg-tv", "lime", ps.FLOOR))
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}
    # key sizes: leg 0.1/0.2, leg-tv 0.2/0.3, floor NaN/0.4 (NaN counted as worst)
    assert cells[("leg-tv", "key-size")].verdict == "pass"
    assert cells[("leg-tv", "key-size")].asserted
    assert not cells[("leg", "key-size")].asserted
    assert cells[(ps.FLOOR, "key-size")].verdict == "reference"
    assert cells[(ps.FLOOR, "key-size")].value == pytest.approx(0.7)  # median(NaN=1, 0.4)
    # deletion areas: leg 0, leg-tv 0.2, floor 0.4
    assert cells[("leg", "deletion")].verdict == "pass"
    assert cells[("leg", "deletion")].value == 0.0
    assert cells[("lime", "key-size")].verdict == "not-run"
    res.profile = replace(res.profile, perturbation=(
        PerturbationPlan("m", 2, 10, beats_floor=False),))
    res.keysize = [{**r, "deletion_auc": 1.0} if r["method"] == "leg" else r
                   for r in res.keysize]
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}
    assert cells[("leg", "deletion")].verdict == "expected-failure"
    boards = {(b.group, b.column): b for b in ps.leaderboards(res)}
    keys = boards[("m: key size (lower is better)", "mean")]
    assert [e.method for e in keys.entries] == ["leg", "leg-tv", ps.FLOOR]
    assert keys.entries[-1].note == "1/2 found"
    assert [e.method for e in boards[("m: insertion area (higher is better)", "mean")].entries
            ][0] in ("leg", "leg-tv", ps.FLOOR)


def test_regression_rows_for_key_sizes_and_ground_truth():
    row = ps._score_row("keysize", "m", "a", "leg", "mean", "key_size", 0.1)
    assert row["higher_is_better"] is False
    worse = {**row, "value": 0.3}
    lost = {**row, "value": float("nan")}
    assert compare([worse], [row], tolerance=0.1)[0]["status"] == "regressed"
    assert compare([lost], [row], tolerance=0.1)[0]["status"] == "regressed"
    assert compare([row], [lost], tolerance=0.1)[0]["status"] == "improved"
    gt = {"model": "x", "method": "leg-tv", "budget": 100, "metric": "pearson_cell",
          "value": 0.9, "higher_is_better": True}
    stored = [{k: str(v) for k, v in {**gt, "value": 0.99}.items()}]  # as read from a CSV
    out = compare([gt], stored, tolerance=0.05, key=GROUNDTRUTH_KEY)
    assert out[0]["status"] == "regressed"

"""Machinery of the perturbation and ground-truth suites: result cache and resume, report
sections, statistics, regression rows."""

import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from leg.harness.checks.faithfulness import suite as ps
from leg.harness.checks.groundtruth import SUITE as GROUNDTRUTH
from leg.harness.engine.cache import CRASH_ENV, CacheDamageWarning, ResultCache, result_key
from leg.harness.profiles import GroundTruthPlan, PerturbationPlan, get_profile
from leg.harness.report import Report
from leg.harness.report.baseline import compare
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
        np.testing.assert_equal(cache.get(it.key)["pixel"]["key_size"],
                                first[it.key]["pixel"]["key_size"])


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
    assert set(entry["pixel"]) >= {"key_size", "deletion", "insertion", "deletion_auc"}
    assert len(entry["pixel"]["deletion"]) == 6 and entry["evaluations"] > 0
    calls.clear()
    assert set(dict(ps.run_score_job(job)).values()) == {"cached"} and not calls
    ResultCache(tmp_path).path(items[2].key).unlink()  # as if interrupted before it
    status = dict(ps.run_score_job(job))
    assert status[items[2].key] == "computed"
    assert sum(v == "cached" for v in status.values()) == 3


def test_a_background_scores_only_what_the_plan_asks_for():
    """A curve-only item has curves and no key size; LeRF and the ROAD gap come with ROAD's
    imputation only, insertion with a fixed background only; the pixel scan uses its own
    grid."""
    model = linear_region()
    img = model.base_image(0)
    sal = model.true_map(img)
    kw = dict(image=img, saliency=sal, target=0, alpha_steps=100, curve_steps=5, k=32, seed=0,
              matched_cell=4)
    road = ps.score_map(model, ps.ScoreItem("r", background="road", curves=True,
                                            key_size=False, pixel=False, **kw))
    assert "key_size" not in road["matched"] and road["pixel"] is None
    assert {"lerf_auc", "road_gap", "deletion_auc"} <= set(road["matched"])
    assert "insertion_auc" not in road["matched"]
    mean = ps.score_map(model, ps.ScoreItem("m", background="mean", curves=True,
                                            pixel_alpha_steps=10, **kw))
    assert "lerf_auc" not in mean["matched"] and "road_gap" not in mean["pixel"]
    assert "insertion_auc" in mean["matched"]
    ks = mean["pixel"]["key_size"]  # on the 10-step grid
    assert np.isnan(ks) or ks in pytest.approx(list(ps.alpha_grid(10)))
    with pytest.raises(ValueError, match="neither key size nor curves"):
        ps.score_map(model, ps.ScoreItem("x", background="mean", curves=False, key_size=False,
                                         **kw))


SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    from test_perturbation_suite import _items, SPEC
    from leg.harness.checks.faithfulness import suite as ps
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

    good, bad = score(sal)["pixel"], score(np.where(np.abs(sal) < 1e-9, 1.0, 0.0))["pixel"]
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
                                "background": "mean", "granularity": "cells:2",
                                "key_size": ks, "deletion_auc": 0.2 * j,
                                "insertion_auc": 0.5, "lerf_auc": None, "road_gap": None})
            for kind in ("deletion", "insertion"):
                res.curves += [{"model": "m", "image": im, "method": method,
                                "background": "mean", "granularity": "cells:2", "kind": kind,
                                "alpha": a, "probability": 1 - a} for a in (0.0, 0.5, 1.0)]
            res.scores.append(ps._score_row("keysize", "m", im, method, "mean", "key_size", ks))
    res.budgets["m"] = 10
    res.matched["m"] = "cells:2"
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

    from leg.harness.checks import groundtruth as gs

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
        assert next(csv.reader(f)) == ["model", "image", "method", "background",
                                       "granularity", "key_size"]
    with open(d / "curves.csv") as f:
        assert next(csv.reader(f)) == ["model", "image", "method", "background",
                                       "granularity", "kind", "alpha", "probability"]
    with open(d / "groundtruth.csv") as f:
        assert next(csv.reader(f))[:5] == ["model", "method", "budget", "metric", "value"]
    summary = (d / "summary.md").read_text()
    for title in ("Perturbation size: key-size statistics", "Ground truth: LEG consistency",
                  "Perturbation figures"):
        assert title in summary and title in (d / "index.html").read_text()
    for fig in ("curves_m_mean", "masked_m", "groundtruth_correlation",
                "groundtruth_leg_error"):
        assert (d / "figures" / f"{fig}.png").is_file()


def _paired_results(n_images: int, leg_values, floor_values, random_values=None):
    """Results of one model at cells:2 with per-image key sizes and deletion areas."""
    from dataclasses import replace

    methods = {"leg": leg_values, ps.FLOOR: floor_values}
    if random_values is not None:
        methods["random"] = random_values
    res = ps.PerturbationResults(profile=replace(
        get_profile("smoke"), perturbation=(PerturbationPlan("m", n_images, 10),),
        perturbation_methods=("leg", "leg-tv", "random", ps.FLOOR)))
    res.matched["m"] = "cells:2"
    for i in range(n_images):
        res.images[("m", f"i{i}")] = np.zeros((4, 4, 1))
        for method, vals in methods.items():
            res.keysize.append({"model": "m", "image": f"i{i}", "method": method,
                                "background": "mean", "granularity": "cells:2",
                                "key_size": vals[i],
                                "deletion_auc": float(np.nan_to_num(vals[i], nan=0.9)),
                                "insertion_auc": float(1 - np.nan_to_num(vals[i], nan=0.9)),
                                "lerf_auc": None,
                                "road_gap": None})
    return res


def test_matrix_verdicts_are_paired_comparisons_with_statistics():
    rng = np.random.default_rng(0)
    floor = list(0.5 + 0.1 * rng.random(8))
    better = [f - 0.2 for f in floor]
    res = _paired_results(8, better, floor, random_values=list(0.5 + 0.1 * rng.random(8)))
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}
    v = cells[("leg", "key-size")]
    assert v.verdict == "pass" and v.asserted and v.n_images == 8
    assert v.p_value < 0.05 and v.ci_low <= -0.2 + 1e-9 <= v.ci_high + 1e-9
    assert cells[("leg", "insertion")].verdict == "pass"  # higher is better there
    assert cells[(ps.FLOOR, "key-size")].verdict == "reference"
    assert cells[("leg-tv", "key-size")].verdict == "not-run"
    # a random map unrelated to the floor: neither better nor worse on these 8 images
    assert cells[("random", "key-size")].verdict != "pass"
    # worse than the floor on every image: fail, or expected-failure where the plan says so
    res = _paired_results(8, [f + 0.2 for f in floor], floor)
    assert {(v.method, v.check): v for v in ps.matrix_verdicts(res)}[
        ("leg", "deletion")].verdict == "fail"
    res.profile = replace_plan(res.profile, expected_failures={"deletion": "measured"})
    v = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}[("leg", "deletion")]
    assert v.verdict == "expected-failure" and "expected: measured" in v.detail
    # an asserted check not shown better with enough images fails (the claim is not
    # supported); a reported one is "not significant"
    same = _paired_results(8, list(floor), floor)
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(same)}
    assert cells[("leg", "key-size")].verdict == "fail"
    # one image (or four) never decides
    for n in (1, 4):
        res = _paired_results(n, better[:n], floor[:n])
        v = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}[("leg", "key-size")]
        assert v.verdict == "undecided" and v.n_images == n


def test_a_control_that_beats_the_floor_is_uninformative_not_a_pass():
    """The random map (a control: made without the model) beating the floor on every image
    is no evidence about the model: "uninformative", with the reason; an ordinary method
    with the same values passes."""
    floor = [0.5 + 0.01 * i for i in range(8)]
    better = [f - 0.2 for f in floor]
    res = _paired_results(8, better, floor, random_values=better)
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(res)}
    for check in ("key-size", "deletion", "insertion"):
        assert cells[("leg", check)].verdict == "pass"
        v = cells[("random", check)]
        assert v.verdict == "uninformative" and v.p_value < 0.05
        assert "a control: its maps ignore the model" in v.detail
    # a control that does not beat the floor keeps its verdict
    worse = _paired_results(8, better, floor, random_values=[f + 0.2 for f in floor])
    cells = {(v.method, v.check): v for v in ps.matrix_verdicts(worse)}
    assert cells[("random", "key-size")].verdict == "fail"


def replace_plan(profile, **changes):
    from dataclasses import replace

    return replace(profile, perturbation=tuple(replace(p, **changes)
                                               for p in profile.perturbation))


def test_key_size_not_found_counts_as_worst_and_leaderboards_carry_cis():
    floor = [0.5, 0.6, 0.55, 0.45, 0.5, 0.65]
    res = _paired_results(6, [0.1, 0.2, float("nan"), 0.15, 0.1, 0.2], floor)
    assert ps.per_image_values(res, "m", "leg", "key-size")["i2"] == ps.NOT_FOUND
    boards = {(b.group, b.column): b for b in ps.leaderboards(res)}
    keys = boards[("m: key size, cells:2 (lower is better)", "mean")]
    assert [e.method for e in keys.entries] == ["leg", ps.FLOOR]
    top = keys.entries[0]
    assert top.note == "5/6 found" and top.ci_low <= top.value <= top.ci_high


def test_reliability_tells_a_consistent_ranking_from_noise():
    """Kendall's W is high when every image ranks LEG below the floor and low when the
    per-image scores are noise; it is shown under the leaderboard and the agreement of
    the metrics is reported."""
    rng = np.random.default_rng(3)
    floor = list(0.5 + 0.1 * rng.random(8))
    res = _paired_results(8, [f - 0.3 for f in floor], floor,
                          random_values=list(rng.random(8)))
    conc, agree = ps.reliability(res)
    by = {r["comparison"]: r for r in conc}
    assert by["key_size / mean"]["kendalls_w"] == pytest.approx(1.0)  # random is left out
    assert by["key_size / mean"]["n_methods"] == 2
    assert {(a["first"], a["second"]) for a in agree} >= {
        ("key_size / mean", "deletion_auc / mean")}
    board = next(b for b in ps.leaderboards(res) if b.metric == "key_size")
    assert board.reliability.startswith("1.00 (p ")
    noise = _paired_results(8, list(rng.random(8)), list(rng.random(8)))
    w = {r["comparison"]: r["kendalls_w"] for r in ps.reliability(noise)[0]}
    assert w["key_size / mean"] < 0.5


def test_scores_match_the_reference_key_size_and_curves_and_dedupe():
    """The suite's scan equals perturbation.key_size and the curves at pixel granularity;
    at matched granularity it needs at most one evaluation per cell, and a job's second
    identical map costs nothing."""
    from leg.harness.checks.faithfulness.removal import deletion_curve, insertion_curve, key_size

    model = linear_region()
    for i in range(3):
        img = model.base_image(i)
        t = int(np.argmax(model(img[None])[0]))
        sal = model.gradient(img[None], t)[0].sum(-1)
        sal = sal + 1e-4 * np.random.default_rng(i).standard_normal(sal.shape)
        for bg in ("dist-k", "black"):
            item = ps.ScoreItem("k", img, sal, t, bg, True, 200, 10, 32, 0, 4, True)
            scorer = ps.MaskedScorer(model, t)
            out = ps.score_map(model, item, scorer)
            np.testing.assert_equal(out["pixel"]["key_size"], key_size(
                model, img, sal, background=bg, alphas=ps.alpha_grid(200)))
            for kind, fn in (("deletion", deletion_curve), ("insertion", insertion_curve)):
                np.testing.assert_allclose(out["pixel"][kind],
                                           fn(model, img, sal, t, background=bg, steps=10)[1])
            assert not out["matched"]["key_size"] <= 0  # in (0, 1], or NaN: none found
            again = ps.score_map(model, item, scorer)
            assert again["evaluations"] == 0
            np.testing.assert_equal(again["matched"], out["matched"])
    item = ps.ScoreItem("k", img, sal, t, "mean", False, 1000, 10, 32, 0, 4, False)
    out = ps.score_map(model, item)
    assert out["pixel"] is None and out["evaluations"] <= 49 + 1  # 7x7 cells + the image


def test_road_gap_near_zero_for_an_unrelated_map_and_positive_for_the_true_map():
    model = linear_region()
    gaps = {"true": [], "random": []}
    for i in range(4):
        img = model.base_image(i)
        t = int(np.argmax(model(img[None])[0]))
        true = model.gradient(img[None], t)[0].sum(-1)
        rnd = np.random.default_rng(i).random(true.shape)
        for name, sal in (("true", true), ("random", rnd)):
            item = ps.ScoreItem("k", img, sal, t, "road", True, 100, 10, 32, 0, 4, True)
            gaps[name].append(ps.score_map(model, item)["matched"]["road_gap"])
    assert abs(np.median(gaps["random"])) < 0.02, gaps
    assert np.median(gaps["true"]) > 2 * abs(np.median(gaps["random"])), gaps


def test_true_map_needs_a_ground_truth_model():
    import leg.harness.methods  # noqa: F401
    from leg.explainers import EXPLAINERS

    model = linear_region()
    img = model.base_image(0)
    e = EXPLAINERS["true-map"](model).explain(img, 1)
    np.testing.assert_allclose(e.saliency, -model.true_map(img))
    with pytest.raises(ValueError, match="ground-truth model"):
        EXPLAINERS["true-map"](lambda x: np.ones((len(x), 2)))


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
    out = compare([gt], stored, tolerance=0.05, key=GROUNDTRUTH.key)
    assert out[0]["status"] == "regressed"


def test_road_fills_a_batch_on_threads_exactly_as_one_by_one():
    """ROAD's imputations of a batch run on a thread pool; each is seeded, so the batch is
    the sequential result, in the masks' order."""
    img = linear_region().base_image(0)
    rng = np.random.default_rng(3)
    masks = [rng.random(img.shape[:2]) < f for f in (0.1, 0.3, 0.5, 0.7, 0.9)]
    fill = ps._Fill(img, "road", img[..., 0], k=32, seed=5)
    assert np.array_equal(fill.apply_all(masks), np.stack([fill.apply(m) for m in masks]))
    assert not np.array_equal(fill.apply(masks[0]), fill.apply(masks[1]))


def test_road_curve_figure_shows_lerf_not_an_empty_insertion_panel():
    res = _paired_results(2, [0.1, 0.2], [0.5, 0.6])
    for i in range(2):
        for kind in ("deletion", "lerf"):
            res.curves += [{"model": "m", "image": f"i{i}", "method": "leg",
                            "background": "road", "granularity": "cells:2", "kind": kind,
                            "alpha": a, "probability": 1 - a} for a in (0.0, 0.5, 1.0)]
    fig = ps._curves_figure(res, "m", "road")
    deletion, second = fig.axes
    assert second.get_title().startswith("LeRF") and second.get_legend() is not None
    assert [line.get_label() for line in second.get_lines()] == ["leg"]
    assert "deletion and LeRF" in fig._suptitle.get_text()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_imputes_with_its_own_threads():
    """The thread pool is per process: a child forked after the parent used it (its threads
    are not copied) imputes with a new pool instead of waiting forever."""
    img = linear_region().base_image(0)
    masks = [np.eye(img.shape[0], dtype=bool), np.fliplr(np.eye(img.shape[0], dtype=bool))]
    fill = ps._Fill(img, "road", img[..., 0], k=32, seed=5)
    expected = fill.apply_all(masks)
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 when its batch is the parent's
        os._exit(0 if np.array_equal(fill.apply_all(masks), expected) else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the forked child's imputation hung")


class _Removed:
    """A classifier on 2x50 grey images whose class is 1 exactly when the number of removed
    (black) pixels is one of ``flips``: the key size's flip, monotone or not."""

    def __init__(self, flips):
        self.flips = set(flips)

    def __call__(self, images):
        removed = (np.asarray(images)[..., 0] == 0).sum(axis=(1, 2))
        p = np.array([1.0 if r in self.flips else 0.0 for r in removed])
        return np.stack([1 - p, p], axis=1)


@pytest.mark.parametrize("flips, scan, bisect", [
    (range(37, 101), 0.37, 0.37),              # monotone: the same answer
    (range(1, 101), 0.01, 0.01),
    ((100,), 1.0, 1.0),
    ((), np.nan, np.nan),                      # nothing flips
    ((3, *range(60, 101)), 0.03, 0.60),        # not monotone: the bisection answers later
    ((5,), 0.05, np.nan),                      # removing everything leaves the class
])
def test_bisection_agrees_with_the_scan_where_the_flip_is_monotone(flips, scan, bisect):
    image = np.full((2, 50, 1), 0.5)
    saliency = np.arange(100, 0, -1, dtype=float).reshape(2, 50)  # pixel j removed j-th
    fill = ps._Fill(image, "black", saliency, 32, 0)
    rank = ps.unit_ranks(saliency, order="morf")
    alphas = ps.alpha_grid(100)
    answers = {}
    for name, search in (("scan", ps.scan_key_size), ("bisect", ps.search_key_size)):
        scorer = ps.MaskedScorer(_Removed(flips), 0)
        answers[name] = (search(scorer, fill, rank, alphas), scorer.evaluations)
    np.testing.assert_allclose([answers["scan"][0], answers["bisect"][0]], [scan, bisect])
    if flips == range(37, 101):  # the bisection spends fewer model calls than the scan
        assert answers["bisect"][1] < answers["scan"][1]

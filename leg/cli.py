"""``leg explain``: saliency maps from the shell. The harness adds ``leg evaluate`` and
``leg report compare`` (:mod:`leg.harness.cli`) through the entry-point group
:data:`COMMANDS_GROUP`; the library never imports the harness.

``leg explain`` reads every input before it loads a framework (TensorFlow, PyTorch): an
input that is neither a file, a folder nor a shipped photo's name is answered at once. The
results (a line per image, the summary) go to stdout; diagnostics and progress to stderr
(bars on a terminal, plain lines otherwise).

Exit status of ``leg explain``: 0 on success, 2 on bad usage (unknown option, bad value,
unknown model), 1 when an input is missing or an image or the model fails (the other images
are still explained and written). A run that explains nothing writes no ``results.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leg import defaults
from leg._quiet import quiet_tensorflow
from leg._tf_allocator import use_bfc_cpu_allocator
from leg.zoo.photos import PHOTOS

FORMATS = ("png", "npy", "json")
# The defaults the Python API shares (leg.defaults, where the measurements behind them are
# named). Chosen by measurement on the shipped photos (benchmarks/bench_reliability.py;
# docs/reliability.md): LEG's ridge map reproduces better across seeds than its LEG-TV map.
DEFAULT_GRID = defaults.GRID
DEFAULT_METHOD = "leg"
DEFAULT_SAMPLES = defaults.N_SAMPLES
DEFAULT_RELIABILITY = defaults.TARGET_RELIABILITY
DEFAULT_MAX_SAMPLES = defaults.MAX_SAMPLES
AUTO_ROUND = defaults.ROUND_SAMPLES  # the first round of --samples auto (and the smallest after)
DEFAULT_DESIGN = defaults.DESIGN
DEFAULT_SIGMA = defaults.SIGMA
HARNESS_EXTRA = 'leg evaluate needs the harness extra: pip install "leg[harness]"'
FIGURE_STYLES = ("heatmap_only", "gray", "overlay")
RESULTS_SCHEMA_VERSION = 1
COMMANDS_GROUP = "leg.commands"


class UsageError(Exception):
    """Bad command-line usage (exit status 2)."""


class InputError(Exception):
    """An input that is neither a file, a folder nor a shipped photo (exit status 1)."""


class NothingExplained(Exception):
    """No image could be explained (exit status 1); the per-image reasons were printed."""


@dataclass
class _Input:
    """One image to explain: a file (``path``) or a shipped photo (``photo``), read before
    any framework loads; ``error`` says why it cannot be read."""

    name: str
    source: str  # as given on the command line (a path, or a photo's name)
    path: Path | None = None
    photo: str | None = None
    image: np.ndarray | None = None
    note: str = ""
    original: list | None = None
    error: str | None = None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _float_in(low: float, high: float | None, *, low_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not np.isfinite(value) or value < low or (low_open and value == low) or (
            high is not None and value > high)
        if bad:
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"expected a number in {bracket}{low:g}, {'inf' if high is None else high}], "
                f"got {text!r}")
        return value

    return parse


def _samples(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got "
                                         f"{text!r}") from None


def _open_unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a number strictly between 0 and 1 (a predicted seed-to-seed Spearman "
            f"correlation, e.g. 0.9), got {text!r}")
    return value


def _grid(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 28x28, got {text!r}"
                                         ) from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"expected positive ROWSxCOLS, got {text!r}")
    return rows, cols


def _input_size(text: str) -> tuple[int, int]:
    from leg.zoo import parse_input_size

    try:
        return parse_input_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _target(text: str):
    parts = text.split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a class index such as 285 or a contrast 285,281, got {text!r}") from None
    if len(values) > 2 or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected one or two class indices, got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


def _formats(text: str) -> tuple[str, ...]:
    items = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"expected a comma list of {','.join(FORMATS)}, got "
                                         f"{text!r}")
    return items


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leg", description="LEG / LEG-TV saliency maps.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser(
        "explain", help="explain images with LEG or LEG-TV",
        description="Explain images (files, folders or shipped photos by name, e.g. 'leg "
                    "explain coffee chelsea'). With no images, explains every shipped photo; "
                    "with no --model, with the shipped ImageNet classifier (Lite0). Results "
                    "go to stdout, progress and diagnostics to stderr.")
    ex.add_argument("inputs", nargs="*", metavar="IMAGE",
                    help="image files or folders (JPEG, PNG, ...), or shipped photos by name: "
                         f"{', '.join(PHOTOS)} (default: all of them)")
    ex.add_argument("--model", default=None,
                    help="zoo name (lite0, lite0-torch, digits), a .keras/.h5 file, a PyTorch "
                         ".pt2 (torch.export) or TorchScript .pt file, or module:attribute "
                         "(default: lite0)")
    ex.add_argument("--preprocessing", default=None,
                    help="for model files and wrapped Keras/PyTorch modules: caffe, tf, "
                         "torch, lite0 or none (default none; refused for a ready classifier)")
    ex.add_argument("--softmax", action="store_const", const=True, default=None,
                    help="for model files and wrapped modules that return logits: apply a "
                         "softmax (refused for a ready classifier)")
    ex.add_argument("--input-size", type=_input_size, default=None, metavar="HxW",
                    help="the image size the model runs at, e.g. 224x224, for a model that "
                         "declares none (no fixed input shape, no input_size/image_size "
                         "attribute); replaces a size only declared as an attribute")
    ex.add_argument("--device", default=None,
                    help="for PyTorch models: cpu, cuda, cuda:1, ... (default: the GPU when "
                         "PyTorch sees one)")
    ex.add_argument("--method", choices=("leg", "leg-tv"), default=DEFAULT_METHOD,
                    help=f"LEG (the ridge map) or LEG-TV (default {DEFAULT_METHOD})")
    size = ex.add_mutually_exclusive_group()
    size.add_argument("--cell-size", type=_positive_int, default=None,
                      help="grid cell side in pixels, e.g. 8 (28x28 cells on 224 px, the paper)")
    size.add_argument("--grid", type=_grid, default=None,
                      help=f"grid as ROWSxCOLS (default {DEFAULT_GRID[0]}x{DEFAULT_GRID[1]})")
    ex.add_argument("--samples", type=_samples, default=DEFAULT_SAMPLES,
                    help="perturbations per sample set (per channel in per-channel mode), or "
                         "'auto': draw rounds until the map's predicted reliability reaches "
                         f"--reliability or --max-samples (default {DEFAULT_SAMPLES})")
    ex.add_argument("--reliability", type=_open_unit, default=None,
                    help="with --samples auto: the target predicted seed-to-seed Spearman "
                         f"correlation of the map, in (0, 1) (default {DEFAULT_RELIABILITY})")
    ex.add_argument("--max-samples", type=_positive_int, default=None,
                    help="with --samples auto: the cap, per sample set like --samples "
                         f"(default {DEFAULT_MAX_SAMPLES})")
    ex.add_argument("--design", choices=("iid", "orthogonal", "sobol"), default=DEFAULT_DESIGN,
                    help="perturbation design: i.i.d., orthogonal blocks or scrambled Sobol' "
                         f"(default {DEFAULT_DESIGN})")
    ex.add_argument("--noise", type=_float_in(0, None, low_open=True), default=DEFAULT_SIGMA,
                    help=f"noise level sigma (default {DEFAULT_SIGMA:g})")
    ex.add_argument("--lambda", dest="lambdas", type=_float_in(0, None), action="append",
                    help=f"LEG-TV lambda; repeat for several (default {defaults.LAMBDA:g})")
    ex.add_argument("--scheme", choices=("laplacian", "smooth", "iid"), default=defaults.SCHEME)
    ex.add_argument("--estimator", choices=("ridge", "ols", "moment"),
                    default=defaults.ESTIMATOR,
                    help="ridge regression on the samples (default), least squares, or the "
                         "paper's moment estimator")
    mode = ex.add_mutually_exclusive_group()
    mode.add_argument("--per-channel", dest="mode", action="store_const", const="per_channel",
                      help="noise on one colour channel at a time (the paper's scheme; C times "
                           "the model evaluations)")
    mode.add_argument("--joint", dest="mode", action="store_const", const="joint",
                      help="noise on all channels at once (default)")
    ex.set_defaults(mode=defaults.MODE)
    ex.add_argument("--target", type=_target, default=None,
                    help="class index, or k,k2 for the contrast P(k)-P(k2) (default: top-1)")
    ex.add_argument("--solver", default=defaults.SOLVER,
                    help=f"LP solver for LEG-TV (default {defaults.SOLVER})")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--batch-size", type=_positive_int, default=defaults.BATCH_SIZE)
    ex.add_argument("--out", default="leg-output", help="output folder (default leg-output)")
    ex.add_argument("--format", type=_formats, default=FORMATS,
                    help="comma list of png,npy,json (default all)")
    ex.add_argument("--quiet", action="store_true",
                    help="no progress, no per-image lines, no summary (errors still show)")
    ex.add_argument("--debug", action="store_true",
                    help="show tracebacks and TensorFlow's C++ start-up log lines")
    for name, load in _commands().items():  # listed in --help; run by _run_command
        sub.add_parser(name, help=_first_line(load), add_help=False)
    return parser


def _resolve_inputs(inputs: list[str]) -> list[_Input]:
    """Files, folders' images and shipped photos, in order; nothing is read yet. An input
    that is none of them is an :class:`InputError` naming the shipped photos."""
    from leg.io import find_images

    if not inputs:
        return [_Input(name, name, photo=name) for name in PHOTOS]
    items, missing = [], []
    for given in inputs:
        path = Path(given)
        if path.exists():  # a file or folder wins over a photo of the same name
            items += [_Input(p.stem, str(p), path=p) for p in find_images([given])]
        elif given in PHOTOS:
            items.append(_Input(given, given, photo=given))
        else:
            missing.append(given)
    if missing:
        raise InputError(f"{', '.join(missing)}: no such file or shipped photo (shipped: "
                         f"{', '.join(PHOTOS)})")
    if not items:
        raise UsageError(f"no images found in {', '.join(inputs)}")
    return items


def _read_inputs(items: list[_Input]) -> None:
    """Read every input (Pillow, scikit-image: no framework), noting those that fail."""
    from leg.io import ImageError, read_image
    from leg.zoo.photos import load_photo

    for item in items:
        try:
            if item.photo is not None:
                item.image = load_photo(item.photo)
                item.note = "shipped photo, centre-cropped and resized"
            else:
                item.image, item.note = read_image(item.path)
                item.original = list(item.image.shape[:2])
        except (ImageError, ImportError, OSError, ValueError) as exc:
            item.error = str(exc)


def _save_figures(out_dir: Path, stem: str, image, saliency, title: str, label: str) -> dict:
    import matplotlib.pyplot as plt

    from leg.plotting import show_style

    written = {}
    for style in FIGURE_STYLES:
        fig, _ = show_style(image, saliency, style, title=title, label=label)
        path = out_dir / f"{stem}_{style}.png"
        fig.savefig(path, bbox_inches="tight", dpi=110)
        plt.close(fig)
        written[style] = path.name
    return written


def _explain_one(args, explainer, classifier, name, image, out_root: Path) -> dict:
    from leg.estimator import estimate_leg, estimate_leg_tv
    from leg.plotting import leg_label

    t0 = time.perf_counter()
    auto = None
    if explainer.auto:
        estimate = None if args.method == "leg" else (
            lambda r: estimate_leg_tv(r, args.target, lambdas=args.lambdas[:1],
                                      solver=args.solver, **explainer.estimation)[0])
        responses, first = explainer.explain_auto(image, args.target, seed=args.seed,
                                                  estimate=estimate)
        auto = first.auto
    else:
        responses, first = explainer.sample(image, seed=args.seed), None
    if args.method == "leg":
        results = [first or estimate_leg(responses, args.target, **explainer.estimation)]
    elif first is not None and len(args.lambdas) == 1:
        results = [first]
    else:
        results = estimate_leg_tv(responses, args.target, lambdas=args.lambdas,
                                  solver=args.solver, **explainer.estimation)
    out_dir = out_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    names = getattr(classifier, "class_names", None)
    target = results[0].target
    maps = []
    for res in results:
        stem = "leg" if res.lam is None else f"leg-tv_lambda-{res.lam:g}"
        entry = {"lambda": res.lam, "min": float(res.saliency.min()),
                 "max": float(res.saliency.max()),
                 "reliability": None if res.reliability is None else res.reliability.summary()}
        if "npy" in args.format:
            np.save(out_dir / f"{stem}.npy", res.saliency)
            np.save(out_dir / f"{stem}_cells.npy", res.cell_map)
            entry["npy"] = f"{name}/{stem}.npy"
            entry["cells_npy"] = f"{name}/{stem}_cells.npy"
        if "png" in args.format:
            label = _class_label(names, target)
            title = f"{name}: {label} ({args.method}" + (
                f", λ={res.lam:g})" if res.lam is not None else ")")
            figs = _save_figures(out_dir, stem, image, res.saliency, title,
                                 leg_label(res, names))
            entry["figures"] = {k: f"{name}/{v}" for k, v in figs.items()}
        maps.append(entry)
    if "npy" in args.format and results[0].stderr is not None:
        np.save(out_dir / "leg_stderr_cells.npy", results[0].stderr)
    timings = {k: round(v, 4) for k, v in results[0].timings.items()}
    timings["total"] = round(time.perf_counter() - t0, 4)
    return {"target": list(target) if isinstance(target, tuple) else target,
            "class_name": _class_label(names, target), "score": results[0].score,
            "n_evaluations": results[0].n_evaluations, "n_samples": results[0].n_samples,
            "auto": None if auto is None else auto.summary(), "maps": maps,
            "timings": timings}


def _reliability_line(record: dict) -> str:
    """``reliability: Spearman 0.93 (Pearson 0.95); 1501 evaluations (auto: ...)``."""
    rel = record["maps"][0].get("reliability")
    text = ("reliability: not predicted" if rel is None else
            f"predicted reliability: Spearman {rel['spearman']:.2f} (Pearson "
            f"{rel['pearson']:.2f})" + ("" if rel.get("trusted", True) else
                                        " [optimistic: fewer sample pairs than cells]"))
    text += f"; {record['n_evaluations']} evaluations"
    auto = record.get("auto")
    if auto:
        text += (f" (auto: target {auto['target']:g} reached in {auto['rounds']} round"
                 f"{'s' if auto['rounds'] > 1 else ''})" if auto["reached"] else
                 f" (auto: target {auto['target']:g} NOT reached: stopped at the cap of "
                 f"{auto['max_samples']} samples)")
    return text


def _class_label(names, target) -> str | None:
    if names is None:
        return None
    if isinstance(target, tuple):
        return f"{names[target[0]]} - {names[target[1]]}"
    return names[target]


def _check_usage(args) -> None:
    """The checks of the options among themselves (no input read, nothing imported)."""
    args.lambdas = args.lambdas or [defaults.LAMBDA]
    if args.method == "leg" and args.lambdas != [defaults.LAMBDA]:
        raise UsageError("--lambda applies to --method leg-tv only")
    if args.samples != "auto" and (args.reliability is not None
                                   or args.max_samples is not None):
        raise UsageError("--reliability and --max-samples apply to --samples auto only")
    args.reliability = args.reliability or DEFAULT_RELIABILITY
    args.max_samples = args.max_samples or DEFAULT_MAX_SAMPLES
    if args.samples == "auto" and args.max_samples < AUTO_ROUND:
        raise UsageError(f"--max-samples {args.max_samples} is below one round of --samples "
                         f"auto ({AUTO_ROUND} samples); use --max-samples {AUTO_ROUND} or more")


class _Progress:
    """Progress on stderr and results on stdout. On a terminal: tqdm bars (the images, and
    LEG's sampling beneath); elsewhere (a log file, a pipe): one plain line per image, no
    escape codes. ``--quiet``: neither, and no results lines either."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bars = not quiet and sys.stderr.isatty()

    def iterate(self, items):
        if self.bars:
            from tqdm.auto import tqdm

            yield from tqdm(items, desc="images", unit="image")
            return
        for i, item in enumerate(items, start=1):
            if not self.quiet and len(items) > 1:
                print(f"explaining {item.name} ({i} of {len(items)})", file=sys.stderr,
                      flush=True)
            yield item

    def result(self, line: str) -> None:
        if self.quiet:
            return
        if self.bars:
            from tqdm.auto import tqdm

            tqdm.write(line, file=sys.stdout)  # clears the bars on stderr, then redraws
        else:
            print(line, flush=True)


def _failure_line(item: _Input, message: str) -> str:
    """``leg: NAME: why`` (a file's reason names its path already)."""
    return f"leg: {message}" if message.startswith(item.source) else \
        f"leg: {item.name}: {message}"


def run_explain(args) -> int:
    _check_usage(args)
    started = time.perf_counter()
    # every input resolved and read before any framework loads: a typo costs no start-up
    items = _resolve_inputs(args.inputs)
    _read_inputs(items)
    if all(item.error is not None for item in items):
        for item in items:
            print(_failure_line(item, item.error), file=sys.stderr)
        raise NothingExplained(f"none of the {len(items)} images could be read" if len(items) > 1
                               else None)

    from leg.estimator import LEG
    from leg.io import ImageError, fit_to_model
    from leg.zoo import resolve_model

    model_spec = args.model or "lite0"
    # TensorFlow's C++ start-up lines hidden unless --debug; imported now (fd 2 held) only
    # for the models that load it anyway
    from leg.zoo import uses_tensorflow

    uses_tf = uses_tensorflow(model_spec)
    use_bfc_cpu_allocator()
    quiet_tensorflow(debug=args.debug, load=uses_tf)
    if uses_tf:
        _check_keras(model_spec, default=args.model is None)
    try:
        resolved = resolve_model(model_spec, input_size=args.input_size,
                                 preprocessing=args.preprocessing, softmax=args.softmax,
                                 device=args.device, require_size=True, option_prefix="--")
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    classifier = resolved.classifier
    args.resolved_device = str(getattr(classifier, "device", "")) or None
    args.model_inputs = resolved.record()
    size, channels = resolved.input_size, resolved.channels
    default_grid = args.cell_size is None and args.grid is None
    if default_grid:
        args.grid = DEFAULT_GRID  # recorded; LEG's default (fewer cells on a smaller image)
    progress = _Progress(args.quiet)
    try:
        explainer = LEG(
            classifier, cell_size=args.cell_size, grid=None if default_grid else args.grid,
            sigma=args.noise,
            n_samples=args.samples if args.samples == "auto" else args.samples + args.samples % 2,
            target_reliability=args.reliability, max_samples=args.max_samples,
            round_samples=AUTO_ROUND,
            scheme=args.scheme, mode=args.mode, estimator=args.estimator,
            batch_size=args.batch_size, progress=progress.bars, design=args.design)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out_root = Path(args.out)
    records, failures = [], 0
    for item in progress.iterate(items):
        record = {"name": item.name, "input": item.source, "conversion": item.note,
                  "original_size": item.original}
        try:
            if item.error is not None:
                raise ImageError(item.error)
            fitted, fit_note = fit_to_model(item.image, size, channels)
            record["size"] = list(fitted.shape[:2])
            record["conversion"] = "; ".join(x for x in (item.note, fit_note) if x)
            record.update(_explain_one(args, explainer, classifier, item.name, fitted,
                                       out_root))
            record["status"] = "ok"
            progress.result(f"{item.name}: {record['class_name'] or record['target']} "
                            f"(score {record['score']:.3f}) -> {out_root / item.name}; "
                            f"{_reliability_line(record)}")
        except (ImageError, ValueError, RuntimeError) as exc:
            failures += 1
            record.update(status="failed", error=str(exc))
            print(_failure_line(item, str(exc)), file=sys.stderr)
            if args.debug:
                traceback.print_exc()
        records.append(record)
        # written after every image once one is explained (an interrupted run keeps them);
        # never for a run that explained nothing
        if "json" in args.format and failures < len(records):
            _write_results(out_root, args, model_spec, records, started)
    explained = len(records) - failures
    if not explained:
        raise NothingExplained(f"none of the {len(records)} images could be explained"
                               if len(records) > 1 else None)
    progress.result(f"{explained} of {len(records)} images explained; results in {out_root}")
    return 1 if failures else 0


def _check_keras(spec: str, *, default: bool) -> None:
    """A usage error naming what works when ``spec`` needs Keras/TensorFlow and they are not
    installed (a PyTorch-only install)."""
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError as exc:
        what = f"the default model ({spec})" if default else f"--model {spec}"
        raise UsageError(
            f"{what} needs Keras/TensorFlow, and {exc.name or 'keras'} is not installed: use "
            "--model lite0-torch (the same network in PyTorch), or install the tf extra "
            "(pip install -e '.[tf]')") from None


def _write_results(out_root: Path, args, model_spec, records, started) -> None:
    import leg
    from leg._files import write_text

    doc = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "leg_version": leg.__version__,
        "model": model_spec,
        "method": args.method,
        "parameters": {
            "cell_size": None if args.grid else args.cell_size,
            "grid": list(args.grid) if args.grid else None, "samples": args.samples,
            "reliability": args.reliability if args.samples == "auto" else None,
            "max_samples": args.max_samples if args.samples == "auto" else None,
            "design": args.design,
            "noise": args.noise, "estimator": args.estimator,
            "lambdas": args.lambdas if args.method == "leg-tv" else None,
            "scheme": args.scheme, "mode": args.mode, "target": args.target,
            "solver": args.solver, "seed": args.seed, "batch_size": args.batch_size,
            "device": getattr(args, "resolved_device", None),
        },
        "model_inputs": getattr(args, "model_inputs", None),
        "images": records,
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_text(out_root / "results.json", json.dumps(doc, indent=2, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _commands() -> dict:
    """The subcommands other packages add (entry points ``leg.commands``: the harness's
    ``evaluate`` and ``report``), by name: ``name -> entry point`` (loaded only when run)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


def _has_pytest() -> bool:
    """Whether pytest, which ``leg evaluate`` runs, is installed (the harness extra)."""
    return importlib.util.find_spec("pytest") is not None


def _first_line(ep) -> str:
    return f"see 'leg {ep.name} --help' (from {ep.value.split(':')[0]})"


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["evaluate"] and argv[1:2] not in (["-h"], ["--help"]) and not _has_pytest():
        print(HARNESS_EXTRA, file=sys.stderr)  # rather than pytest's "No module named pytest"
        return 1
    commands = _commands() if argv and argv[0] != "explain" else {}
    if argv and argv[0] in commands:  # another package's command: it parses its own arguments
        return int(commands[argv[0]].load()(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a message on bad usage
    try:
        return run_explain(args)
    except InputError as exc:
        print(f"leg: {exc}", file=sys.stderr)
        return 1
    except NothingExplained as exc:  # the reasons were printed, one line per image
        if exc.args[0]:
            print(f"leg: {exc}; nothing written", file=sys.stderr)
        return 1
    except UsageError as exc:
        print(f"leg: error: {exc}", file=sys.stderr)
        if getattr(args, "debug", False):
            traceback.print_exc()
        return 2
    except KeyboardInterrupt:
        print("leg: interrupted; finished images are in the output folder", file=sys.stderr)
        return 130
    except Exception as exc:  # one line unless --debug
        print(f"leg: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if getattr(args, "debug", False):
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())

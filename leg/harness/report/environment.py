"""What a stored run remembers of where it ran (``run.json``'s ``environment``), and the
differences a comparison warns about.

:func:`environment` records the machine (processor, logical CPUs, the threads the
frameworks use, the GPU when PyTorch or TensorFlow sees one), the leg version and, in a git
checkout, its commit (``+dirty`` when the tracked files differ from it), the folder the run
was started in and its commit (the project's: recorded, not warned about, since a new
version of the model usually comes with a new commit), and the versions of the frameworks
that shape the numbers (NumPy, SciPy, and PyTorch, TensorFlow and Keras where the run
imported them). :func:`differences` lists, one line each, what differs
between two runs' records; a comparison with a baseline shows them in the terminal and on
the report's first screen. The model fingerprints are the identity's
(:func:`leg.harness.report.baseline.check_compatible`).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["differences", "environment"]

#: The frameworks recorded when importable (NumPy, SciPy) or imported (the others).
FRAMEWORKS = ("numpy", "scipy", "torch", "tensorflow", "keras")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                  capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    out = []
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                out += [f"cuda: {torch.cuda.get_device_name(i)}"
                        for i in range(torch.cuda.device_count())]
        except Exception:  # a broken driver is not a reason to lose the report
            pass
    tf = sys.modules.get("tensorflow")
    if tf is not None and not out:
        try:
            out += [f"tensorflow: {d.name}" for d in tf.config.list_physical_devices("GPU")]
        except Exception:
            pass
    return out


def _threads() -> dict:
    t = {"cpus": os.cpu_count()}
    try:
        t["usable_cpus"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        t["torch"] = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        if os.environ.get(var):
            t[var] = os.environ[var]
    return t


def _git_commit(folder: Path) -> str | None:
    """The commit of the git checkout ``folder`` is in (``+dirty`` with uncommitted changes
    to tracked files); ``None`` outside one or without git."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict:
    """``{"machine": {...}, "leg": {"version", "commit"}, "project": {"folder", "commit"},
    "frameworks": {name: version}}`` of this process (JSON-ready)."""
    from importlib import metadata

    import leg

    try:
        version = metadata.version("leg")
    except metadata.PackageNotFoundError:
        version = None
    source = Path(leg.__file__).resolve().parent.parent
    frameworks = {"python": platform.python_version()}
    for name in FRAMEWORKS:
        if name in ("numpy", "scipy") or name in sys.modules:
            try:
                frameworks[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                mod = sys.modules.get(name)
                if getattr(mod, "__version__", None):
                    frameworks[name] = str(mod.__version__)
    return {"machine": {"cpu": _cpu_model(), "architecture": platform.machine(),
                        "system": f"{platform.system()} {platform.release()}",
                        "gpus": _gpus(), "threads": _threads()},
            "leg": {"version": version,
                    "commit": _git_commit(source) if (source / ".git").exists() else None},
            "project": {"folder": os.getcwd(), "commit": _git_commit(Path.cwd())},
            "frameworks": frameworks}


def _show(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {v[k]}" for k in sorted(v)) or "none"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    return "unknown" if v is None else str(v)


def differences(before: dict | None, after: dict | None) -> list[str]:
    """One line per difference between two :func:`environment` records (``before``: the
    baseline's, ``after``: this run's); a record that is missing (a run stored before
    ``environment`` existed) is one line saying so."""
    if not before or not after:
        return ["the baseline records no environment (stored by an older leg): machine, "
                "commit and framework versions cannot be compared"] if after else []
    out = []
    fields = [("CPU", ("machine", "cpu")), ("architecture", ("machine", "architecture")),
              ("system", ("machine", "system")), ("GPU", ("machine", "gpus")),
              ("threads", ("machine", "threads")), ("leg version", ("leg", "version")),
              ("leg commit", ("leg", "commit"))]
    for label, (a, b) in fields:
        x, y = (before.get(a) or {}).get(b), (after.get(a) or {}).get(b)
        if x != y:
            out.append(f"{label} differs: baseline {_show(x)}, this run {_show(y)}")
    fa, fb = before.get("frameworks") or {}, after.get("frameworks") or {}
    for name in sorted(set(fa) | set(fb)):
        if fa.get(name) != fb.get(name) and name in fa and name in fb:
            out.append(f"{name} differs: baseline {fa[name]}, this run {fb[name]}")
        elif name in fb and name not in fa:
            out.append(f"{name} {fb[name]} is used by this run, not by the baseline")
        elif name in fa and name not in fb:
            out.append(f"{name} {fa[name]} was used by the baseline, not by this run")
    return out

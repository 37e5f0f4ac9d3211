"""The PyTorch adapter: a ``torch.nn.Module`` as a classifier on ``[0, 1]`` images.

:class:`TorchClassifier` takes ``(N, H, W, C)`` images in ``[0, 1]`` (NumPy arrays, or
tensors on the module's device), applies the preprocessing, feeds the module ``(N, C, H,
W)`` tensors and returns ``(N, K)`` scores. It runs on whatever device the module's
parameters are on, in evaluation mode and without autograd, and it builds LEG's perturbed
images on that device (:meth:`TorchClassifier.perturbed_scores`): only the grid-sized
perturbations go in and only the scores come back.

``torch`` is an optional dependency: importing this module does not import it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from leg._validation import check_choice, check_int, check_scores
from leg.preprocessing import CAFFE_BGR_MEAN, IMAGENET_MEAN, IMAGENET_STD

__all__ = ["AUTOCAST_DTYPES", "TorchClassifier", "torch_module_inputs"]

AUTOCAST_DTYPES = ("float16", "bfloat16")


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("TorchClassifier needs PyTorch: pip install torch (any build; the "
                          "CPU build is enough).") from exc
    return torch


def _torch_preprocessing(name: str) -> Callable:
    """The named preprocessing of :data:`leg.preprocessing.PREPROCESSING` on NHWC tensors."""
    torch = _import_torch()

    def constant(values, like):
        return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device)

    presets = {
        "caffe": lambda x: x.flip(-1) * 255.0 - constant(CAFFE_BGR_MEAN, x),
        "tf": lambda x: x * 2.0 - 1.0,
        "torch": lambda x: (x - constant(IMAGENET_MEAN, x)) / constant(IMAGENET_STD, x),
        "lite0": lambda x: (x * 255.0 - 127.0) / 128.0,
        "none": lambda x: x,
    }
    check_choice(name, "preprocessing", presets)
    return presets[name]


def _module_device(module):
    """The one device holding ``module``'s parameters and buffers (CPU if it has none)."""
    torch = _import_torch()
    devices = {t.device for t in (*module.parameters(), *module.buffers())}
    if len(devices) > 1:
        raise ValueError(
            f"The module's parameters are spread over {sorted(map(str, devices))}; "
            "TorchClassifier runs a module on one device. Move it there first, e.g. "
            "module.to('cuda')."
        )
    return devices.pop() if devices else torch.device("cpu")


class TorchClassifier:
    """Wrap a ``torch.nn.Module`` as a classifier on ``[0, 1]`` images.

    Parameters
    ----------
    module : torch.nn.Module
        In evaluation mode (``module.eval()``); takes ``(N, C, H, W)`` preprocessed float
        tensors on its own device and returns ``(N, K)`` scores.
    preprocessing : {"caffe", "tf", "torch", "lite0", "none"} or callable, default "none"
        Maps ``(N, H, W, C)`` tensors in ``[0, 1]`` to the module's input space (the
        presets are those of :class:`leg.models.KerasClassifier`); a callable gets and
        returns ``(N, H, W, C)`` tensors.
    softmax : bool, default False
        Apply a softmax to the module's outputs (when it returns logits).
    batch_size : int, default 64
        Images per module call.
    class_names : sequence of str, optional
    input_shape : (H, W, C), optional
        The image size the module expects (lets ``leg explain`` and the harness resize
        images to it).
    channels_last : bool, default False
        Convert the module to ``torch.channels_last`` memory format (in place) and feed it
        channels-last tensors: faster convolutions on recent GPUs.
    autocast : {"float16", "bfloat16"}, optional
        Run forward passes under ``torch.autocast`` in this dtype. Faster on GPUs, but
        LEG regresses score *differences* of about 1e-3, which half precision rounds
        coarsely; keep it off unless you have checked the maps (gradients always run in
        float32).
    device_batches : bool, default True
        Build LEG's perturbed images on the module's device (:meth:`perturbed_scores`).
    """

    def __init__(self, module, *, preprocessing: str | Callable = "none",
                 softmax: bool = False, batch_size: int = 64, class_names=None,
                 input_shape: tuple[int, int, int] | None = None, channels_last: bool = False,
                 autocast: str | None = None, device_batches: bool = True):
        torch = _import_torch()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"TorchClassifier wraps a torch.nn.Module; got "
                            f"{type(module).__name__}.")
        self.module = module
        self._check_eval_mode()
        self.device = _module_device(module)
        self.preprocessing = preprocessing if isinstance(preprocessing, str) else "custom"
        self.preprocess = (preprocessing if callable(preprocessing)
                           else _torch_preprocessing(preprocessing))
        self.apply_softmax = bool(softmax)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.class_names = list(class_names) if class_names is not None else None
        if input_shape is not None:
            input_shape = tuple(int(d) for d in input_shape)
            if len(input_shape) != 3:
                raise ValueError(f"'input_shape' must be (H, W, C); got {input_shape}.")
        self.input_shape = input_shape
        self.channels_last = bool(channels_last)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        if autocast is not None:
            check_choice(autocast, "autocast", AUTOCAST_DTYPES)
        self.autocast = autocast
        self.device_batches = bool(device_batches)

    #: The module computes in float32: LEG's host-built batches are summed in it.
    input_dtype = np.float32

    # ------------------------------------------------------------------ checks
    def _check_eval_mode(self) -> None:
        training = [name or type(self.module).__name__
                    for name, m in self.module.named_modules() if m.training]
        if training:
            raise ValueError(
                f"The module is in training mode ({', '.join(training[:3])}"
                f"{', ...' if len(training) > 3 else ''}): dropout and batch-norm updates would "
                "make every score random and change the model while it is explained. Call "
                "module.eval() first."
            )

    def _as_tensor(self, images):
        """``images`` ``(N, H, W, C)`` or ``(H, W, C)`` as a float32 tensor on the device."""
        torch = _import_torch()
        if isinstance(images, torch.Tensor):
            if images.device != self.device:
                raise ValueError(
                    f"The images are on {images.device} but the model is on {self.device}; "
                    f"move them with images.to('{self.device}') or pass a NumPy array."
                )
            x = images.to(torch.float32)
        else:
            x = torch.as_tensor(np.asarray(images, dtype=np.float32), device=self.device)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f"Expected (N, H, W, C) images; got shape {tuple(x.shape)}.")
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"The model expects images of shape (N, {', '.join(map(str, self.input_shape))})"
                f"; got {tuple(x.shape)}. Resize the image (e.g. skimage.transform.resize) "
                "first; images are channels-last (N, H, W, C) in [0, 1]."
            )
        return x

    # ------------------------------------------------------------------ forward
    def _forward(self, x, probability: bool):
        """``(B, H, W, C)`` float32 tensor in [0, 1] -> ``(B, K)`` float32 scores tensor."""
        import contextlib

        torch = _import_torch()
        self._check_eval_mode()
        inputs = self.preprocess(x).permute(0, 3, 1, 2)  # an NHWC tensor viewed as NCHW
        inputs = inputs.contiguous(memory_format=torch.channels_last if self.channels_last
                                   else torch.contiguous_format)
        cast = (torch.autocast(self.device.type, dtype=getattr(torch, self.autocast))
                if self.autocast and not torch.is_grad_enabled() else contextlib.nullcontext())
        try:
            with cast:
                out = self.module(inputs)
        except RuntimeError as exc:
            if "device" in str(exc) or "Expected all tensors" in str(exc):
                raise ValueError(
                    f"The module failed on a batch on {self.device}: {exc}. Every parameter, "
                    "buffer and tensor the module creates must live on the device of its "
                    "parameters; move it with module.to(device)."
                ) from None
            raise
        if not isinstance(out, torch.Tensor):
            raise ValueError(
                f"The module must return a (N, K) tensor of class scores; it returned a "
                f"{type(out).__name__}. Wrap it so forward() returns the logits tensor."
            )
        if out.ndim != 2 or out.shape[0] != len(x):
            raise ValueError(
                f"The module must return scores of shape (N, K) = ({len(x)}, K) for a batch "
                f"of {len(x)} images; it returned shape {tuple(out.shape)}."
            )
        out = out.float()
        return torch.softmax(out, dim=-1) if probability else out

    def _scores(self, images, probability: bool) -> np.ndarray:
        torch = _import_torch()
        x = self._as_tensor(images)
        with torch.inference_mode():
            outs = [self._forward(x[a:a + self.batch_size], probability)
                    for a in range(0, len(x), self.batch_size)]
        return torch.cat(outs).cpu().numpy().astype(np.float64)

    def logits(self, images) -> np.ndarray:
        """Raw module outputs ``(N, K)`` for ``(N, H, W, C)`` images in ``[0, 1]``."""
        return self._scores(images, probability=False)

    def __call__(self, images) -> np.ndarray:
        return self._scores(images, probability=self.apply_softmax)

    def gradient(self, images, target: int, *, score: str = "probability") -> np.ndarray:
        """Gradient of the target score w.r.t. the ``[0, 1]`` pixels: ``(N, H, W, C)``.

        ``score="probability"`` differentiates what ``__call__`` returns; ``"logit"`` the
        raw output. The preprocessing is differentiated through; float32, no autocast.
        """
        torch = _import_torch()
        check_choice(score, "score", ("probability", "logit"))
        probability = self.apply_softmax and score == "probability"
        x = self._as_tensor(images)
        outs = []
        with torch.enable_grad():
            for a in range(0, len(x), self.batch_size):
                batch = x[a:a + self.batch_size].detach().requires_grad_(True)
                out = self._forward(batch, probability)
                (grad,) = torch.autograd.grad(out[:, int(target)].sum(), batch)
                outs.append(grad.detach())
        return torch.cat(outs).cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------------ LEG's samples
    def perturbed_scores(self, image: np.ndarray, cells: np.ndarray, eps: np.ndarray, *,
                         mode: str, clip: bool, score: str, batch_size: int,
                         progress: Callable[[int], object] | None = None):
        """Scores of ``image`` plus each perturbation, built on the module's device.

        ``image`` ``(H, W, C)`` in [0, 1]; ``cells`` ``(H, W)`` the grid cell of each pixel;
        ``eps`` ``(S, n, q)`` grid perturbations (``S`` = C per channel, 1 joint). Returns
        the ``(S, n, K)`` float64 scores and, with ``clip``, the ``(S, n, q)`` perturbations
        actually applied (pooled to cells), else ``None``. The perturbed images are summed
        in float32 on the device; one copy back at the end.
        """
        torch = _import_torch()
        probability = self.apply_softmax and score == "probability"
        n_sets, n, q = eps.shape
        x0 = self._as_tensor(image)[0]
        channels = x0.shape[-1]
        index = torch.as_tensor(np.asarray(cells).ravel(), dtype=torch.long, device=self.device)
        counts = torch.bincount(index, minlength=q).to(torch.float32)
        eps_dev = torch.as_tensor(np.asarray(eps, dtype=np.float32), device=self.device)
        scores, applied = None, (torch.empty_like(eps_dev) if clip else None)
        with torch.inference_mode():
            for s in range(n_sets):
                for a in range(0, n, batch_size):
                    e = eps_dev[s, a:a + batch_size]
                    noise = e[:, index].view(len(e), *x0.shape[:2])
                    if mode == "joint":
                        batch = x0 + noise[..., None]
                    else:
                        onehot = torch.zeros(channels, device=self.device)
                        onehot[s] = 1.0
                        batch = x0 + noise[..., None] * onehot
                    if clip:
                        batch = batch.clamp(0.0, 1.0)
                        moved = batch - x0
                        moved = moved.mean(-1) if mode == "joint" else moved[..., s]
                        pooled = torch.zeros(len(e), q, device=self.device)
                        pooled.index_add_(1, index, moved.reshape(len(e), -1))
                        applied[s, a:a + batch_size] = pooled / counts
                    out = self._forward(batch, probability)
                    if scores is None:
                        scores = torch.empty((n_sets, n, out.shape[1]), device=self.device)
                    scores[s, a:a + len(e)] = out
                    if progress is not None:
                        progress(len(e))
        result = scores.cpu().numpy().astype(np.float64)
        check_scores(result.reshape(n_sets * n, -1), n_sets * n)
        return result, (applied.cpu().numpy() if clip else None)


def torch_module_inputs(clf, images):
    """``(N, H, W, C)`` images in ``[0, 1]`` as a TorchClassifier's module takes them: a
    float32 ``(N, C, H, W)`` tensor on its device, preprocessed, in its memory format."""
    import torch

    x = torch.as_tensor(np.asarray(images, dtype=np.float32), device=clf.device)
    fmt = torch.channels_last if getattr(clf, "channels_last", False) else torch.contiguous_format
    return clf.preprocess(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt)

"""Checkpoint files: a plain dict loadable with ``torch.load(weights_only=True)``.

Format (version 1)::

    {"format": "neurodeploy.checkpoint", "version": 1,
     "arch": "csdformer" | "spikezip" | "spikedattention",   # key of ARCHITECTURES
     "config": {...},                # the config dataclass as a dict of ints/floats/strs/lists
     "state_dict": {...},            # the QANN (quantizer steps / calibrated scales included)
     "float_state_dict": {...},      # optional: the float ANN before QAT (same keys)
     "meta": {...}}                  # optional: dataset, seed, measured accuracies (primitives)

No Python classes are pickled. A file that does not match an architecture raises
:class:`~neurodeploy.errors.UnsupportedError` naming the file and every offending key or layer
with what would make it deployable; the list is also on the exception as ``problems``.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurodeploy.errors import UnsupportedError

from .common import ConfigBase
from .quant import LSQQuantizer, PhaseQuantizer, set_quantization
from .registry import ARCHITECTURES, arch_of

__all__ = ["Checkpoint", "Problem", "load_checkpoint", "save_checkpoint", "FORMAT", "VERSION"]

FORMAT, VERSION = "neurodeploy.checkpoint", 1


@dataclasses.dataclass(frozen=True)
class Problem:
    """One reason a checkpoint cannot be deployed: where, what, and the fix."""

    layer: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"  - {self.layer}: {self.reason} -> {self.fix}"


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint. ``model`` is the QANN in eval mode (quantizers on)."""

    path: str
    arch: str
    config: ConfigBase
    model: nn.Module
    meta: dict[str, Any]
    float_state_dict: dict[str, torch.Tensor] | None = None

    def float_model(self) -> nn.Module:
        """The float ANN rung: pre-QAT weights if stored (else the QANN's), quantizers off."""
        model = ARCHITECTURES[self.arch][1](self.config)
        model.load_state_dict(self.float_state_dict or self.model.state_dict())
        set_quantization(model, False)
        return model.eval()


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, meta: dict | None = None,
                    float_state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """Write ``model`` (a registered architecture with a ``config``) atomically to ``path``."""
    def plain(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: (v.float() if v.is_floating_point() else v).detach().cpu().clone()
                .contiguous() for k, v in sd.items()}

    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "arch": arch_of(model),
                            "config": model.config.to_dict(), "state_dict": plain(
                                model.state_dict()), "meta": dict(meta or {})}
    if float_state_dict is not None:
        data["float_state_dict"] = plain(float_state_dict)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fail(path: str, problems: list[Problem], headline: str) -> UnsupportedError:
    text = headline + ":\n" + "\n".join(str(p) for p in problems)
    err = UnsupportedError(text, file=path, layer=problems[0].layer if problems else None)
    err.problems = problems  # type: ignore[attr-defined]
    return err


def _pattern(key: str) -> str:
    return re.sub(r"\.\d+(?=\.)", ".#", key)


def _layer(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else key


def _hint(arch: str, key: str, sd: dict[str, Any]) -> str:
    layer = _layer(key)
    is_ln = key.endswith(("weight", "bias")) and f"{layer}.running_mean" not in sd and (
        "norm" in layer.lower() or "ln" in layer.lower().split(".")[-1])
    if is_ln and arch in ("csdformer", "spikedattention"):
        return ("LayerNorm cannot run on neurocores for this method: retrain with BatchNorm"
                f" ({arch} keeps BN as a separate module that is folded into the linear layer)")
    if "running_mean" in key or "running_var" in key:
        return f"a BatchNorm where {arch} has none: fold it into the adjacent layer before saving"
    return (f"not a layer of {arch}: remove it, or rebuild the model with"
            f" neurodeploy.models.ARCHITECTURES['{arch}'] and retrain/re-save it")


def _match_bare(path: str, sd: dict[str, Any]) -> UnsupportedError:
    """A bare state_dict: find the closest architecture by key pattern and report the rest."""
    best: tuple[int, str, list[str]] | None = None
    for arch, (cfg_cls, model_cls) in ARCHITECTURES.items():
        known = {_pattern(k) for k in model_cls(cfg_cls().replace(depth=1)).state_dict()}
        bad = [k for k in sd if _pattern(k) not in known]
        if best is None or len(bad) < best[0]:
            best = (len(bad), arch, bad)
    assert best is not None
    _, arch, bad = best
    problems = [Problem("<file>", "no 'arch'/'config' entries (a bare state_dict)",
                        "save with neurodeploy.models.save_checkpoint(path, model) so the"
                        " architecture and its config travel with the weights")]
    problems += [Problem(_layer(k), f"key '{k}' is unknown", _hint(arch, k, sd)) for k in bad]
    return _fail(path, problems,
                 f"checkpoint matches no architecture (closest: '{arch}', {len(bad)} unknown keys)")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load and validate a checkpoint (``weights_only=True``); see the module docstring."""
    spath = str(path)
    if not Path(spath).is_file():
        raise UnsupportedError("checkpoint file does not exist", file=spath)
    try:
        data = torch.load(spath, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the same user error
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UnsupportedError(
            f"cannot be read with torch.load(weights_only=True) ({first}); save a plain dict of"
            " tensors and primitives with neurodeploy.models.save_checkpoint (no pickled"
            " classes)", file=spath) from exc
    if not isinstance(data, dict):
        raise UnsupportedError(f"expected a dict, found {type(data).__name__}; save with"
                               " neurodeploy.models.save_checkpoint", file=spath)
    if "state_dict" not in data and all(isinstance(v, torch.Tensor) for v in data.values()):
        raise _match_bare(spath, data)
    missing = [k for k in ("arch", "config", "state_dict") if k not in data]
    if missing:
        raise UnsupportedError(f"missing entries {missing}; save with"
                               " neurodeploy.models.save_checkpoint", file=spath)
    arch = data["arch"]
    if arch not in ARCHITECTURES:
        raise UnsupportedError(f"unknown architecture {arch!r}; deployable architectures:"
                               f" {sorted(ARCHITECTURES)}", file=spath, field="arch")
    if data.get("format", FORMAT) != FORMAT or data.get("version", VERSION) != VERSION:
        raise UnsupportedError(f"format {data.get('format')!r} version {data.get('version')!r}"
                               f" is not {FORMAT!r} version {VERSION}", file=spath, field="format")
    cfg_cls, model_cls = ARCHITECTURES[arch]
    if not isinstance(data["config"], dict):
        raise UnsupportedError("config must be a dict", file=spath, field="config")
    config = cfg_cls.from_dict(data["config"], file=spath)
    model = model_cls(config)
    problems = _state_problems(arch, model, data["state_dict"])
    fsd = data.get("float_state_dict")
    if fsd is not None:
        problems += [dataclasses.replace(p, reason="float_state_dict: " + p.reason)
                     for p in _state_problems(arch, model, fsd, quantizers=False)]
    if problems:
        raise _fail(spath, problems, f"checkpoint does not match architecture '{arch}' with its"
                                     " config")
    model.load_state_dict(data["state_dict"])
    set_quantization(model, True)
    return Checkpoint(spath, arch, config, model.eval(), dict(data.get("meta") or {}), fsd)


def _state_problems(arch: str, model: nn.Module, sd: Any, quantizers: bool = True
                    ) -> list[Problem]:
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        return [Problem("<file>", "state_dict is not a dict of tensors",
                        "store model.state_dict()")]
    ref = model.state_dict()
    problems = [Problem(_layer(k), f"key '{k}' is unknown", _hint(arch, k, sd))
                for k in sd if k not in ref]
    problems += [Problem(_layer(k), f"key '{k}' is missing",
                         "the config builds this layer: fix the config or re-save the model")
                 for k in ref if k not in sd]
    for k, v in sd.items():
        if k in ref and v.shape != ref[k].shape:
            problems.append(Problem(_layer(k), f"'{k}' has shape {tuple(v.shape)}, the config"
                                    f" needs {tuple(ref[k].shape)}",
                                    "make the config's widths/depth/patching match the weights"))
        elif k in ref and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            problems.append(Problem(_layer(k), f"'{k}' has non-finite values",
                                    "retrain; NaN/inf weights cannot be converted to integers"))
    if not quantizers or problems:
        return problems
    model.load_state_dict(sd)
    for name, m in model.named_modules():
        if isinstance(m, LSQQuantizer) and (not bool(m.initialized) or not m.step > 0):
            problems.append(Problem(name, f"LSQ quantizer not trained (step {m.step})",
                                    "run quantization-aware training (tools/train.py) first"))
        if isinstance(m, PhaseQuantizer) and not float(m.scale) > 0:
            problems.append(Problem(name, "phase-code slot is not calibrated (scale 0)",
                                    "run neurodeploy.models.spikedattention.calibrate first"))
    return problems

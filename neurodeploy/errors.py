"""The NeurodeployError hierarchy.

Every error names where the problem is (file, layer, field), what was found (value) and what is
allowed (limit), so that a user can fix a bundle or model without reading a stack trace. The CLI
prints ``str(error)`` on stderr and exits with status 2.
"""
from __future__ import annotations

__all__ = [
    "NeurodeployError", "IRError", "RangeError", "BundleError", "UnsupportedError",
    "BackendUnavailableError", "StateOverflowError", "TargetError", "NeurodeployWarning",
]


class NeurodeployError(Exception):
    """Base class. Carries optional location fields that are rendered into the message."""

    def __init__(self, message: str, *, file: str | None = None, layer: str | None = None,
                 field: str | None = None, value: object = None, limit: object = None) -> None:
        self.file, self.layer, self.field, self.value, self.limit = file, layer, field, value, limit
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file '{self.file}'")
        if self.layer is not None:
            where.append(f"layer '{self.layer}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = (", ".join(where) + ": " if where else "") + self.detail
        if self.value is not None:
            text += f" (value: {self.value}"
            text += f"; limit: {self.limit})" if self.limit is not None else ")"
        elif self.limit is not None:
            text += f" (limit: {self.limit})"
        return text

    def located(self, *, file: str | None = None, layer: str | None = None) -> "NeurodeployError":
        """Return a copy of this error with the file (and layer, if unset) filled in."""
        err = type(self).__new__(type(self))
        NeurodeployError.__init__(err, self.detail, file=file or self.file,
                                  layer=self.layer or layer, field=self.field,
                                  value=self.value, limit=self.limit)
        return err


class IRError(NeurodeployError):
    """The network graph is malformed: unknown input, wrong shape, cycle without a synapse."""


class RangeError(IRError):
    """An integer parameter lies outside its legal range (bit width of the hardware field)."""


class BundleError(NeurodeployError):
    """A bundle (netx HDF5 file) is missing, truncated, corrupted or has a wrong dataset."""


class UnsupportedError(NeurodeployError):
    """A layer type, neuron type or option exists but neurodeploy (or the target) cannot run it."""


class BackendUnavailableError(NeurodeployError):
    """A backend was requested whose software is not installed (e.g. lava-loihi for Loihi 2)."""


class StateOverflowError(NeurodeployError):
    """Strict mode: a state variable would not fit its declared bit width (would wrap on chip)."""

    def __init__(self, message: str, *, layer: str, field: str, neuron: tuple, step: int,
                 value: object, limit: object, file: str | None = None) -> None:
        self.neuron, self.step = neuron, step
        super().__init__(f"{message} at neuron {neuron}, step {step}", file=file, layer=layer,
                         field=field, value=value, limit=limit)

    def located(self, *, file=None, layer=None):  # keeps neuron and step
        return StateOverflowError(self.detail.rsplit(" at neuron", 1)[0], layer=self.layer or layer,
                                  field=self.field, neuron=self.neuron, step=self.step,
                                  value=self.value, limit=self.limit, file=file or self.file)


class TargetError(NeurodeployError):
    """A target description (targets/*.toml) is missing, malformed or inconsistent."""


class NeurodeployWarning(UserWarning):
    """Base class of neurodeploy's warnings (e.g. bundle.NetxWarning)."""

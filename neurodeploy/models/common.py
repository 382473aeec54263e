"""Shared pieces of the three architectures: config (de)serialisation and token BatchNorm."""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from torch import Tensor, nn

from neurodeploy.errors import UnsupportedError

__all__ = ["ConfigBase", "TokenBatchNorm"]

C = TypeVar("C", bound="ConfigBase")


@dataclasses.dataclass(frozen=True)
class ConfigBase:
    """A frozen architecture config; serialises to a dict of ints/floats/strs/bools/lists."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, file: str | None = None) -> C:
        """Build from :meth:`to_dict` output; unknown keys raise :class:`UnsupportedError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UnsupportedError(
                f"config keys {unknown} are not fields of {cls.__name__} (known: {sorted(names)});"
                " remove them or pick the architecture they belong to", file=file, field="config")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kw)
        except (TypeError, ValueError) as exc:
            raise UnsupportedError(f"invalid {cls.__name__}: {exc}", file=file,
                                   field="config") from exc

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the feature axis of a token tensor ``(batch, tokens, features)``.

    A plain :class:`torch.nn.BatchNorm1d` (same parameters and buffers) applied per feature, so a
    converter folds it into the preceding linear layer exactly as a BatchNorm1d.
    """

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)

"""Deployment bundles: netx HDF5 files (lava-dl 0.6.0) plus the lossless ``/neurodeploy`` IR
extension. See :mod:`neurodeploy.bundle.netx` for the format mapping and the warnings."""
from .extension import FORMAT_VERSION
from .netx import (
    NetxWarning,
    NeurodeployWarning,
    netx_compatibility,
    netx_layers,
    netx_prepared_weights,
    read_bundle,
    read_metadata,
    write_bundle,
)

__all__ = ["read_bundle", "read_metadata", "write_bundle", "netx_compatibility", "netx_layers",
           "netx_prepared_weights", "NetxWarning", "NeurodeployWarning", "FORMAT_VERSION"]

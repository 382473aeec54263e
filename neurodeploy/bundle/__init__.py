"""Deployment bundles: netx HDF5 files (lava-dl 0.6.0) plus the lossless ``/neurodeploy`` IR
extension and its manifest (provenance, golden vectors, checksums). See
:mod:`neurodeploy.bundle.netx` for the format mapping and :mod:`neurodeploy.bundle.manifest`."""
from .extension import FORMAT_VERSION
from .manifest import (
    MANIFEST_VERSION,
    Golden,
    make_golden,
    read_golden,
    read_manifest,
    replay_golden,
    validate_checksums,
)
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
           "netx_prepared_weights", "NetxWarning", "NeurodeployWarning", "FORMAT_VERSION",
           "MANIFEST_VERSION", "Golden", "make_golden", "read_golden", "read_manifest",
           "replay_golden", "validate_checksums"]

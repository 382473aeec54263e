"""The lava-nc Python 3.11 patch: idempotent, active in this environment."""
from neurodeploy import compat

UNPATCHED = '''from __future__ import annotations
import typing as ty
from dataclasses import dataclass, InitVar


@dataclass
class X:
    x: ByteEncoder = ByteEncoder()
    y: ByteEncoder = ByteEncoder()
'''


def test_patch_is_idempotent():
    once = compat.patched_source(UNPATCHED)
    assert "ByteEncoder = ByteEncoder()" not in once
    assert once.count("field(default_factory=ByteEncoder)") == 2
    assert "from dataclasses import dataclass, InitVar, field" in once
    assert compat.patched_source(once) == once


def test_fix_active_here():
    assert compat.status() in ("applied", "not-needed")
    import lava.magma.compiler.var_model  # noqa: F401 - fails at import without the fix

"""Python 3.11 compatibility of lava-nc 0.10.0.

lava-nc 0.10.0 declares python<3.11. Exactly one incompatibility is known: in
``lava/magma/compiler/var_model.py`` dataclass fields are declared as ``x: ByteEncoder =
ByteEncoder()``, a mutable default that Python 3.11's dataclasses reject at import time
(``ValueError: mutable default ... use default_factory``). The set-up command
(``bash tools/setup.sh``) runs ``python -m neurodeploy.compat --apply``, which rewrites those
declarations to ``field(default_factory=ByteEncoder)`` in the installed file. The patch is
idempotent and checked by :func:`status` (shown by ``neurodeploy doctor``).

Importing this module never imports Lava.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

_BAD = re.compile(r"^(\s+\w+: ByteEncoder) = ByteEncoder\(\)\s*$", re.M)


def var_model_path() -> Path | None:
    """Location of the installed ``lava/magma/compiler/var_model.py`` (None if lava is absent)."""
    spec = importlib.util.find_spec("lava")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "magma" / "compiler" / "var_model.py"
    return path if path.exists() else None


def status() -> str:
    """'not-needed' (Python < 3.11), 'missing' (no lava-nc), 'applied' or 'needed'."""
    if sys.version_info < (3, 11):
        return "not-needed"
    path = var_model_path()
    if path is None:
        return "missing"
    return "needed" if _BAD.search(path.read_text()) else "applied"


def patched_source(text: str) -> str:
    """The var_model.py source with every mutable ByteEncoder default replaced (idempotent)."""
    text = _BAD.sub(r"\1 = field(default_factory=ByteEncoder)", text)
    imports = re.search(r"^from dataclasses import (.*)$", text, re.M)
    if "field(default_factory" in text and imports and \
            "field" not in [n.strip() for n in imports.group(1).split(",")]:
        text = text[:imports.end()] + ", field" + text[imports.end():]
    return text


def apply() -> str:
    """Patch the installed file atomically if needed; return the resulting status."""
    path = var_model_path()
    if path is None:
        return "missing"
    text = path.read_text()
    new = patched_source(text)
    if new != text:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".var_model.", suffix=".py")
        with os.fdopen(fd, "w") as fh:
            fh.write(new)
        os.replace(tmp, path)
        for pyc in (path.parent / "__pycache__").glob("var_model.*.pyc"):
            pyc.unlink(missing_ok=True)
    return status()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apply", action="store_true", help="patch the installed lava-nc")
    args = parser.parse_args(argv)
    state = apply() if args.apply else status()
    print(f"lava-nc Python 3.11 compatibility fix: {state}")
    return 0 if state in ("applied", "not-needed") else 1


if __name__ == "__main__":
    raise SystemExit(main())

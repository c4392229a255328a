"""Which code trained a result: a digest of the sources that decide what training produces.

It is read from disk once, when caredrive is imported (the package imports this module before any
other), so a long process whose sources are edited on disk while it runs still names the code it
trains with. Reading the files at the first lookup instead let a study that started before an edit
file its baselines under the edited code's key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGES = ("env", "agents", "train")


def source_digest(root: Path | None = None) -> str:
    """sha256 of the world, agents and trainer sources (and devices.py) as they are on disk now."""
    root = root or Path(__file__).resolve().parent
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update((root / "devices.py").read_bytes())
    return h.hexdigest()


CODE_DIGEST = source_digest()

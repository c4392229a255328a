"""Where the CLI will write, checked before any work: one clear line now instead of a traceback later.

Refused: an empty name, a name longer than the file system allows, a file where a folder is wanted (or
a folder where a file is), an existing file without `--force`, and a place nothing can be created in.
Root ignores permission bits, so writability is probed (a temporary file, removed at once) rather than
asked of `os.access`. Nothing created here stays.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from caredrive.errors import ConfigError

NAME_MAX = 255  # bytes per path component (ext4, xfs, btrfs, tmpfs)
PATH_MAX = 4096


def _checked(raw: str | os.PathLike, flag: str) -> Path:
    text = os.fspath(raw)
    if not text.strip():
        raise ConfigError(f"{flag}={text!r} is not allowed: give a path.")
    try:
        encoded = os.fsencode(text)
    except (UnicodeError, ValueError):
        raise ConfigError(f"{flag}={text!r} is not allowed: not a valid file name here.") from None
    if b"\0" in encoded or len(encoded) >= PATH_MAX:
        raise ConfigError(f"{flag}={text[:40]!r}... is not allowed: a path must be under {PATH_MAX} bytes, without NUL.")
    path = Path(text)
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise ConfigError(f"{flag}: the name {part[:24]!r}... is {len(os.fsencode(part))} bytes long: "
                              f"at most {NAME_MAX} are allowed.")
    return path


def _probe(path: Path, folder: Path, flag: str) -> None:
    """Can we create things in `folder`? Its nearest existing ancestor must be a folder we can write in."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{flag}={str(path)!r} is not allowed: {folder} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".caredrive-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"{flag}={str(path)!r} is not allowed: cannot write in {folder} ({e.strerror}).") from None


def new_file(raw: str, flag: str, force: bool = False) -> Path:
    """A file we may write: not a folder, not an existing file (unless `force`), in a writable place."""
    path = _checked(raw, flag)
    if path.is_dir():
        raise ConfigError(f"{flag}={raw!r} is not allowed: it is a folder; give a file name.")
    if path.exists() and not force:
        raise ConfigError(f"{flag}={raw!r} is not allowed: the file exists; give another name, or --force to overwrite it.")
    _probe(path, path.parent, flag)
    return path


def run_folder(raw: str, flag: str) -> Path:
    """A run folder we may create or fill: not a file, in a writable place. (Whether an existing folder
    already holds a run is the run directory's own check.)"""
    path = _checked(raw, flag)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}={raw!r} is not allowed: it is a file, not a folder; give a new folder name.")
    if not path.exists():
        _probe(path, path, flag)
    return path

"""Path safety: every path a user gives is relative to the data root and stays inside it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

# A table of a registered database source in a DAT run: `db://SOURCE/TABLE` (SPEC 1.4).
DB_SCHEME = "db://"


class PathEscapeError(ValueError):
    """A path that is absolute, climbs out of the data root, or is a symlink pointing outside it."""


def is_db_path(path: str) -> bool:
    """Whether a catalog path names a database table (`db://SOURCE/TABLE`), not a file."""
    return str(path).startswith(DB_SCHEME)


def normalize_relative(raw: str) -> str:
    """Return `raw` as a clean POSIX path relative to the data root, or raise PathEscapeError.

    A database table path (`db://SOURCE/TABLE`) is no file path and is returned as it is."""
    if is_db_path(str(raw).strip()):
        return str(raw).strip()
    text = str(raw).strip().replace("\\", "/")
    if text in ("", "."):
        return "."
    posix = PurePosixPath(text)
    if posix.is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise PathEscapeError(
            f"path {raw!r} is absolute; give it relative to the data root (e.g. 'sample/sales.csv')"
        )
    parts: list[str] = []
    for part in posix.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathEscapeError(f"path {raw!r} leaves the data root through '..'")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) or "."


def resolve_inside(data_root: Path, raw: str) -> Path:
    """Resolve a relative path under `data_root`, following symlinks, and check it stays inside."""
    relative = normalize_relative(raw)
    root = Path(data_root).resolve()
    try:
        candidate = (root / relative).resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError on a symlink loop
        raise PathEscapeError(
            f"path {raw!r} is a symlink loop (its links point at each other, so it names no "
            "file); fix or remove the link"
        ) from exc
    if candidate != root and root not in candidate.parents:
        raise PathEscapeError(
            f"path {raw!r} resolves outside the data root (a symlink?); copy the file into "
            "the data root instead"
        )
    return candidate


def relative_to_root(data_root: Path, path: Path) -> str:
    """The `/`-separated form of `path` under the data root, as stored in catalogs and ids."""
    return Path(path).relative_to(Path(data_root).resolve()).as_posix()

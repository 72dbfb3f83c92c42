"""No server path in any answer: error details and job records name the library and "a server folder", not where
they are on disk. Clients are told what is wrong and what to do; the folders are the operator's, in the log.

Known folders are replaced (the store with its description, the work folder, pulled models, the temporary folder,
the service user's home), longest first, with whatever path follows them; a store reached over HTTP is "the
library" too (its address is the operator's business as well).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from framesearch.settings import Settings

LIBRARY = "the library"
FOLDER = "a server folder"
_PATH_TAIL = r"[^\s'\",;)\]]*"  # the rest of a path after a known folder, up to a quote, space or bracket


@dataclass(frozen=True)
class ServerPaths:
    """The strings that would tell a client where things are on the server, and what replaces them."""

    descriptions: tuple[str, ...]
    folders: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings, *descriptions: str) -> ServerPaths:
        candidates: set[str] = set()
        for folder in (settings.store, settings.work_dir, settings.models_dir, Path(tempfile.gettempdir()), _home()):
            if folder is None:
                continue
            for form in (str(Path(folder).absolute()), _resolved(Path(folder))):  # relative names are the description's
                if len(form.strip("/")) >= 2:  # never "/" or a one-letter folder
                    candidates.add(form.rstrip("/"))
        if settings.qdrant_url:
            candidates.add(settings.qdrant_url.rstrip("/"))
        return cls(tuple(d for d in descriptions if d), tuple(sorted(candidates, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        """`text` with the store's description as "the library" and every known folder (and the path after it)
        as "a server folder"."""
        for description in self.descriptions:
            text = text.replace(description, LIBRARY)
        for folder in self.folders:
            text = re.sub(re.escape(folder) + _PATH_TAIL, FOLDER, text)
        return text


def _home() -> Path | None:
    try:
        return Path.home()
    except (KeyError, RuntimeError):
        return None


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except OSError:
        return str(path)

"""Let the import system find the core's top-level packages without listing the project folder.

Python's path finder lists a ``sys.path`` folder (``os.listdir``) to know what it holds. Granting
the module process that listing through Landlock would grant it for everything *beneath* the
project folder too (Landlock rules are hierarchical) — ``storage/`` included, where every
module's private folder lives: a module sharing the bot's uid (a bot not run as root) could then
list the other modules' data. So the folder is listed once, before Landlock, into the path
finder's cache; later refills that Landlock refuses keep that listing instead of emptying it.
Only names are cached; what a module may *read* is still Landlock's read rules.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Iterable


class PrelistedFileFinder(importlib.machinery.FileFinder):
    """A path finder that keeps its last listing when the folder can no longer be listed."""

    # CPython's FileFinder internals (not in typeshed): the folder's names, as listed and lower-cased.
    _path_cache: set[str]
    _relaxed_path_cache: set[str]

    def _fill_cache(self) -> None:
        previous = (set(self._path_cache), set(self._relaxed_path_cache)) if self._path_cache else None
        super()._fill_cache()  # type: ignore[misc]  # a private CPython method typeshed does not declare
        if previous is not None and not self._path_cache:  # PermissionError: Landlock refuses the listing
            self._path_cache, self._relaxed_path_cache = previous


def prelist(folders: Iterable[str]) -> None:
    """List each folder now, for the import system, in this process (call before Landlock)."""
    for folder in folders:
        prelisted = PrelistedFileFinder(folder, *_loader_details())  # the default path hook's loaders
        prelisted._fill_cache()
        sys.path_importer_cache[folder] = prelisted


def _loader_details() -> list[tuple[type, list[str]]]:
    return [
        (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES),
        (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
        (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
    ]

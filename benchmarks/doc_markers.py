"""How every benchmark writes its figures into docs/benchmarks.md: the text between a pair of marker lines."""

from __future__ import annotations

from pathlib import Path


def write_between_markers(markdown: Path, start: str, end: str, text: str, missing: str | None = None) -> None:
    """Replaces what lies between the marker lines `start` and `end` with `text`.

    Without the markers the file is left alone, unless `missing` is given: then `missing` (a heading,
    or "") and the marked block are appended, creating the file if need be.
    """
    current = markdown.read_text() if markdown.exists() else ""
    if start in current and end in current:
        markdown.write_text(current[:current.index(start) + len(start)] + "\n" + text + "\n" + current[current.index(end):])
    elif missing is not None:
        heading = f"\n{missing}\n" if missing else ""
        markdown.write_text(f"{current}{heading}\n{start}\n{text}\n{end}\n")

"""Turn a ``SiteModel`` into files: Jinja2 templates (``templates/site``, autoescaped), relative
links, and optional copies of the linked media.

Links are relative to the page that holds them and URL-quoted (``urllib.parse.quote``: spaces,
non-ASCII names, ``#`` and ``?`` in file names survive), so the site opens from ``file://`` with no
server. Without ``copy_media`` the pages point at the files where the stages wrote them; with it,
every linked file is copied once under ``<out>/media/`` and the pages point there, so the folder can
be zipped and shared. Pages are written atomically and only when their bytes change, so building the
same inputs twice gives the same bytes (and leaves the files untouched).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import jinja2
import markupsafe

from core.io import atomic_path

from .site_model import SiteModel

TEMPLATES = Path(__file__).resolve().parent / "templates" / "site"
STYLESHEET = "style.css"
MEDIA_DIR = "media"


class Linker:
    """Where a linked file lives as seen from the site, and the relative href to it from a page."""

    def __init__(self, out_dir: Path, roots: dict[str, Path], copy_media: bool):
        self.out_dir = Path(os.path.abspath(out_dir))
        # longest root first: a results folder inside the dataset maps to "results", not "dataset"
        self.roots = sorted(((name, Path(os.path.abspath(p))) for name, p in roots.items()),
                            key=lambda item: len(item[1].parts), reverse=True)
        self.copy_media = copy_media
        self.copies: dict[Path, Path] = {}       # source -> copy under <out>/media

    def target(self, path: Path) -> Path:
        path = Path(os.path.abspath(path))
        if not self.copy_media or path.is_relative_to(self.out_dir):
            return path
        for name, root in self.roots:
            if path.is_relative_to(root):
                dest = self.out_dir / MEDIA_DIR / name / path.relative_to(root)
                break
        else:   # outside every known root: keep the name, keyed by the folder to stay unique
            digest = hashlib.sha1(str(path.parent).encode("utf-8")).hexdigest()[:10]
            dest = self.out_dir / MEDIA_DIR / "other" / digest / path.name
        self.copies[path] = dest
        return dest

    def href(self, path: Path, page_dir: Path, fragment: str = "") -> str:
        relative = os.path.relpath(self.target(path), Path(os.path.abspath(page_dir)))
        url = quote(Path(relative).as_posix())
        return f"{url}#{fragment}" if fragment else url

    def copy_all(self) -> int:
        """Copy every linked file whose copy is missing or differs in size or time; returns the
        number copied."""
        copied = 0
        for source, dest in sorted(self.copies.items()):
            if not source.is_file():
                continue
            if dest.is_file():
                a, b = source.stat(), dest.stat()
                if a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime):
                    continue
            with atomic_path(dest) as tmp:
                shutil.copy2(source, tmp)
            copied += 1
        return copied


# --- formatting filters -------------------------------------------------------------------------

def fmt_duration(seconds) -> str:
    if seconds is None:
        return "—"
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def fmt_layout(layout) -> str:
    if layout is None:
        return "null"
    return " · ".join(i if i is not None else "?" for i in layout)


def breakable(text: str) -> markupsafe.Markup:
    """Escaped text with a line-break opportunity after each ``_`` (long folder names as column
    titles wrap there instead of widening the table)."""
    return markupsafe.Markup(str(markupsafe.escape(text)).replace("_", "_<wbr>"))


def outcome_counts(songs: dict) -> dict[str, int]:
    counts = {"done": 0, "up_to_date": 0, "skipped": 0, "failed": 0}
    for entry in songs.values():
        outcome = entry.get("outcome") if isinstance(entry, dict) else None
        if outcome in counts:
            counts[outcome] += 1
    return counts


def environment() -> jinja2.Environment:
    from .site_model import fmt_db, fmt_share

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(db=fmt_db, share=fmt_share, duration=fmt_duration,
                       layout=fmt_layout, outcome_counts=outcome_counts,
                       breakable=breakable)
    return env


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly these bytes."""
    if path.is_file() and path.read_bytes() == data:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def render_site(site: SiteModel, out_dir: Path, linker: Linker, dataset_label: str) -> list[Path]:
    """Write ``index.html``, one page per song and the stylesheet; returns the page paths."""
    out_dir = Path(os.path.abspath(out_dir))
    env = environment()
    pages: list[tuple[Path, str, dict]] = [(out_dir / "index.html", "index.html", {"site": site})]
    for song in site.songs:
        pages += [(out_dir / part.page, "song.html" if part.number == 1 else "chunks.html",
                   {"song": song, "part": part, "columns": site.columns}) for part in song.parts]
    written = []
    for path, template, context in pages:

        def href(target: Path, fragment: str = "", _page_dir: Path = path.parent) -> str:
            return linker.href(Path(target), _page_dir, fragment)

        html = env.get_template(template).render(site_root=out_dir, href=href,
                                                 dataset_label=dataset_label, **context)
        write_if_changed(path, html.encode("utf-8"))
        written.append(path)
    write_if_changed(out_dir / STYLESHEET, (TEMPLATES / STYLESHEET).read_bytes())
    return written

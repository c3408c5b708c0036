"""How long headless Chromium takes to load a results-site song page, paged vs one page.

An hour-long song (mixture + 3 stems, silent 8 kHz WAVs written to a temporary folder) has 900 4-s
chunks, 3600 players. The site splits them over pages of ``CHUNKS_PER_PAGE`` chunks; the baseline,
built in the same run, puts every chunk on the song page. Prints the build time, each page's
players, DOM nodes and load time (navigation to the load event), and the ratio baseline / paged.
Needs /usr/bin/chromium (``make browser-test`` installs it); without it the script says so and
exits 0.

    python benchmarks/site_page_load.py [--minutes 60]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "visualization")]   # run as a script from anywhere
from visualization.site import build_site  # noqa: E402
from visualization.site_songs import CHUNKS_PER_PAGE  # noqa: E402


def long_song(root: Path, minutes: int) -> None:
    song = root / "A" / "Long"
    song.mkdir(parents=True)
    for name in ("mixture.wav", "vocal_a.wav", "violin_a.wav", "mridangam_a.wav"):
        with sf.SoundFile(song / name, "w", 8000, 1, "PCM_16") as out:
            for _ in range(minutes):
                out.write(np.zeros(8000 * 60, dtype=np.int16))
    (root / "dataset_metadata.json").write_text(json.dumps({"A": {"Long": {
        "layout": ["mridangam", "vocal", "violin"], "fps": 30, "duration": 60.0 * minutes}}}))


def load(browser, page: Path) -> tuple[float, int, int]:
    """(seconds to the load event, <audio> elements, DOM nodes)."""
    start = time.perf_counter()
    browser.open(page.as_uri(), timeout=600)
    seconds = time.perf_counter() - start
    browser.page("Performance.enable")
    metrics = {m["name"]: m["value"] for m in browser.page("Performance.getMetrics")["metrics"]}
    players = browser.evaluate("document.querySelectorAll('audio').length")
    return seconds, players, int(metrics["Nodes"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="song length (default 60)")
    args = parser.parse_args()
    from chromium_cdp import CHROMIUM, Chromium

    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: install it with `make browser-test`; nothing measured")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        long_song(root, args.minutes)
        timings = {}
        for label, per_page in (("paged", CHUNKS_PER_PAGE), ("one page", 10 ** 6)):
            start = time.perf_counter()
            build_site(root, root / "results", root / label, chunks_per_page=per_page)
            built = time.perf_counter() - start
            with Chromium() as browser:
                seconds, players, nodes = load(browser, root / label / "songs" / "A" / "Long.html")
            timings[label] = seconds
            print(f"{label:9s} ({per_page if per_page < 10 ** 6 else 'all'} chunks per page): "
                  f"build {built:.2f} s; first page {players} players, {nodes} DOM nodes, "
                  f"loaded in {seconds:.2f} s")
        print(f"ratio one page / paged: {timings['one page'] / timings['paged']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time the latent explorers in a real browser: ``replearn explorer-bench``.

Opens every explorer page of the built book (``make book`` first) in headless Chromium
(Debian's ``/usr/bin/chromium``, driven by Playwright) and measures, in the page, the
median time of one decode-and-draw (``explorer.js``: the MLP decoder on a code drawn
uniformly in the slider ranges, then the pixels written to the canvas), over 300 single
calls after a warm-up. The target is 2 ms per call for the MLP decoders. Browsers round
``performance.now()`` (to 0.1 ms in a page that is not cross-origin isolated); the resolution
is measured and recorded. The median is robust to the calls that a busy machine preempts,
the mean and 90th percentile are not, and are reported next to it. Results go to ``book/results/12_explorer_bench.csv``
(with command, commit, device, browser and date) and to stdout; ``--screenshots DIR`` also
saves a screenshot of each explorer.

The browser helpers here (:func:`launch_chromium`, :func:`explorer_pages`,
:class:`LocalServer`) are shared with ``tests/test_browser.py``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import statistics
import sys
import threading
from pathlib import Path

from replearn_core.paths import checkout_root, results_dir

REPO_ROOT = checkout_root()

#: Debian's Chromium (``make chromium`` installs it); ``$REPLEARN_CHROMIUM`` overrides.
CHROMIUM = os.environ.get("REPLEARN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TARGET_MS = 2.0
_MARKER = re.compile(r'data-replearn-explorer="([a-z0-9_\-]+)"')


class BrowserSetupError(RuntimeError):
    """The built book or Chromium is missing."""


def book_html_dir() -> Path:
    """The built HTML book (``$REPLEARN_BOOK_HTML`` or ``_build/html``)."""
    return Path(os.environ.get("REPLEARN_BOOK_HTML", REPO_ROOT / "_build" / "html"))


def require_book(html_dir: Path | None = None) -> Path:
    html_dir = Path(html_dir or book_html_dir())
    if not (html_dir / "index.html").exists():
        raise BrowserSetupError(f"no built book at {html_dir} (index.html missing): run `make book` first")
    return html_dir


def require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        raise BrowserSetupError(f"Chromium not found at {CHROMIUM}: run `make chromium` "
                                "(or `apt-get install chromium`), or set $REPLEARN_CHROMIUM")
    return path


def html_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of the built book (not the theme's static files)."""
    return sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.relative_to(html_dir).parts)


def explorer_pages(html_dir: Path) -> dict[Path, list[str]]:
    """``{page: [explorer names]}`` for the built pages that embed an explorer."""
    found = {}
    for page in html_pages(html_dir):
        names = list(dict.fromkeys(_MARKER.findall(page.read_text(errors="replace"))))
        if names:
            found[page] = names
    return found


def launch_chromium(playwright):
    """Headless Debian Chromium through Playwright (no downloaded browser)."""
    return playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class LocalServer:
    """``with LocalServer(html_dir) as base_url:`` serves the book on 127.0.0.1 (a free port)."""

    def __init__(self, directory: Path):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> str:
        self.thread.start()
        return self.base_url

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def wait_for_explorers(page, names: list[str], timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        "names => names.every(n => window.replearnExplorers && window.replearnExplorers[n])",
        arg=names, timeout=timeout_ms)


def browser_version(browser) -> str:
    return f"Chromium {browser.version} (headless)"


def run_bench(html_dir: Path, n: int = 300, batch: int = 20, screenshots: Path | None = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from replearn_core.viz.explorer import decoders_dir, read_decoder_js

    pages = explorer_pages(html_dir)
    if not pages:
        raise BrowserSetupError(f"no latent explorer in the built book at {html_dir}")
    rows = []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            for path, names in pages.items():
                page.goto(path.resolve().as_uri())
                wait_for_explorers(page, names)
                for name in names:
                    desc = read_decoder_js(decoders_dir(html_dir / "_static") / f"{name}.js")
                    t = page.evaluate("([n, k, b]) => window.replearnExplorers[n].bench(k, b)", [name, n, batch])
                    params = sum(l["in"] * l["out"] + l["out"] for l in desc["layers"])
                    each = sorted(t["per_call"])
                    rows.append({
                        "explorer": name,
                        "page": str(path.relative_to(html_dir)),
                        "latent_dim": desc["latent_dim"],
                        "sizes": "-".join(map(str, desc["sizes"])),
                        "parameters": params,
                        "median_ms": round(statistics.median(each), 3),
                        "p90_ms": round(each[int(0.9 * (len(each) - 1))], 3),
                        "mean_ms": round(statistics.fmean(each), 3),
                        "calls": len(each),
                    })
                    if screenshots is not None:
                        screenshots.mkdir(parents=True, exist_ok=True)
                        page.locator(f'[data-replearn-explorer="{name}"]').screenshot(
                            path=str(screenshots / f"explorer_{name}.png"))
            version = browser_version(browser)
            resolution = page.evaluate("""() => { let best = Infinity, last = performance.now();
                for (let i = 0; i < 200000; i++) { const t = performance.now();
                  if (t > last) { best = Math.min(best, t - last); last = t; } } return best; }""")
        finally:
            browser.close()
    for r in rows:
        r["browser"] = version
        r["timer_resolution_ms"] = round(resolution, 4)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replearn explorer-bench",
                                     description="Median decode-and-draw time of each latent explorer in headless Chromium.")
    parser.add_argument("--book", type=Path, default=None, help="built HTML book (default _build/html)")
    parser.add_argument("--calls", type=int, default=300, help="timed decode-and-draw calls per explorer")
    parser.add_argument("--out", type=Path, default=results_dir() / "12_explorer_bench.csv",
                        help="CSV to write (default book/results/12_explorer_bench.csv); '-' for none")
    parser.add_argument("--screenshots", type=Path, default=None, help="save a screenshot of each explorer here")
    args = parser.parse_args(argv)
    import pandas as pd

    from replearn_core.book.results import provenance, write_csv_with_header

    try:
        html_dir = require_book(args.book)
        rows = run_bench(html_dir, n=args.calls, screenshots=args.screenshots)
    except BrowserSetupError as exc:
        print(f"explorer_bench: ERROR: {exc}", file=sys.stderr)
        return 1
    browser, resolution = rows[0]["browser"], rows[0]["timer_resolution_ms"]
    for r in rows:
        del r["browser"], r["timer_resolution_ms"]
    frame = pd.DataFrame(rows)
    frame["target_ms"] = TARGET_MS
    frame["meets_target"] = frame["median_ms"] <= TARGET_MS
    print(f"{browser}; performance.now() resolution {resolution:g} ms")
    print(frame.to_string(index=False))
    if str(args.out) != "-":
        header = provenance("cpu", command="replearn explorer-bench" +
                            (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip())
        header["device"] = _cpu_name()
        header["browser"] = browser
        header["timer_resolution_ms"] = f"{resolution:g}"
        header["what"] = ("decode-and-draw time of one code (explorer.js: MLP decoder + canvas putImageData), "
                          "codes uniform in the slider ranges; median_ms is the median over single calls")
        header.pop("torch", None)
        write_csv_with_header(args.out, header, frame)
        print(f"written {args.out}")
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} logical CPUs"
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())

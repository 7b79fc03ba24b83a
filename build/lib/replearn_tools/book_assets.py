"""Prepare the static book's offline assets: ``replearn book-assets``.

``make book`` runs this before ``jupyter-book build``. The built HTML must make no request to
any host but its own, so that it works from disk (``file://``), on a plain HTTP server and
offline:

* **MathJax** 3 is vendored from the npm registry (``npm pack mathjax@<pinned>``, checked
  against the pinned sha512 integrity) into ``book/_static/offline/mathjax`` (git-ignored by
  ``book/_static/offline/.gitignore``); ``_config.yml`` points Sphinx's ``mathjax_path`` there
  instead of the default CDN URL. The tarball is cached in ``node_modules/.replearn/``.
* **ipywidgets** scripts are never loaded: notebooks are stored without widget state and
  ``_config.yml`` sets ``nb_ipywidgets_js: {}`` (myst-nb would otherwise add require.js and
  the widget manager from CDNs). Interactive latent sliders are the book's own
  :mod:`replearn_core.explorer`, whose script and decoder files live in
  ``book/_static/replearn``; this command checks that every explorer embedded in a chapter
  has its decoder file.
* The theme's fonts and icons (pydata-sphinx-theme's Font Awesome) are already shipped with
  the theme package and copied into ``_static``; the browser tests check every page for
  requests to other hosts.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from replearn_core.paths import checkout_root, static_dir

REPO_ROOT = checkout_root()

MATHJAX_VERSION = "3.2.2"
MATHJAX_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
#: Relative to ``_static``: the value of ``mathjax_path`` in ``_config.yml``.
MATHJAX_PATH = "offline/mathjax/tex-mml-chtml.js"
EXPLORER_MARKER = re.compile(r'data-replearn-explorer=\\?"([a-z0-9_\-]+)\\?"')


class AssetError(RuntimeError):
    """An offline asset of the book is missing and cannot be prepared."""


def offline_dir() -> Path:
    return static_dir() / "offline"


def npm_cache_dir() -> Path:
    return REPO_ROOT / "node_modules" / ".replearn"


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _fetch_mathjax_tarball() -> Path:
    cache = npm_cache_dir()
    tgz = cache / f"mathjax-{MATHJAX_VERSION}.tgz"
    if tgz.exists() and _integrity(tgz) == MATHJAX_INTEGRITY:
        return tgz
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm is needed once to vendor MathJax for the offline book: install Node.js and npm "
                         "(Debian: apt-get install npm) and run `replearn book-assets` again")
    cache.mkdir(parents=True, exist_ok=True)
    print(f"book_assets: npm pack mathjax@{MATHJAX_VERSION} (from the npm registry) ...", flush=True)
    proc = subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--json", "--silent"], cwd=cache,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not tgz.exists():
        raise AssetError(f"`npm pack mathjax@{MATHJAX_VERSION}` failed (exit {proc.returncode}):\n"
                         f"{proc.stderr.strip()[-2000:]}")
    got = _integrity(tgz)
    if got != MATHJAX_INTEGRITY:
        tgz.unlink()
        raise AssetError(f"mathjax-{MATHJAX_VERSION}.tgz has integrity {got}, expected {MATHJAX_INTEGRITY}; "
                         "refusing to vendor it")
    return tgz


def vendor_mathjax(force: bool = False) -> Path:
    """Unpack MathJax's ``es5`` bundle into ``book/_static/offline/mathjax`` (once per version)."""
    target = offline_dir() / "mathjax"
    stamp = target / "VERSION"
    if not force and stamp.exists() and stamp.read_text().strip() == MATHJAX_VERSION \
            and (target / "tex-mml-chtml.js").exists():
        return target
    tgz = _fetch_mathjax_tarball()
    offline_dir().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mathjax-", dir=offline_dir()))
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            members = [m for m in tar.getmembers()
                       if (m.name.startswith("package/es5/") or m.name == "package/LICENSE") and m.isfile()]
            for m in members:
                rel = Path(m.name).relative_to("package/es5" if m.name.startswith("package/es5/") else "package")
                if rel.is_absolute() or ".." in rel.parts:
                    raise AssetError(f"unsafe path {m.name!r} in the MathJax tarball")
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(m) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        (tmp / "VERSION").write_text(MATHJAX_VERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    print(f"book_assets: MathJax {MATHJAX_VERSION} vendored into {target.relative_to(REPO_ROOT)}", flush=True)
    return target


def notebook_explorers(book: Path | None = None) -> dict[str, list[str]]:
    """``{notebook: [explorer names]}`` for every explorer embedded in a chapter's stored outputs."""
    book = book or REPO_ROOT / "book"
    found: dict[str, list[str]] = {}
    for nb_path in sorted(book.glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        names: list[str] = []
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []):
                html = out.get("data", {}).get("text/html", "")
                html = "".join(html) if isinstance(html, list) else html
                names += [n for n in EXPLORER_MARKER.findall(html) if n not in names]
        if names:
            found[nb_path.name] = names
    return found


def check_explorers() -> list[str]:
    """Check that explorer.js and each embedded explorer's decoder file exist; return the names."""
    from replearn_core.viz.explorer import FORMAT, decoders_dir, read_decoder_js

    js = static_dir() / "replearn" / "explorer.js"
    if not js.exists():
        raise AssetError(f"{js.relative_to(REPO_ROOT)} is missing")
    problems, names = [], []
    for nb, nb_names in notebook_explorers().items():
        for name in nb_names:
            path = decoders_dir() / f"{name}.js"
            if not path.exists():
                problems.append(f"{path.relative_to(REPO_ROOT)} (explorer of book/{nb}) is missing: "
                                f"rerun that chapter (make notebooks NB=book/{nb})")
                continue
            try:
                desc = read_decoder_js(path)
            except (ValueError, json.JSONDecodeError) as exc:
                problems.append(f"{path.relative_to(REPO_ROOT)} is unreadable ({exc})")
                continue
            if desc.get("format") != FORMAT or desc.get("name") != name:
                problems.append(f"{path.relative_to(REPO_ROOT)}: format {desc.get('format')!r}, name "
                                f"{desc.get('name')!r}; expected {FORMAT!r} and {name!r}")
            names.append(name)
    if problems:
        raise AssetError("latent explorers:\n  " + "\n  ".join(problems))
    return names


def check_widget_state() -> None:
    """Notebooks must be stored without ipywidget state (it would call for CDN scripts)."""
    bad = [p.name for p in sorted((REPO_ROOT / "book").glob("*.ipynb"))
           if "widgets" in json.loads(p.read_text()).get("metadata", {})]
    if bad:
        raise AssetError(f"notebooks stored with ipywidget state: {bad}; regenerate them with "
                         "`make notebooks NB=...` (replearn notebooks drops the state)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replearn book-assets",
                                     description="Prepare the offline assets of the static book (run by `make book`).")
    parser.add_argument("--force", action="store_true", help="vendor MathJax again even if present")
    args = parser.parse_args(argv)
    try:
        vendor_mathjax(force=args.force)
        check_widget_state()
        names = check_explorers()
    except AssetError as exc:
        print(f"book_assets: ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"book_assets: offline assets ready (MathJax {MATHJAX_VERSION}; latent explorers: "
          f"{', '.join(names) if names else 'none embedded'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The built book in a real browser: latent explorers and offline pages (``make test-browser``).

Needs the built book (``make book``) and Debian's Chromium (``make chromium``); both missing
pieces make the tests FAIL with a message saying what to run, never skip. Every explorer page
of ``_build/html`` (``$REPLEARN_BOOK_HTML``) is opened from ``file://`` and through a local HTTP
server on 127.0.0.1; the page's decoder output is compared with PyTorch's ``decoder(z)``
(rebuilt from the decoder file the page loaded, which ``tests/test_explorer.py`` checks against
the original module), and every page of the book is loaded while recording its requests.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from replearn_core.viz import explorer
from replearn_tools import book_assets
from replearn_tools.explorer_bench import LocalServer, explorer_pages, html_pages

pytestmark = pytest.mark.browser

N_CODES = 20
ATOL = 1e-5


@pytest.fixture(scope="module")
def base_urls(html_dir):
    with LocalServer(html_dir) as http_base:
        yield {"file": html_dir.resolve().as_uri(), "http": http_base}


def page_url(base: str, html_dir: Path, page: Path) -> str:
    return f"{base}/{page.relative_to(html_dir).as_posix()}"


def is_own(url: str, base: str) -> bool:
    """A request the page may make: inside the book (same server, or the book's folder on disk)."""
    if url.startswith(("data:", "blob:", "about:")):
        return True
    return url == base or url.startswith(base + "/")


def test_every_embedded_explorer_is_in_the_built_book(html_dir):
    pages = explorer_pages(html_dir)
    assert pages, (f"no latent explorer (data-replearn-explorer) in any page of {html_dir}: "
                   "is book/12_latent_explorers in _toc.yml and the book built with `make book`?")
    built = {name for names in pages.values() for name in names}
    embedded = {name for names in book_assets.notebook_explorers().values() for name in names}
    missing = sorted(embedded - built)
    assert not missing, f"explorers embedded in notebooks but not in the built book: {missing}; run `make book`"
    for name in built:
        assert (explorer.decoders_dir(html_dir / "_static") / f"{name}.js").exists(), \
            f"_static/replearn/decoders/{name}.js missing from the built book"


SET_SLIDERS = """([name, zs]) => {
  const h = window.replearnExplorers[name];
  return zs.map(z => {
    h.sliders.forEach((s, k) => { s.value = String(z[k]); });
    h.sliders[h.sliders.length - 1].dispatchEvent(new Event("input", {bubbles: true}));
    return {z: h.getZ(), out: h.output(), px: h.pixels(), direct: h.decode(z)};
  });
}"""


def _state(page, name):
    return page.evaluate("n => { const h = window.replearnExplorers[n];"
                         " return {z: h.getZ(), out: h.output(), px: h.pixels()}; }", name)


def _check_against_torch(state, decoder, desc, where):
    z = torch.tensor(state["z"], dtype=torch.float32)[None]
    assert torch.equal(z.double(), torch.tensor(state["z"], dtype=torch.float64)[None]), \
        f"{where}: the page's code is not float32-representable: {state['z']}"
    with torch.no_grad():
        ref = decoder(z)[0].double().numpy()
    out = np.asarray(state["out"], dtype=np.float64)
    assert out.shape == ref.shape, f"{where}: page output has {out.shape} values, PyTorch {ref.shape}"
    diff = float(np.abs(out - ref).max())
    assert diff <= ATOL, f"{where}: max |page - PyTorch decoder(z)| = {diff:.3g} > {ATOL:g} at z = {state['z']}"
    px = np.asarray(state["px"], dtype=np.int64)
    grey = explorer.grey_levels(ref, desc["value_range"]).astype(np.int64)
    worst = int(np.abs(px - grey).max())
    assert worst <= 1, f"{where}: canvas pixels differ from PyTorch's image by {worst} grey levels (> 1)"
    if "direct" in state:
        d2 = float(np.abs(np.asarray(state["direct"]) - ref).max())
        assert d2 <= ATOL, f"{where}: decode(z) hook differs from PyTorch by {d2:.3g}"
    return diff, worst


@pytest.mark.parametrize("mode", ["file", "http"])
def test_explorers_match_pytorch(browser, html_dir, base_urls, mode):
    base = base_urls[mode]
    pages = explorer_pages(html_dir)
    assert pages, f"no latent explorer in the built book at {html_dir}"
    rng = np.random.default_rng(0)
    report = []
    for path, names in pages.items():
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"{exc.message}\n{exc.stack}"))
        url = page_url(base, html_dir, path)
        page.goto(url)
        page.wait_for_function(
            "names => names.every(n => document.querySelector(`[data-replearn-explorer=\"${n}\"]`)"
            ".getAttribute('data-replearn-ready'))", arg=names, timeout=30_000)
        for name in names:
            where = f"{mode} {path.relative_to(html_dir)} explorer {name!r}"
            ready = page.get_attribute(f'[data-replearn-explorer="{name}"]', "data-replearn-ready")
            assert ready == "true", f"{where} failed to mount: " + page.inner_text(f'[data-replearn-explorer="{name}"]')
            desc = explorer.read_decoder_js(explorer.decoders_dir(html_dir / "_static") / f"{name}.js")
            decoder = explorer.decoder_from_description(desc)
            assert page.evaluate("n => window.replearnExplorers[n].sha256", name) == desc["sha256"]

            # it starts at the first real test code, and "next code" moves to the second
            codes = explorer.description_codes(desc)
            start = _state(page, name)
            np.testing.assert_array_equal(np.float32(start["z"]), codes[0], err_msg=f"{where}: start code")
            _check_against_torch(start, decoder, desc, where + " (start code)")
            if len(codes) > 1:
                page.locator(f'[data-replearn-explorer="{name}"] button', has_text="next code").click()
                np.testing.assert_array_equal(np.float32(_state(page, name)["z"]), codes[1],
                                              err_msg=f"{where}: next code")

            # the sliders, set to 20 random codes inside their ranges
            lo, hi = np.array(desc["ranges"]).T
            zs = (lo + rng.random((N_CODES, len(lo))) * (hi - lo)).astype(np.float32)
            states = page.evaluate(SET_SLIDERS, [name, zs.astype(np.float64).tolist()])
            worst_diff, worst_px = 0.0, 0
            for z, state in zip(zs, states):
                np.testing.assert_array_equal(np.float32(state["z"]), z,
                                              err_msg=f"{where}: the sliders did not take the code")
                d, p = _check_against_torch(state, decoder, desc, where)
                worst_diff, worst_px = max(worst_diff, d), max(worst_px, p)

            # the 2-d pad: click five points, the clicked code is decoded
            if desc["latent_dim"] == 2:
                pad = page.locator(f'[data-replearn-explorer="{name}"] canvas.rlx-pad')
                pad.scroll_into_view_if_needed()
                box = pad.bounding_box()
                for fx, fy in rng.uniform(0.05, 0.95, size=(5, 2)):
                    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                    state = _state(page, name)
                    (x0, x1), (y0, y1) = desc["ranges"]
                    expect = (x0 + fx * (x1 - x0), y1 - fy * (y1 - y0))
                    assert np.allclose(state["z"], expect, atol=0.02 * max(x1 - x0, y1 - y0)), \
                        f"{where}: clicking the pad at {expect} gave z = {state['z']}"
                    d, p = _check_against_torch(state, decoder, desc, where + " (pad)")
                    worst_diff, worst_px = max(worst_diff, d), max(worst_px, p)
            report.append(f"{where}: max |page - torch| = {worst_diff:.2e}, pixels within {worst_px} grey level(s)")
        own = [e for e in errors if "replearn" in e]
        assert not own, f"{mode} {path.relative_to(html_dir)}: JavaScript errors from the explorer: {own}"
        context.close()
    print("\n".join(report))


def settle(page, pending: dict, quiet_ms: int = 700, timeout_s: float = 60.0) -> None:
    """Wait until no request of the page has been pending for ``quiet_ms`` (fonts and MathJax's
    components load after the ``load`` event)."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if pending:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_ms / 1000:
            return
        page.wait_for_timeout(100)
    pytest.fail(f"{page.url}: requests still pending after {timeout_s:.0f} s: {sorted(pending.values())}")


@pytest.mark.parametrize("mode", ["file", "http"])
def test_no_request_leaves_the_book(browser, html_dir, base_urls, mode):
    base = base_urls[mode]
    pages = html_pages(html_dir)
    assert len(pages) >= 3, f"only {len(pages)} HTML pages in {html_dir}"
    context = browser.new_context()
    foreign: list[str] = []
    failed: list[str] = []

    def guard(route):
        if is_own(route.request.url, base):
            route.continue_()
        else:  # record and block, so that nothing leaves the machine even if the test is wrong
            foreign.append(route.request.url)
            route.abort()

    pending: dict[object, str] = {}

    def started(r):
        pending[r] = r.url
        if not is_own(r.url, base):
            foreign.append(r.url)

    def lost(r):
        pending.pop(r, None)
        if is_own(r.url, base):
            failed.append(f"{r.url} ({r.failure})")

    context.route("**/*", guard)
    context.on("request", started)
    context.on("requestfinished", lambda r: pending.pop(r, None))
    context.on("requestfailed", lost)
    context.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    math_pages = 0
    for path in pages:
        page = context.new_page()
        page.goto(page_url(base, html_dir, path), wait_until="load")
        settle(page, pending)
        if 'class="math' in path.read_text(errors="replace"):  # MathJax, vendored, typesets the page
            page.wait_for_function("document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
            math_pages += 1
        page.close()
    context.close()
    assert not foreign, f"{mode}: requests to other hosts: {sorted(set(foreign))}"
    assert not failed, f"{mode}: local requests that failed (missing files?): {sorted(set(failed))}"
    print(f"{mode}: {len(pages)} pages, {math_pages} typeset by the vendored MathJax, no request left the book")

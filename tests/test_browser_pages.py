"""Every built page reads like a textbook: audited in Chromium at 1400 px and on a 390 px phone.

``make book`` then ``make test-browser`` (marker ``browser``). Each page of ``_build/html``
(``$REPLEARN_BOOK_HTML``) is opened from ``file://`` in Debian's Chromium (the helpers of
``replearn_tools/explorer_bench.py``) at two window sizes, and these properties are checked:

* no console error and no uncaught exception (at both sizes);
* no visible harness: check lines (``...: OK``), nbval markers, ``-dirty`` commit hashes,
  machine paths (``/work/``, ``/root/``, ``/home/``, ``/tmp/``, ``site-packages``) or stderr
  output (warnings) in the text a reader sees; collapsed blocks (``hide-cell``, dropdowns)
  may hold them;
* nothing wider than the text column: at 1400 px no element sticks out of the column and no
  box scrolls sideways or cuts its content off; on the phone the same, except tables, which
  may scroll inside their own box (``INTENTIONAL_SCROLL``); the page itself never scrolls
  sideways. Display equations are not excepted: MathJax 3 cannot break a line, so a formula
  wider than the phone's column would scroll inside its box with its end out of sight; the
  chapters write such formulas on several lines (``aligned``);
* every figure (an ``img`` anywhere in the article, an ``svg`` in a cell output) sits in a
  ``<figure>`` with a numbered caption ("Figure 6.3 ...");
* every bitmap is sharp: ``naturalWidth >= 2 x`` its rendered CSS width, less 2 pixels
  (``SHARP_SLACK_PX``: the notebook's width metadata is the PNG width halved and rounded down,
  and layout rounds the rendered width to a fraction of a pixel);
* at 1400 px no figure is shrunk below 98 % of its intended width (the ``width`` the notebook
  gave it, or an SVG's own size), so its fonts stay at the size they were drawn at (at least
  the footnote size, ``replearn_core.book.display.MIN_FONT_PT``);
* every quiz (``rl.book.display.quiz``) answers in the browser, from ``file://`` and over
  HTTP: a wrong answer is called wrong, the right one right, with the explanation; and every
  chapter page has at least one quiz (``QUIZ_EXEMPT`` lists the pages that need none).

Blocks that the reader can expand (``<details>``, sphinx-togglebutton dropdowns such as
solutions and side investigations) are expanded for the layout and figure checks, since a
reader will open them, and left closed for the harness check.

The demo chapter ``book/99_demo.ipynb`` (branch ``infra``) passes all of them; to drop it,
delete the notebook and its part in ``_toc.yml``; nothing here names it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from replearn_tools.explorer_bench import (LocalServer, book_html_dir, html_pages)

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}
SHARP_SLACK_PX = 2
SHRINK_TOLERANCE = 0.98
#: Boxes that may scroll sideways on a phone (never at 1400 px): tables, or any box whose
#: overflow is a table inside it. Not display maths: an equation must fit the column.
INTENTIONAL_SCROLL = "table, .rl-tables, .pst-scrollable-table-container, .table-wrapper"
#: Chapter pages without a quiz: the appendix of explorers.
QUIZ_EXEMPT = {"12_latent_explorers"}
CHAPTER = re.compile(r"^\d\d_")

HARNESS = {
    "check line": re.compile(r":\s*OK\s*$", re.M),
    "nbval marker": re.compile(r"NBVAL_[A-Z_]+|nbval-(ignore-output|skip|check-output|raises-exception)"),
    "-dirty commit": re.compile(r"\b[0-9a-f]{7,40}-dirty\b"),
    "machine path": re.compile(r"(?<![\w.])/(work|root|home|tmp)/|site-packages|\.venv/"),
}


def _pages() -> list[str]:
    html_dir = book_html_dir()
    if not (html_dir / "index.html").exists():
        return ["<no built book>"]
    return [p.relative_to(html_dir).as_posix() for p in html_pages(html_dir)]


PAGES = _pages()


# Runs in the page. Phase "reading": the text a reader sees as the page loads. Phase "open":
# every collapsible block expanded, then layout and figures measured.
AUDIT_JS = r"""
async ({intentional}) => {
  const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  const where = (el) => {
    const parts = [];
    for (let e = el; e && e !== art && parts.length < 4; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) s += '#' + e.id;
      else if (e.classList.length) s += '.' + [...e.classList].slice(0, 2).join('.');
      parts.unshift(s);
    }
    const text = (el.innerText || el.getAttribute('src') || '').trim().replace(/\s+/g, ' ').slice(0, 70);
    return parts.join(' > ') + (text ? ` ("${text}")` : '');
  };
  const visible = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});

  // 1. what the reader sees
  const lines = [];
  const walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!n.textContent.trim() || !p || !visible(p)) continue;
    if (p.closest('script, style, mjx-assistive-mml')) continue;
    const r = p.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    lines.push(n.textContent);
  }
  const stderr = [...art.querySelectorAll('.output.stderr')].filter(visible).map(where);

  // 2. open everything a reader can open
  art.querySelectorAll('details').forEach(d => { d.open = true; });
  art.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  art.querySelectorAll('.dropdown.toggle-hidden, .admonition.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  art.querySelectorAll('button.toggle-button').forEach(b => { if (b.getAttribute('aria-expanded') === 'false') b.click(); });
  await new Promise(r => setTimeout(r, 400));
  const imgs = [...art.querySelectorAll('img')];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));

  const cs = getComputedStyle(art), ar = art.getBoundingClientRect();
  const colLeft = ar.left + parseFloat(cs.paddingLeft), colRight = ar.right - parseFloat(cs.paddingRight);
  const clips = (e) => { const o = getComputedStyle(e).overflowX; return o !== 'visible'; };
  const sticking = [], scrolling = [], cut = [];
  for (const el of art.querySelectorAll('*')) {
    if (!visible(el) || el.closest('mjx-assistive-mml')) continue;
    // MathJax's own layout inside a formula clips by design (stretchy braces, extenders);
    // the formula itself (mjx-container) and its box are still checked.
    if (el.parentElement && el.parentElement.closest('mjx-container')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    let clipped = false;
    for (let a = el.parentElement; a && a !== art; a = a.parentElement) { if (clips(a)) { clipped = true; break; } }
    if (!clipped && (r.right > colRight + 1 || r.left < colLeft - 1)) sticking.push(where(el));
    if (clips(el) && el.scrollWidth > el.clientWidth + 1) {
      const o = getComputedStyle(el).overflowX;
      const entry = {where: where(el), by: el.scrollWidth - el.clientWidth,
                     intentional: !!(el.matches(intentional) || el.closest(intentional)
                       || [...el.querySelectorAll('table')].some(
                            t => t.getBoundingClientRect().width > el.clientWidth + 1))};
      if (o === 'auto' || o === 'scroll') scrolling.push(entry); else cut.push(entry);
    }
  }
  const pageWide = document.documentElement.scrollWidth > window.innerWidth + 1
    ? [`page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`] : [];

  const figures = [];
  const outputSvgs = [...art.querySelectorAll('.cell_output svg')].filter(s => !s.closest('mjx-container, .rl-quiz, button'));
  for (const el of [...imgs, ...outputSvgs]) {
    const fig = el.closest('figure');
    const num = fig && fig.querySelector('figcaption .caption-number');
    const r = el.getBoundingClientRect();
    const src = el.tagName === 'IMG' ? (el.currentSrc || el.src) : '';
    const isSvg = el.tagName !== 'IMG' || /\.svg(\?|#|$)/i.test(src) || src.startsWith('data:image/svg');
    // the intended CSS width: Sphinx writes the notebook's width metadata as style="width: Npx"
    const attrW = (el.style && el.style.width) || el.getAttribute('width');
    figures.push({where: where(el), caption: num ? num.textContent.trim() : null,
                  svg: isSvg, natural: el.naturalWidth || 0, rendered: r.width,
                  intended: attrW && /^\d+(\.\d+)?(px)?$/.test(attrW) ? parseFloat(attrW) : (el.naturalWidth || 0)});
  }
  return {text: lines.join('\n'), stderr, sticking, scrolling, cut, pageWide, figures,
          quizzes: art.querySelectorAll('.rl-quiz').length, column: colRight - colLeft};
}
"""

_AUDITS: dict[tuple[str, str], dict] = {}
# Jupyter Book's index.html is only a redirect (<meta http-equiv="Refresh">): auditing it while
# the browser follows the redirect races with the navigation, so its target is audited instead.
_REDIRECT = re.compile(r'<meta\s+http-equiv="Refresh"\s+content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def page_file(html_dir: Path, page: str) -> Path:
    """The built file a reader ends up on for ``page``: the target of a redirect page."""
    path = html_dir / page
    found = _REDIRECT.search(path.read_text(errors="replace")[:2000])
    return (path.parent / found.group(1)) if found else path


def audit(browser, html_dir: Path, page: str, viewport: str) -> dict:
    """The audit of ``page`` at ``viewport`` (cached: each page is loaded once per size)."""
    key = (page, viewport)
    if key not in _AUDITS:
        context = browser.new_context(viewport=VIEWPORTS[viewport])
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc.message}"))
        tab.goto(page_file(html_dir, page).resolve().as_uri(), wait_until="load")
        tab.wait_for_timeout(300)
        result = tab.evaluate(AUDIT_JS, {"intentional": INTENTIONAL_SCROLL})
        result["errors"] = errors
        context.close()
        _AUDITS[key] = result
    return _AUDITS[key]


def _need(page: str):
    if page == "<no built book>":
        pytest.fail(f"no built book at {book_html_dir()}: run `make book` first")


def _list(items, n=12) -> str:
    items = list(items)
    return "\n  " + "\n  ".join(map(str, items[:n])) + (f"\n  ... and {len(items) - n} more" if len(items) > n else "")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("page", PAGES)
def test_no_console_errors(browser, html_dir, page, viewport):
    _need(page)
    errors = audit(browser, html_dir, page, viewport)["errors"]
    assert not errors, f"{page} at {viewport}: console errors:{_list(errors)}"


@pytest.mark.parametrize("page", PAGES)
def test_no_visible_harness(browser, html_dir, page):
    _need(page)
    a = audit(browser, html_dir, page, "desktop")
    found = []
    for kind, pattern in HARNESS.items():
        for line in a["text"].splitlines():
            if pattern.search(line):
                found.append(f"{kind}: {line.strip()[:100]!r}")
    found += [f"stderr output (a warning?): {w}" for w in a["stderr"]]
    assert not found, (f"{page}: {len(found)} harness line(s) visible to the reader (tag the cell "
                       f"remove-cell / hide-cell, see CONTRIBUTING.md):{_list(found)}")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("page", PAGES)
def test_nothing_wider_than_the_column(browser, html_dir, page, viewport):
    _need(page)
    a = audit(browser, html_dir, page, viewport)
    bad = list(a["pageWide"])
    bad += [f"sticks out of the {a['column']:.0f} px column: {w}" for w in a["sticking"]]
    bad += [f"cuts off {c['by']} px: {c['where']}" for c in a["cut"]]
    for s in a["scrolling"]:
        if viewport == "desktop" or not s["intentional"]:
            bad.append(f"scrolls sideways by {s['by']} px: {s['where']}")
    assert not bad, f"{page} at {viewport}: {len(bad)} element(s) wider than the column:{_list(bad)}"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_has_a_numbered_caption(browser, html_dir, page):
    _need(page)
    figures = audit(browser, html_dir, page, "desktop")["figures"]
    bad = [f["where"] for f in figures if not (f["caption"] and re.match(r"Figure \d+(\.\d+)*", f["caption"]))]
    assert not bad, (f"{page}: {len(bad)} of {len(figures)} figure(s) without a numbered caption "
                     f"(cell metadata mystnb.figure.caption and .name):{_list(bad)}")


@pytest.mark.parametrize("page", PAGES)
def test_every_bitmap_is_sharp(browser, html_dir, page):
    _need(page)
    figures = audit(browser, html_dir, page, "desktop")["figures"]
    bad = [f"{f['natural']} px drawn at {f['rendered']:.0f} CSS px ({f['natural'] / f['rendered']:.2f}x): {f['where']}"
           for f in figures if not f["svg"] and f["rendered"] > 0
           and f["natural"] < 2 * f["rendered"] - SHARP_SLACK_PX]
    assert not bad, (f"{page}: {len(bad)} bitmap(s) with fewer than 2 pixels per CSS pixel "
                     f"(blurry on a HiDPI screen; call rl.setup_notebook() and rerun):{_list(bad)}")


@pytest.mark.parametrize("page", PAGES)
def test_no_figure_is_shrunk(browser, html_dir, page):
    _need(page)
    a = audit(browser, html_dir, page, "desktop")
    bad = [f"{f['rendered']:.0f} of {f['intended']:.0f} CSS px: {f['where']}" for f in a["figures"]
           if f["rendered"] > 0 and f["intended"] > 0 and f["rendered"] < SHRINK_TOLERANCE * f["intended"]]
    assert not bad, (f"{page}: {len(bad)} figure(s) shrunk to fit the {a['column']:.0f} px column, and "
                     f"their fonts with them (make the figure narrower):{_list(bad)}")


@pytest.mark.parametrize("page", [p for p in PAGES if CHAPTER.match(Path(p).stem) or p == "<no built book>"])
def test_every_chapter_has_a_quiz(browser, html_dir, page):
    _need(page)
    if Path(page).stem in QUIZ_EXEMPT:
        pytest.skip(f"{page} is exempt (QUIZ_EXEMPT)")
    assert audit(browser, html_dir, page, "desktop")["quizzes"] > 0, \
        f"{page}: no quiz (rl.book.display.quiz) for the reader to check"


def _visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def _answer_quizzes(browser, url: str) -> list[str]:
    """Answer every quiz of ``url`` wrong then right; return what went wrong."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc.message}"))
    tab.goto(url, wait_until="load")
    problems = []
    roots = tab.locator(".rl-quiz")
    for i in range(roots.count()):
        root = roots.nth(i)
        qid = root.get_attribute("id")
        try:
            tab.wait_for_function("id => document.getElementById(id).getAttribute('data-rl-quiz-ready') === 'true'",
                                  arg=qid, timeout=10_000)
        except Exception:
            problems.append(f"{qid}: quiz.js did not mount it (data-rl-quiz-ready="
                            f"{root.get_attribute('data-rl-quiz-ready')!r})")
            continue
        data = json.loads(root.get_attribute("data-rl-quiz"))
        verdict = root.locator(".rl-quiz-verdict")
        check = root.locator("button.rl-quiz-check")
        root.scroll_into_view_if_needed()
        if data["kind"] == "number":
            field = root.locator("input.rl-quiz-input")
            wrong = data["answer"] + 2 * data["tolerance"] + 1 + abs(data["answer"])
            attempts = [(repr(wrong), "wrong"), ("not a number", "invalid"), (repr(data["answer"]), "right")]
            if data["tolerance"] > 0:
                attempts.append((repr(data["answer"] + 0.5 * data["tolerance"]), "right"))
            for typed, expect in attempts:
                field.fill(typed)
                check.click()
                got = verdict.get_attribute("data-verdict")
                if got != expect:
                    problems.append(f"{qid}: typed {typed!r}, expected {expect}, the page said {got!r}: "
                                    f"{verdict.inner_text()!r}")
        else:
            radios = root.locator("input[type=radio]")
            wrong = next(k for k in range(radios.count()) if k != data["answer"])
            for k, expect in [(wrong, "wrong"), (data["answer"], "right")]:
                radios.nth(k).check()
                check.click()
                got = verdict.get_attribute("data-verdict")
                if got != expect:
                    problems.append(f"{qid}: picked choice {k}, expected {expect}, the page said {got!r}")
        said = re.sub(r"\s+", " ", verdict.inner_text())
        # a word of the explanation outside its maths (which MathJax typesets) must be shown
        words = re.findall(r"[A-Za-z]{4,}", _visible_text(re.sub(r'<span class="math[^>]*>.*?</span>', " ",
                                                                  data["explanation"])))
        if verdict.get_attribute("data-verdict") == "right" and words and max(words, key=len) not in said:
            problems.append(f"{qid}: the right answer's verdict {said!r} lacks the explanation "
                            f"{_visible_text(data['explanation'])[:60]!r}")
        if not verdict.is_visible():
            problems.append(f"{qid}: the verdict is not visible")
    problems += errors
    context.close()
    return problems


@pytest.fixture(scope="module")
def http_base(html_dir):
    with LocalServer(html_dir) as base:
        yield base


@pytest.mark.parametrize("mode", ["file", "http"])
def test_every_quiz_answers_in_the_browser(browser, html_dir, http_base, mode):
    quiz_pages = [p for p in html_pages(html_dir) if 'class="rl-quiz"' in p.read_text(errors="replace")]
    if not quiz_pages:
        pytest.fail(f"no quiz in any page of {html_dir}: chapters end with rl.book.display.quiz(...)")
    problems, count = [], 0
    for path in quiz_pages:
        rel = path.relative_to(html_dir).as_posix()
        url = path.resolve().as_uri() if mode == "file" else f"{http_base}/{rel}"
        count += path.read_text(errors="replace").count('class="rl-quiz"')
        problems += [f"{rel}: {p}" for p in _answer_quizzes(browser, url)]
    assert not problems, f"{mode}: quizzes that do not answer:{_list(problems)}"
    print(f"{mode}: {count} quiz(zes) on {len(quiz_pages)} page(s) answered wrong, then right")


def test_quiz_reads_numbers_as_readers_type_them(browser, html_dir):
    """``quiz.js`` accepts a decimal comma, a Unicode minus, exponents and thin spaces, and
    rejects text (the verdict then asks for a number instead of calling it wrong)."""
    context = browser.new_context()
    tab = context.new_page()
    page = next(p for p in html_pages(html_dir) if p.name != "index.html")  # index.html redirects
    tab.goto(page.resolve().as_uri(), wait_until="load")
    cases = {"0.5": 0.5, "1,5": 1.5, "\u22122": -2, "1e-3": 0.001, "314 000": 314000, "1,234.5": 1234.5,
             ".25": 0.25, "+3": 3}
    got = tab.evaluate("cases => Object.keys(cases).map(k => [k, window.replearnQuiz.parseNumber(k)])", cases)
    bad = tab.evaluate("xs => xs.map(x => Number.isNaN(window.replearnQuiz.parseNumber(x)))",
                       ["", "abc", "1..2", "1e", "--1"])
    context.close()
    assert {k: v for k, v in got} == cases
    assert all(bad), f"text that is not a number must give NaN: {bad}"

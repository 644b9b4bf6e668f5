"""The offline HTML export: math as MathML, no request leaves the file, figures' alt text from metadata.

The browser tests open the file in headless Chromium (Debian's chromium + chromedriver, driven by
selenium). They skip where one of those is absent, except under CI (``CI`` set), where they fail.
``browser_check(html_path)`` and ``render_problems(facts)`` work on any HTML file.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from hw_lib.html_export import OfflineHTMLExporter, export_html, tex_to_mathml

from .helpers import REPO

COMMITTED = sorted(REPO.glob("report/*/report.html"))
MACHINE_PATH = re.compile(r'"/(work|tmp|home|root)/')  # an absolute path where the report was made
DEFAULT_ALT = "No description has been provided for this image"
ALT = 'Training loss by epoch: "train" < "val" & more'  # quotes, < and & must be escaped in the attribute
INPUT_MARKER = "print('this code must not be shown')"

MARKDOWN = r"""# Tiny report

Inline $\sigma(s) = 1 / (1 + e^{-s})$ and $x^{(n)}$. A price of \$3, a lone $ sign and prices from
$5 to $10 stay text, and so does `$not math$` in code.

$$G(w) = -\sum_n \left[ t^{(n)} \ln x^{(n)}
+ (1 - t^{(n)}) \ln (1 - x^{(n)}) \right],\quad
\frac{dG}{dw} = \sum_n \left( x^{(n)} - t^{(n)} \right) \, z^{(n)}$$
"""
OUTPUT_MARKDOWN = r"""| model | mIoU |
| --- | --- |
| FCN8s | $0.70$ |

$$\frac{\partial G}{\partial x^{(n)}} = \frac{x^{(n)} - t^{(n)}}{x^{(n)} (1 - x^{(n)})}$$
"""
EXTERNAL = re.compile(r"(https?:)?//", re.IGNORECASE)  # http://, https:// and protocol-relative //host
N_MATH, N_DISPLAY_MATH = 5, 2  # in MARKDOWN and OUTPUT_MARKDOWN together


def tiny_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 8), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def tiny_notebook(path: Path) -> Path:
    png = tiny_png()
    figure = new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"},
                        metadata={"image/png": {"alt": ALT}})
    no_alt = new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})
    table = new_output("display_data", data={"text/markdown": OUTPUT_MARKDOWN, "text/plain": "<Markdown>"})
    nb = new_notebook(cells=[new_markdown_cell(MARKDOWN), new_code_cell(INPUT_MARKER, outputs=[figure, no_alt]),
                             new_code_cell("display(Markdown(table))", outputs=[table])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def tiny_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("html_export")
    return export_html(tiny_notebook(folder / "tiny.ipynb"), folder / "out" / "tiny.html")


def external_references(html: str) -> list[str]:
    """Addresses the page would fetch from elsewhere: script/link/img/iframe/source sources, module imports."""
    soup = BeautifulSoup(html, "html.parser")
    found = [f"<{tag.name} {attr}={tag[attr]}>" for tag in soup.find_all(["script", "link", "img", "iframe", "source",
                                                                         "audio", "video", "embed", "object"])
             for attr in ("src", "href", "data") if tag.has_attr(attr) and EXTERNAL.match(tag[attr].strip())]
    found += [f"import in <script>: {script.string[:80]!r}" for script in soup.find_all("script")
              if script.string and ("import(" in script.string or " from 'http" in script.string
                                    or ' from "http' in script.string)]
    found += ["@import in <style>" for style in soup.find_all("style") if style.string and "@import" in style.string]
    return found


# ---- the HTML text -------------------------------------------------------------------------------------------

def test_math_is_mathml(tiny_html: Path) -> None:
    html = tiny_html.read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    text = soup.body.get_text()
    assert "$$" not in html and "\\frac" not in html and "\\left" not in html and "\\sigma" not in html
    maths = soup.find_all("math")
    assert len(maths) == N_MATH
    assert sum(m.get("display") == "block" for m in maths) == N_DISPLAY_MATH
    assert all(m.find("mfrac") for m in maths if m.get("display") == "block")
    assert "A price of $3, a lone $ sign and prices from $5 to $10 stay text" in " ".join(text.split())
    assert soup.find("code", string="$not math$") is not None
    assert soup.find("table") is not None and soup.find("table").find("math") is not None


def test_unreadable_tex_is_shown_as_code() -> None:
    nb = new_notebook(cells=[new_markdown_cell(r"Broken $\frac{1}{$ but $a^2$ is fine.")])
    soup = BeautifulSoup(OfflineHTMLExporter().from_notebook_node(nb)[0], "html.parser")
    assert soup.find("code", class_="tex-math").string == r"\frac{1}{"
    assert len(soup.find_all("math")) == 1


def test_operator_names_get_the_thin_space_tex_gives_them() -> None:
    def after_ln(tex: str) -> str:
        return BeautifulSoup(tex_to_mathml(tex, display=False), "html.parser").find("mi", string="ln").find_next_sibling().name

    assert after_ln(r"\ln x") == "mspace"
    assert after_ln(r"\ln(x)") == "mo"  # TeX puts no space before a parenthesis either
    assert "mspace" not in tex_to_mathml(r"\sigma x", display=False)


def test_alt_text_from_metadata(tiny_html: Path) -> None:
    soup = BeautifulSoup(tiny_html.read_text(encoding="utf-8"), "html.parser")
    alts = [img.get("alt") for img in soup.find_all("img")]
    assert alts == [ALT, DEFAULT_ALT]  # escaped: parsed back whole; no metadata: nbconvert's placeholder


def test_self_contained_and_inputs_hidden(tiny_html: Path) -> None:
    html = tiny_html.read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "cdnjs" not in html and "require.js" not in html.lower() and "mermaid" not in html.lower()
    assert "MathJax" not in html
    assert "this code must not be shown" not in html and "display(Markdown" not in html
    assert BeautifulSoup(html, "html.parser").select(".jp-CodeCell .jp-InputArea") == []
    assert html.count('src="data:image/png;base64,') == 2


def test_export_is_atomic_and_leaves_no_temporary(tiny_html: Path) -> None:
    assert [p.name for p in tiny_html.parent.iterdir()] == [tiny_html.name]


# ---- in a browser -------------------------------------------------------------------------------------------

def _require_browser() -> None:
    """Skip where Chromium, chromedriver or selenium is absent; under CI (``CI`` set) fail instead."""
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set, so this may not skip")
        pytest.skip(message)


def new_driver(user_data_dir: str) -> Any:
    """Headless Chromium with the performance log on; no selenium-manager, no background traffic."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,1000", f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    _require_browser()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        browser = new_driver(profile)
        try:
            yield browser
        finally:
            browser.quit()


_PAGE_FACTS = """
const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
return {
  text: document.body.innerText,
  math: Array.from(document.querySelectorAll('math')).map(m => ({
    size: box(m), display: getComputedStyle(m).display,
    mathml: m.namespaceURI === 'http://www.w3.org/1998/Math/MathML'})),
  images: Array.from(document.images).map(i => ({
    complete: i.complete, naturalWidth: i.naturalWidth, alt: i.getAttribute('alt'), src: i.src.slice(0, 40)})),
};
"""


def browser_check(html_path: Path, driver: Any = None) -> dict[str, Any]:
    """Open ``html_path`` in headless Chromium; what a reader gets: text, math boxes, images, requests.

    Returns ``url``, ``text`` (``document.body.innerText``), ``math`` (size, CSS display, MathML namespace
    of each ``math`` element), ``images`` (complete, naturalWidth, alt of each ``img``) and ``requests``
    (every URL of a ``Network.requestWillBeSent``; ``data:`` URLs cut short). Starts and quits its own
    browser unless given ``driver``.
    """
    _require_browser()
    if driver is None:
        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            own = new_driver(profile)
            try:
                return browser_check(html_path, own)
            finally:
                own.quit()
    url = Path(html_path).resolve().as_uri()
    driver.get("about:blank")  # leave the start page (chrome://new-tab-page loads chrome:// scripts) or earlier page
    driver.get_log("performance")  # and drop what they logged
    driver.get(url)
    deadline = time.monotonic() + 10
    while driver.execute_script("return document.readyState") != "complete" and time.monotonic() < deadline:
        time.sleep(0.05)
    facts = driver.execute_script(_PAGE_FACTS)
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            asked = message["params"]["request"]["url"]
            requests.append(asked[:60] + "..." if asked.startswith("data:") and len(asked) > 60 else asked)
    return {"url": url, **facts, "requests": requests}


def render_problems(facts: dict[str, Any]) -> list[str]:
    """What is wrong for a reader of the page ``browser_check`` saw; [] when nothing."""
    problems = []
    if "$$" in facts["text"]:
        problems.append("raw $$ in the visible text")
    if "\\frac" in facts["text"]:
        problems.append("raw \\frac in the visible text")
    for i, m in enumerate(facts["math"]):
        if not (m["size"][0] > 0 and m["size"][1] > 0) or not m["mathml"] or "math" not in m["display"]:
            problems.append(f"math element {i} not rendered as MathML: {m}")
    for i, img in enumerate(facts["images"]):
        if not img["complete"] or img["naturalWidth"] <= 0:
            problems.append(f"image {i} did not load: {img}")
    if facts["url"] not in facts["requests"]:
        problems.append(f"the performance log did not see the page itself: {facts['requests'][:3]}")
    problems += [f"external request: {url}" for url in facts["requests"] if not url.startswith(("file:", "data:"))]
    return problems


def test_browser_renders_tiny_report(tiny_html: Path, driver: Any) -> None:
    facts = browser_check(tiny_html, driver)
    assert render_problems(facts) == []
    assert len(facts["math"]) == N_MATH
    assert [m["display"] for m in facts["math"]].count("block math") == N_DISPLAY_MATH
    assert [img["alt"] for img in facts["images"]] == [ALT, DEFAULT_ALT]
    assert "A price of $3, a lone $ sign and prices from $5 to $10 stay text" in " ".join(facts["text"].split())


def test_browser_check_catches_a_broken_page(tmp_path: Path, driver: Any) -> None:
    """The checks themselves: an external script and image, and raw TeX, are reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><script src="http://127.0.0.1:9/require.js"></script></head>'
                    '<body><p>$$\\frac{1}{2}$$</p><img src="http://127.0.0.1:9/fig.png" alt="x"></body></html>')
    problems = render_problems(browser_check(page, driver))
    assert "raw $$ in the visible text" in problems and "raw \\frac in the visible text" in problems
    assert "external request: http://127.0.0.1:9/require.js" in problems
    assert "external request: http://127.0.0.1:9/fig.png" in problems
    assert any(p.startswith("image 0 did not load") for p in problems)
    assert external_references(page.read_text()) == ["<script src=http://127.0.0.1:9/require.js>",
                                                       "<img src=http://127.0.0.1:9/fig.png>"]


@pytest.mark.parametrize("html", COMMITTED, ids=[str(p.parent.name) for p in COMMITTED])
def test_the_committed_reports_render_offline_with_described_figures(html: Path, driver: Any) -> None:
    """What the repository ships (report/<preset>-<source>/report.html), opened as a reader opens it."""
    facts = browser_check(html, driver)
    assert render_problems(facts) == []
    assert facts["math"], "section 6 has math, so MathML is expected"
    assert len(facts["images"]) == 4 and all(len(img["alt"] or "") > 40 for img in facts["images"])


def test_the_committed_reports_carry_no_machine_paths() -> None:
    assert COMMITTED, "the repository ships at least the demo report"
    for folder in {p.parent for p in COMMITTED}:
        for path in folder.iterdir():
            if path.suffix in (".html", ".json", ".ipynb"):
                text = path.read_text(encoding="utf-8")
                assert str(REPO) not in text and not MACHINE_PATH.search(text), path

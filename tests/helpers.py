"""What several test modules share: paths to the optional ../shared folder, a tiny run config, reading
executed notebooks, and headless Chromium (Debian's chromium + chromedriver, driven by selenium).

The browser helpers skip where one of those is absent, except under CI (``CI`` set), where they fail.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup

from hw_lib.config import RunConfig

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HW_SHARED_DIR", REPO.parent / "shared"))
REAL_DATA = SHARED / "dlcv_p2_data"
SCORER_FIXTURE = SHARED / "scorer_fixture" / "fcn32s_predictions"
SEED = SHARED / "seed" / "000_36b17a335cab0ac0.txt"
EXTERNAL = re.compile(r"(https?:)?//", re.IGNORECASE)  # http://, https:// and protocol-relative //host
MACHINE_PATH = re.compile(r'"/(work|tmp|home|root)/')  # an absolute path of the machine a report was made on


#: the tiny demo runs of the tests: 2 epochs at 64 px (snapshot epochs derived: 1, 2)
SMOKE = {"epochs": 2, "batch_size": 4, "image_size": 64}


def need(path: Path) -> Path:
    """Skip the test when ``path`` (something from ../shared) is absent, as in a fresh clone."""
    if not path.exists():
        pytest.skip(f"{path} is absent (it lives in ../shared beside the checkout)")
    return path


def tiny_config(data_dir: Path, run_dir: Path, **overrides: Any) -> RunConfig:
    """A run that takes seconds on the CPU, in float32 on every CPU (bf16 is tested on purpose elsewhere)."""
    values = dict(model="fcn8s", data_dir=str(data_dir), run_dir=str(run_dir), epochs=2, batch_size=4,
                  lr=3e-4, image_size=64, snapshot_epochs=[1, 2], device="cpu", precision="fp32", seed=0)
    return RunConfig(**{**values, **overrides})


def outputs(path: Path, kind: str) -> Iterator[Any]:
    """The outputs of an executed notebook: ``"png"`` image outputs, ``"markdown"`` outputs as strings, or
    ``"text"`` (stream and data) as strings."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if kind == "png" and "image/png" in data:
                yield out
            if kind == "markdown" and "text/markdown" in data:
                yield data["text/markdown"]
            if kind == "text":
                yield out.get("text", "") + "".join(str(v) for v in data.values())


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


# ---- in a browser -------------------------------------------------------------------------------------------

def require_browser() -> None:
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


_PAGE_FACTS = """
const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
return {
  text: document.body.innerText,
  math: Array.from(document.querySelectorAll('math')).map(m => ({
    size: box(m), display: getComputedStyle(m).display, font: getComputedStyle(m).fontFamily,
    mathml: m.namespaceURI === 'http://www.w3.org/1998/Math/MathML',
    sum: Array.from(m.querySelectorAll('mo')).filter(o => o.textContent === '\u2211').map(o => box(o)[1])})),
  fonts: Array.from(document.fonts).map(f => f.family.replace(/"/g, '') + ':' + f.status),
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
    require_browser()
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




#: words of the code, not of a report: only its "How this report was made" paragraph may use them
INTERNAL_WORDS = re.compile(r"notebook|run director|preset|hw_lib|results\.json|run_dir|data_dir|\.py\b", re.I)
#: a signed number the prose states, outside an interval's brackets: each is a difference
SIGNED = re.compile(r"(?<![\w.])[+\-\u2212]\d+\.\d{3}\b")


def stated_difference_problems(document: dict[str, Any]) -> list[str]:
    """Every difference the discussion in ``results.json`` states, recomputed from the two unrounded values it
    names in the same document; and every signed number of the discussion one of them. Empty when all hold."""
    def value(path: list[Any]) -> float:
        found: Any = document
        for key in path:
            found = found[key]
        return found

    text, listed = document["discussion"]["text"], document["discussion"]["differences"]
    problems = []
    for d in listed:
        recomputed = f"{value(d['minuend']) - value(d['subtrahend']):+.3f}"
        if recomputed != d["text"] or d["text"] not in text:
            problems.append(f"{d['text']} ({d['minuend']} - {d['subtrahend']} = {recomputed})")
    outside_brackets = re.sub(r"\[[^\]]*\]", "", text)
    stated = {d["text"] for d in listed}
    problems += [f"{n}: a signed number no listed difference accounts for" for n in SIGNED.findall(outside_brackets)
                 if n not in stated]
    return problems


def report_prose(notebook: Path) -> str:
    """The words a reader of an executed report reads (markdown cells and outputs), without the one paragraph
    that names the code ("How this report was made")."""
    nb = json.loads(notebook.read_text())
    texts = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    texts += list(outputs(notebook, "markdown"))
    paragraphs = [p for t in texts for p in t.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if not p.startswith("**How this report was made.**"))

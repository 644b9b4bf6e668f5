"""The offline HTML export: math as MathML set in an embedded math font, no request leaves the file,
figures' alt text from metadata; opened in headless Chromium as a reader opens it."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from PIL import Image

from hw_lib.html_export import (
    MATH_FONT_FAMILY,
    OfflineHTMLExporter,
    embed_math_font,
    export_html,
    math_font,
    tex_to_mathml,
)

from .helpers import browser_check, external_references, render_problems

DEFAULT_ALT = "No description has been provided for this image"
ALT = 'Training loss by epoch: "train" < "val" & more'  # quotes, < and & must be escaped in the attribute
INPUT_MARKER = "print('this code must not be shown')"

MARKDOWN = r"""# Tiny report

Inline $\sigma(s) = 1 / (1 + e^{-s})$, $x^{(n)}$ and $\sum_n x_n$. A price of \$3, a lone $ sign and prices from
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
N_MATH, N_DISPLAY_MATH = 6, 2  # in MARKDOWN and OUTPUT_MARKDOWN together


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
        soup = BeautifulSoup(tex_to_mathml(tex, display=False), "html.parser")
        return soup.find("mi", string="ln").find_next_sibling().name

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


# ---- in a browser ------------------------------------------------------------------------------------------

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


def test_the_embedded_math_font_sets_the_display_sum_large(tiny_html: Path, driver: Any) -> None:
    if math_font() is None:
        pytest.fail("no OpenType math font (apt-get install fonts-dejavu-extra): the report's formulas need one")
    facts = browser_check(tiny_html, driver)
    assert f"{MATH_FONT_FAMILY}:loaded" in facts["fonts"]
    assert all(m["font"].startswith(f'"{MATH_FONT_FAMILY}"') for m in facts["math"])
    inline = [h for m in facts["math"] if "block" not in m["display"] for h in m["sum"]]
    display = [h for m in facts["math"] if "block" in m["display"] for h in m["sum"]]
    assert inline and display and min(display) > 1.3 * max(inline), (display, inline)


def test_the_math_font_is_cut_down_to_the_formulas_characters() -> None:
    if math_font() is None:
        pytest.skip("no OpenType math font installed")
    page = "<html><head></head><body><math><mi>x</mi></math></body></html>"
    with_font = embed_math_font(page)
    assert f'font-family: "{MATH_FONT_FAMILY}"' in with_font and "data:font/ttf;base64," in with_font
    assert len(with_font) < 100_000 < math_font().stat().st_size  # a subset, not the whole font
    assert embed_math_font("<html><head></head><body>no math</body></html>") == (
        "<html><head></head><body>no math</body></html>")

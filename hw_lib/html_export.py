"""An executed notebook as one self-contained HTML file that needs no network to be read.

* Math (``$...$``, ``$$...$$``, ``\\begin{env}...\\end{env}``) in markdown cells and in ``text/markdown``
  outputs becomes MathML at export time (``latex2mathml``), which browsers render natively (Chromium
  >= 109, Firefox, Safari): no MathJax.
* The template ``templates/offline_html`` (the ``lab`` one, minus its require.js, MathJax, mermaid and
  widget scripts) loads nothing from another address; figures are embedded as ``data:`` URLs.
* A figure's alt text comes from its output's metadata, e.g.
  ``display(fig, metadata={"image/png": {"alt": "Training loss by epoch"}})``.
* An OpenType math font (DejaVu Math TeX Gyre from Debian's fonts-dejavu-extra, or another of
  ``MATH_FONTS``, or ``$HW_MATH_FONT``), cut down to the characters the formulas use, is embedded,
  so display sums are set large and brackets stretch as in TeX, with no font installed where the
  page is read. Without one the browser's own math font is used and the export says so.

The conversion lives in this exporter's ``markdown2html`` filter, so it touches neither the notebook
nor the PDF export, whose LaTeX keeps the TeX. The math is found by nbconvert's own markdown parser
(code spans and fenced code are never math, ``\\$`` is a dollar sign), with Pandoc's rule for the
inline ``$``: the opening one is followed by a non-space, the closing one follows a non-space and is
not followed by a digit, so "from $5 to $10" stays prose; inline math holds no other ``$`` and no
backtick. TeX that ``latex2mathml`` cannot read is shown as code, with a warning in the log.
"""
from __future__ import annotations

import base64
import io
import logging
import os
import re
from html import escape, unescape
from pathlib import Path
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTFont
from jinja2 import pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath, MathInlineParser

from .atomic import atomic_path

TEMPLATES = Path(__file__).resolve().parent / "templates"  # read from the source tree, no installation
TEMPLATE_NAME = "offline_html"
#: OpenType fonts with a MATH table, from Debian packages, in the order they are tried
MATH_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuMathTeXGyre.ttf",  # fonts-dejavu-extra
    "/usr/share/texmf/fonts/opentype/public/lm-math/latinmodern-math.otf",  # fonts-lmodern
    "/usr/share/fonts/opentype/stix/STIXMath-Regular.otf",  # fonts-stix
)
MATH_FONT_FAMILY = "HW Math"
#: characters kept in the embedded font besides those of the page's formulas: stretchy delimiters, large
#: operators, digits, and the mathematical italic letters MathML draws a single-letter <mi> in
ALWAYS_KEPT = "()[]{}|\u2211\u220f\u222b0123456789\u210e" + "".join(map(chr, range(0x1D434, 0x1D468))) + "".join(
    map(chr, range(0x1D6E2, 0x1D71C)))
log = logging.getLogger(__name__)


# TeX's thin space after an operator name (\ln x), which latex2mathml leaves out; none before "(" as in TeX
_FUNCTION_NAME = re.compile(r"(<mi>(?:arg|cos|cosh|cot|coth|csc|deg|det|dim|exp|gcd|hom|inf|ker|lg|lim|liminf|limsup"
                            r"|ln|log|max|min|Pr|sec|sin|sinh|sup|tan|tanh)</mi>)(?!<mo[^>]*>&#x00028;)")
THIN_SPACE = '<mspace width="0.1667em"></mspace>'


def tex_to_mathml(tex: str, display: bool) -> str:
    """One formula as a ``<math>`` element (``display="block"`` for display math)."""
    mathml = latex_to_mathml(tex.strip(), display="block" if display else "inline")
    return _FUNCTION_NAME.sub(r"\1" + THIN_SPACE, mathml)


class _PandocDollarParser(MathInlineParser):
    """nbconvert's math-aware inline parser, with ``$...$`` only where Pandoc would see math."""

    SPECIFICATION = {
        **MathInlineParser.SPECIFICATION,
        # $, a non-space, then TeX with no unescaped $ and no backtick (code), a non-space, $ not before a digit
        "inline_math_tex": r"(?s:(?<![$\\])\$(?![\s$])(?P<math_inline_tex>(?:\\.|[^$\\`])+?)(?<!\s)\$(?!\d))",
    }


class _MathMLRenderer(IPythonRenderer):
    """nbconvert's markdown renderer, writing MathML where it would leave TeX for MathJax."""

    def __init__(self, *args: Any, log: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log = log

    def _math(self, tex: str, display: bool) -> str:
        try:
            return tex_to_mathml(tex, display)
        except Exception as e:  # latex2mathml raises assorted errors on TeX it cannot parse
            self._log.warning("TeX left as text (latex2mathml: %s: %s): %s", type(e).__name__, e, tex)
            return f'<code class="tex-math">{escape(tex.strip())}</code>'

    def inline_math(self, body: str) -> str:
        return self._math(body, display=False)

    def block_math(self, body: str) -> str:
        return self._math(body, display=True)

    def latex_environment(self, name: str, body: str) -> str:
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


class OfflineHTMLExporter(HTMLExporter):
    """``HTMLExporter`` with the ``offline_html`` template and math rendered as MathML."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("template_name", TEMPLATE_NAME)
        kwargs.setdefault("extra_template_basedirs", [str(TEMPLATES)])
        super().__init__(**kwargs)

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """As ``HTMLExporter.markdown2html`` (attachments, embedded images, anchors), math as MathML."""
        cell = context.get("cell", {})
        renderer = _MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            log=self.log,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer, inline=_PandocDollarParser(hard_wrap=False)).render(source)


def math_font() -> Path | None:
    """The first OpenType math font found: ``$HW_MATH_FONT``, else one of ``MATH_FONTS``."""
    for candidate in (os.environ.get("HW_MATH_FONT"), *MATH_FONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def embed_math_font(html: str, font_path: Path | None = None) -> str:
    """``html`` with ``font_path`` (default :func:`math_font`), cut down to the characters inside its
    ``<math>`` elements, embedded as the font of every formula; unchanged where there is no math or no font."""
    formulas = re.findall(r"<math\b.*?</math>", html, flags=re.S)
    font_path = font_path or math_font()
    if not formulas or font_path is None:
        if formulas:
            log.warning("no OpenType math font found (apt-get install fonts-dejavu-extra); formulas use the "
                        "browser's own")
        return html
    text = unescape(re.sub(r"<[^>]+>", "", "".join(formulas))) + ALWAYS_KEPT
    font = TTFont(font_path)
    options = subset.Options()
    options.layout_features, options.name_IDs, options.notdef_outline = ["*"], ["*"], True
    options.drop_tables = [*options.drop_tables, "FFTM"]  # FontForge's timestamps
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)  # keeps the MATH table: large operators and stretchy delimiters
    buffer = io.BytesIO()
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode()
    style = (f'<style>@font-face {{ font-family: "{MATH_FONT_FAMILY}"; src: url(data:font/ttf;base64,{data}); }}\n'
             f'math {{ font-family: "{MATH_FONT_FAMILY}", math; }}</style>\n')
    return html.replace("</head>", style + "</head>", 1)


def export_html(executed: Path, target: Path) -> Path:
    """``executed`` (a notebook) as one self-contained, offline HTML file at ``target``; code cells hidden.

    Written atomically: a failed export leaves the previous ``target``, if any.
    """
    exporter = OfflineHTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                                   embed_images=True)
    body, _ = exporter.from_filename(str(executed))  # the file's folder resolves images linked in markdown
    body = embed_math_font(body)
    with atomic_path(target) as tmp:
        tmp.write_text(body, encoding="utf-8")  # the page says <meta charset="utf-8">, whatever the locale
    return Path(target)

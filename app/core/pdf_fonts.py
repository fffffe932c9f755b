"""The fonts of every PDF the app issues: one registration, so all documents look alike.

Japanese text is set in IPAexGothic, a TrueType font shipped in app/core/fonts (see the README there
for its licence and why it is bundled). reportlab embeds a subset of it, only the glyphs a
document uses, with a ToUnicode map, so the PDF renders the same in any viewer and its text can
be searched and copied. (reportlab's built-in CID fonts such as HeiseiKakuGo are never embedded:
a viewer without them substitutes another font or shows nothing.) Latin lines may stay in the
standard Helvetica, which every PDF viewer has."""
from __future__ import annotations

import threading
from pathlib import Path

FONTS = Path(__file__).with_name("fonts")
JAPANESE = "IPAexGothic"  # the name documents pass to setFont; also the embedded font's name
_lock = threading.Lock()


def japanese_font() -> str:
    """Registers the Japanese font once per process (parsing the 6 MB file takes ~0.4 s) and
    returns its name for `canvas.setFont`."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _lock:
        if JAPANESE not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(JAPANESE, str(FONTS / "ipaexg.ttf")))
    return JAPANESE

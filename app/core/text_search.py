"""Japanese-aware text normalisation for search: full-width/half-width and hiragana/katakana
differences are folded away, so 'ＤＸ', 'dx' and 'ｄｘ' match, and 'でーた' matches 'データ'."""
from __future__ import annotations

import unicodedata


def _hiragana_to_katakana(text: str) -> str:
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in text)


def normalize_for_search(text: str) -> str:
    # NFKC folds full-width ASCII to half-width and half-width katakana to full-width.
    folded = unicodedata.normalize("NFKC", text or "")
    folded = _hiragana_to_katakana(folded)
    return " ".join(folded.lower().split())

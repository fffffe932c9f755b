"""Certificate codes and the PDF.

A code is ten random base32 characters plus a four-character HMAC check, e.g. "K7Q2M-9XRPA-4F3D":
a mistyped or invented code fails the check before any lookup, and a genuine one is also looked
up, so a revoked certificate shows as revoked."""
from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from datetime import date

from app.core.fiscal import era_date
from app.core.pdf_fonts import japanese_font

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _check(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"certificate:{body}".encode(), hashlib.sha256).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:4])


def new_code(secret: str) -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(10))
    return f"{body[:5]}-{body[5:]}-{_check(secret, body)}"


def normalise(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{cleaned[:5]}-{cleaned[5:10]}-{cleaned[10:]}" if len(cleaned) == 14 else code.strip().upper()


def is_well_formed(secret: str, code: str) -> bool:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(cleaned) != 14 or any(ch not in ALPHABET for ch in cleaned):
        return False
    return hmac.compare_digest(cleaned[10:], _check(secret, cleaned[:10]))


def render_pdf(*, name: str, course_title: str, course_title_en: str, hours: str, completed_on: date,
               code: str, verify_url: str, issuer: str, valid_until: date | None = None) -> bytes:
    """An A4 landscape certificate, a Japanese document: dated in 和暦 with the Western year beside
    it. Japanese text is in the embedded font of app/core/pdf_fonts.py (a subset, searchable); the
    fixed English line, the code and the URL (ASCII) in Helvetica."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    japanese = japanese_font()
    buffer = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(buffer, pagesize=(width, height), invariant=1)
    pdf.setTitle(f"修了証 {course_title}")
    pdf.setAuthor(issuer)
    pdf.setLineWidth(3)
    pdf.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    pdf.setLineWidth(0.8)
    pdf.rect(16 * mm, 16 * mm, width - 32 * mm, height - 32 * mm)
    pdf.setFont(japanese, 40)
    pdf.drawCentredString(width / 2, height - 55 * mm, "修 了 証")
    pdf.setFont("Helvetica", 14)
    pdf.drawCentredString(width / 2, height - 65 * mm, "Certificate of Completion")
    pdf.setFont(japanese, 26)
    pdf.drawCentredString(width / 2, height - 90 * mm, f"{name}　様")
    pdf.setFont(japanese, 16)
    pdf.drawCentredString(width / 2, height - 108 * mm, "あなたは次の研修を修了したことを証します。")
    pdf.setFont(japanese, 20)
    pdf.drawCentredString(width / 2, height - 124 * mm, course_title)
    pdf.setFont(japanese, 12)  # written by people: may hold any character, which Helvetica lacks
    pdf.drawCentredString(width / 2, height - 132 * mm, course_title_en)
    pdf.setFont(japanese, 13)
    pdf.drawCentredString(width / 2, height - 146 * mm,
                          f"修了日　{era_date(completed_on)}（{completed_on.year}年）"
                          f"　　研修時間　{hours}時間")
    if valid_until is not None:  # recertification: the certificate says how long it counts
        pdf.drawCentredString(width / 2, height - 155 * mm,
                              f"有効期限　{era_date(valid_until)}（{valid_until.year}年）まで")
    pdf.drawRightString(width - 30 * mm, 40 * mm, issuer)
    pdf.setFont("Helvetica", 10)
    pdf.drawString(30 * mm, 34 * mm, f"Verification code: {code}")
    pdf.drawString(30 * mm, 28 * mm, verify_url)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()



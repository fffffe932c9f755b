"""What an upload is, by its bytes: the one check that fieldwork files and e-learning media share
(app/core/file_kinds.py), through the two places' own entry points and their messages."""
from __future__ import annotations

import io
import zipfile

import pytest

from app.cohorts.uploads import UploadError, check_upload
from app.core.file_kinds import detect
from app.elearning.media import MediaError, check_media

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 12
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 20
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def office(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<x/>")
    return buffer.getvalue()


def test_the_bytes_decide_the_kind():
    assert [detect(data) for data in (PNG, PDF, MP4, OLE, office("word/"), office("xl/"), office("ppt/"))] == [
        "png", "pdf", "mp4", "ole", "docx", "xlsx", "pptx"]
    assert detect(SVG) is None and detect(b"<html><script></script></html>") is None
    assert detect(b"PK\x03\x04 not really a zip") is None


def test_a_fieldwork_file_must_be_a_document_or_an_image_named_for_what_it_is(app):
    with app.test_request_context():
        assert check_upload("報告書.docx", office("word/"), 10_000).content_type.endswith("wordprocessingml.document")
        assert check_upload("古い様式.xls", OLE, 10_000).content_type == "application/x-ole-storage"
        for name, data, said in (("写真.pdf", PNG, "中身は PNG ファイル"), ("動画.mp4", MP4, "PDF"),
                                 ("図.svg", SVG, "PDF"), ("空.pdf", b"", "空"),
                                 ("大きい.pdf", PDF + b"\x00" * 20_000, "MB")):
            with pytest.raises(UploadError) as refused:
                check_upload(name, data, 10_000)
            assert name in str(refused.value) and said in str(refused.value), str(refused.value)


def test_an_e_learning_page_takes_images_a_video_or_a_pdf(app):
    with app.test_request_context():
        assert check_media("intro.mp4", MP4, 10_000).content_type == "video/mp4"
        assert check_media("figure-1.png", PNG, 10_000).is_image
        for name, data in (("handout.docx", office("word/")), ("figure.svg", SVG), ("figure-1.jpg", PNG)):
            with pytest.raises(MediaError):
                check_media(name, data, 10_000)

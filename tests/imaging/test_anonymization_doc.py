"""docs/anonymization.md says exactly what the anonymizer's docstring says."""

from __future__ import annotations

import re
from pathlib import Path

import datamint.imaging.dicom_anonymize as anonymize

DOC = Path(__file__).resolve().parents[2] / "docs" / "anonymization.md"


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", re.sub(r":\w+:|~", "", text))


def test_user_doc_matches_the_module_docstring():
    doc_words = _words(DOC.read_text(encoding="utf-8"))
    code_words = _words(anonymize.__doc__ or "")
    joined = " ".join(doc_words)
    assert " ".join(code_words) in joined
    assert len(code_words) > 300

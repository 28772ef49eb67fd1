"""The exported spec workbook opens in LibreOffice: headless conversion to PDF, the Variables sheet's first
page found by its text and rendered to a PNG (the screenshot this test leaves in its folder and names
in its output). Needs LibreOffice (`soffice`) and poppler (`pdftotext`, `pdftoppm`): Debian packages
libreoffice-calc-nogui and poppler-utils."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscgen.cli import main

from .conftest import REPO


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("soffice", "pdftotext", "pdftoppm")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt install libreoffice-calc-nogui poppler-utils)")
    return found  # type: ignore[return-value]


def _ppm_size_and_ink(path: Path) -> tuple[int, int, float]:
    """Width, height and the share of dark samples of a binary PPM (P6, 8-bit), read here."""
    data = path.read_bytes()
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P6" and fields[3] == b"255", fields[:4]
    width, height = int(fields[1]), int(fields[2])
    pixels = fields[4][: width * height * 3]
    sample = pixels[:: max(1, len(pixels) // 300_000)]
    return width, height, sum(1 for b in sample if b < 128) / len(sample)


def test_the_workbook_converts_to_pdf_and_the_variables_sheet_renders(tmp_path):
    tools = _tools()
    xlsx = tmp_path / "spec.xlsx"
    result = CliRunner().invoke(main, ["spec", "export", "--study", str(REPO), "--xlsx", str(xlsx)])
    assert result.exit_code == 0, result.output
    profile = tmp_path / "lo-profile"  # a profile of its own: parallel conversions do not share a lock
    subprocess.run(
        [tools["soffice"], f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(xlsx)],
        check=True, capture_output=True, timeout=300, env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    pdf = tmp_path / "spec.pdf"
    assert pdf.stat().st_size > 10_000
    pages = []
    page = 1
    while True:
        text = subprocess.run(
            [tools["pdftotext"], "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if text.returncode != 0 or page > 400:
            break
        pages.append(text.stdout)
        page += 1
    variables = next(
        i for i, t in enumerate(pages, 1) if t.split()[:4] == ["Order", "Dataset", "Variable", "Label"]
    )
    first = pages[variables - 1]
    assert "STUDYID" in first and "Study Identifier" in first
    assert "Datasets" not in first.split("\n")[0]
    for kind in ("-png", None):  # the screenshot to look at, and the same page as PPM to check here
        subprocess.run(
            [tools["pdftoppm"], "-f", str(variables), "-l", str(variables), "-r", "110",
             *([kind] if kind else []), str(pdf), str(tmp_path / "variables")],
            check=True, timeout=120,
        )  # fmt: skip
    png = next(tmp_path.glob("variables*.png"))
    width, height, ink = _ppm_size_and_ink(next(tmp_path.glob("variables*.ppm")))
    assert width > 600 and height > 400
    assert 0.002 < ink < 0.5, ink  # text drawn on a white page, not a blank or a black one
    print(f"screenshot of the Variables sheet: {png}")

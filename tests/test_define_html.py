"""define.html: rendered with the defineutils stylesheet, complete, and displayable by a real browser."""

from __future__ import annotations

import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from importlib import resources
from pathlib import Path

import lxml.html
import pytest

from cdiscgen import load_study
from define import stylesheet_path, write_define
from define._validate import schema_dir
from tests.conftest import REPO
from tests.test_define_support import DefineDoc, sdtm_frames

CREATED = datetime(2026, 1, 15, 9, 0, 0)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    study = load_study(REPO)
    out = tmp_path_factory.mktemp("define-html")
    return study, write_define(study, sdtm_frames(study), out, standard="SDTM", created=CREATED)


def test_define_html_shows_every_dataset_variable_and_codelist(written):
    _, result = written
    html = lxml.html.parse(str(result.define_html)).getroot()
    text = " ".join(html.text_content().split())
    doc = DefineDoc(result.define_xml)
    datasets = doc.xp("//odm:ItemGroupDef/@Name")
    assert len(datasets) == len(list((REPO / "specs" / "sdtm").glob("*.yaml")))
    for name in datasets:
        assert html.xpath("//*[@id=$i]", i=f"IG.{name}"), f"no section for dataset {name}"
    for item in doc.xp("//odm:ItemGroupDef/odm:ItemRef"):
        name = doc.by_oid("odm:ItemDef", item.get("ItemOID")).get("Name")
        assert name in text
    for codelist in doc.xp("//odm:CodeList"):
        assert " ".join(codelist.get("Name").split()) in text, codelist.get("Name")
        assert html.xpath("//*[@id=$i]", i="CL." + codelist.get("OID")), codelist.get("OID")
    for method in doc.xp("//odm:MethodDef/@Name"):
        assert method in text
    # value-level where clauses are rendered (LB MCPROT by specimen and method)
    assert '"IMMUNOFIXATION ELECTROPHORESIS"' in text and "Monoclonal Protein (URINE" in text
    assert "Define-XML Context: Submission" in text and "2026-01-15T09:00:00" in text


def test_define_html_rendered_by_an_executor_is_the_same_file(written, tmp_path):
    study, result = written
    with ThreadPoolExecutor(max_workers=1) as executor:
        deferred = write_define(
            study, sdtm_frames(study), tmp_path, standard="SDTM", created=CREATED, executor=executor
        )
        deferred.wait()
    assert deferred.define_xml.read_bytes() == result.define_xml.read_bytes()
    assert deferred.define_html.read_bytes() == result.define_html.read_bytes()


def test_a_failed_rendering_leaves_no_file_or_is_raised_by_wait(written, tmp_path, monkeypatch):
    import define._write

    def broken(xml):
        raise ValueError("the define2-1.xsl transformation failed: no ItemGroupDef")

    monkeypatch.setattr(define._write, "compute_define_html", broken)
    study, _ = written
    at_once = tmp_path / "at-once"
    with pytest.raises(ValueError, match="no ItemGroupDef"):
        write_define(study, sdtm_frames(study), at_once, standard="SDTM", created=CREATED)
    assert not at_once.exists() or list(at_once.iterdir()) == []
    with ThreadPoolExecutor(max_workers=1) as executor:
        deferred = write_define(
            study,
            sdtm_frames(study),
            tmp_path / "beside",
            standard="SDTM",
            created=CREATED,
            executor=executor,
        )
        with pytest.raises(ValueError, match="no ItemGroupDef"):
            deferred.wait()
    assert not deferred.define_html.exists()


def test_stylesheet_is_written_beside_define_xml(written):
    _, result = written
    assert result.stylesheet.parent == result.define_xml.parent == result.define_html.parent
    assert result.stylesheet.read_bytes() == stylesheet_path().read_bytes()
    assert b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>' in result.define_xml.read_bytes()[:200]


def test_the_stylesheet_and_schemas_are_defineutils_own_found_without_importing_it():
    # the package's own resource reader says where its files are; locating them must not run the package's
    # __init__ (it imports xmlschema: start-up time a run does not need)
    shipped = resources.files("defineutils")
    assert stylesheet_path().read_bytes() == (shipped / "definehtml" / "define2-1.xsl").read_bytes()
    assert schema_dir() == Path(str(shipped / "validate" / "schema"))
    probe = (
        "import sys; from define import stylesheet_path; from define._validate import define_schema; "
        "stylesheet_path(); define_schema(True); print('defineutils' in sys.modules, 'xmlschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_define_html_renders_in_headless_chromium(written, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no `chromium` on PATH (apt-get install chromium; CI installs it)")
    _, result = written
    png = tmp_path / "define.png"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1400,1000",
        result.define_html.resolve().as_uri(),
    ]
    completed = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert png.is_file(), completed.stderr.decode(errors="replace")[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A blank 1400x1000 page compresses to a few kB; the rendered tables do not.
    assert len(data) > 20_000

"""The study metadata model: the bundled specs load, and each kind of broken spec is reported with
file, line and key — every finding, not only the first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdiscgen import SpecError, check_study, load_study
from cdiscgen.cli import main


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle` (computed independently of the loader)."""
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def run_check(study: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check-specs", "--study", str(study)])
    return result.exit_code, result.output


def test_bundled_specs_pass():
    code, output = run_check(Path(__file__).resolve().parents[1])
    assert code == 0, output
    assert "specs OK" in output


def test_bundled_study_model():
    study = load_study()
    assert study.studyid == "DARPAL"
    # every SDTM domain of the issue is declared
    for name in [
        "DM",
        "EX",
        "LB",
        "RS",
        "QS",
        "DS",
        "CM",
        "TS",
        "TA",
        "TE",
        "TV",
        "TI",
        "SE",
        "SV",
        "SUPPDM",
        "SUPPRS",
    ]:
        assert name in study.datasets
    lb = study.dataset("LB")
    assert lb.keys[:3] == ("STUDYID", "USUBJID", "LBTESTCD")
    assert lb.variable("LBSTRESN").xpt_type == "num"
    assert lb.variable("LBTESTCD").codelist == "LBTESTCD"
    # supplemental qualifiers are not submitted in the parent dataset
    dm = study.dataset("DM")
    assert "INVISO" not in dm.variable_names
    supplemental = [v.name for v in dm.supplemental_variables]
    assert {"INVISO", "PRIORLN"} <= set(supplemental)
    assert not set(supplemental) & set(dm.variable_names)
    # schedule: screening + 16 dosing visits + EOT + 6 follow-ups = 24; C2D1 is day 29 (28-day cycles)
    visits = {v.code: v for v in study.visits}
    assert len(study.visits) == 24
    assert visits["C2D1"].day == 29 and visits["C2D1"].visitnum == 201
    assert visits["EOT"].day == 169
    assert str(study.cutoff) == study.settings["cutoff"]["date"]


def test_every_label_and_name_fits_xpt():
    study = load_study()
    for ds in study.datasets.values():
        assert len(ds.name) <= 8 and len(ds.label) <= 40
        for v in ds.variables:
            assert len(v.name) <= 8 and v.name == v.name.upper()
            assert len(v.label) <= 40, (ds.name, v.name)


@pytest.mark.parametrize(
    ("case", "file", "old", "new", "needle", "expected"),
    [
        (
            "unknown key",
            "specs/sdtm/ex.yaml",
            "{name: EXDOSE, label: Dose,",
            "{name: EXDOSE, colour: red, label: Dose,",
            "colour: red",
            "unknown key 'colour'",
        ),
        (
            "wrong type",
            "specs/sdtm/ex.yaml",
            "{name: EXADJ, label: Reason for Dose Adjustment, type: text,",
            "{name: EXADJ, label: Reason for Dose Adjustment, type: text, length: ten,",
            "length: ten",
            "'length' must be of type integer, got 'ten'",
        ),
        (
            "name longer than 8",
            "specs/sdtm/lb.yaml",
            "{name: LBREASND,",
            "{name: LBREASNDX,",
            "LBREASNDX",
            "'LBREASNDX' does not match",
        ),
        (
            "label longer than 40",
            "specs/sdtm/qs.yaml",
            "label: Question Name,",
            "label: " + "Q" * 41 + ",",
            "Q" * 41,
            "longer than 40 characters (41)",
        ),
        # issue 28, item 9: check-specs accepted a non-ASCII label that writing the XPT then refused
        (
            "label the agency's encoding cannot hold",
            "specs/sdtm/qs.yaml",
            "label: Question Name,",
            "label: Question Name – short,",
            "Question Name – short",
            "which ascii (agency fda) cannot encode",
        ),
        (
            "codelist that does not exist",
            "specs/sdtm/dm.yaml",
            "core: Req, codelist: SEX}",
            "core: Req, codelist: GENDER}",
            "codelist: GENDER",
            "codelist 'GENDER' does not exist",
        ),
        (
            "duplicate variable",
            "specs/sdtm/cm.yaml",
            "  - {name: CMINDC,",
            "  - {name: CMCAT, label: Category for Medication, type: text, origin: Assigned, core: Perm}\n  - {name: CMINDC,",
            "{name: CMCAT, label: Category for Medication, type: text, origin: Assigned, core: Perm}",
            "variable CMCAT is declared twice",
        ),
        (
            "UNII that is not one (10 upper-case letters and digits)",
            "specs/study.yaml",
            "unii: D2UX06XLB5",
            "unii: D2UX06XLB",
            "unii: D2UX06XLB",
            "'D2UX06XLB' does not match",
        ),
        (
            "a unit conversion factor that is not a number",
            "specs/units.yaml",
            "{testcd: TROPONT, standard: ng/L, from: {ng/L: 1}}",
            "{testcd: TROPONT, standard: ng/L, from: {ng/L: one}}",
            "{testcd: TROPONT,",
            "'one' does not match",
        ),
        (
            "YAML syntax error",
            "specs/sdtm/rs.yaml",
            "  - {name: RSSEQ, label: Sequence Number,",
            "  - {name: RSSEQ, label: [Sequence Number,",
            "{name: RSSEQ, label: [Sequence Number,",
            "YAML syntax error",
        ),
    ],
)
def test_broken_spec_names_file_line_and_key(study_copy, case, file, old, new, needle, expected):
    path = study_copy / file
    replace_in(path, old, new)
    code, output = run_check(study_copy)
    assert code == 2, (case, output)
    line = line_of(path, needle)
    matching = [row for row in output.splitlines() if expected in row]
    assert matching, f"{case}: {expected!r} not in\n{output}"
    if case == "YAML syntax error":
        # the parser reports where it noticed the problem: the broken flow sequence, at or after that line
        assert any(f"{file}:" in row for row in matching)
        reported = int(re.search(re.escape(file) + r":(\d+)", matching[0]).group(1))
        assert line <= reported <= line + 2
    else:
        assert any(f"{file}:{line} " in row for row in matching), (case, line, output)


def test_every_finding_is_reported_not_only_the_first(study_copy):
    ex = study_copy / "specs/sdtm/ex.yaml"
    replace_in(ex, "{name: EXDOSE, label: Dose,", "{name: EXDOSE, colour: red, label: Dose,")
    replace_in(ex, "codelist: FRM}", "codelist: NOPE}")
    replace_in(study_copy / "specs/sdtm/dm.yaml", "label: Demographics", "label: " + "D" * 41)
    _, findings = check_study(study_copy)
    messages = [f"{f.file}:{f.line} {f.message}" for f in findings]
    assert any("unknown key 'colour'" in m for m in messages)
    assert any("codelist 'NOPE'" in m for m in messages)
    assert any("specs/sdtm/dm.yaml:2 " in m and "longer than 40" in m for m in messages)
    with pytest.raises(SpecError) as info:
        load_study(study_copy)
    assert len(info.value.findings) >= 3


def test_key_variable_must_exist(study_copy):
    path = study_copy / "specs/sdtm/sv.yaml"
    replace_in(path, "keys: [STUDYID, USUBJID, VISITNUM]", "keys: [STUDYID, USUBJID, VISITNO]")
    _, findings = check_study(study_copy)
    hits = [f for f in findings if "VISITNO" in f.message]
    assert hits and hits[0].line == line_of(path, "keys:")


def test_seq_order_variable_must_exist(study_copy):
    path = study_copy / "specs/sdtm/ds.yaml"
    replace_in(path, "seq_order: [STUDYID, USUBJID, DSSTDTC]", "seq_order: [STUDYID, USUBJID, DSDTSTC]")
    _, findings = check_study(study_copy)
    hits = [f for f in findings if "DSDTSTC" in f.message]
    assert [(f.code, f.line) for f in hits] == [("SPEC025", line_of(path, "seq_order:"))]
    assert "seq_order variable DSDTSTC is not a variable of DS" in hits[0].message


def test_mapping_must_target_a_declared_dataset(study_copy):
    (study_copy / "mappings").mkdir(exist_ok=True)
    (study_copy / "mappings" / "zz.yaml").write_text("# a mapping spec\ndataset: ZZ\n")
    _, findings = check_study(study_copy)
    hits = [f for f in findings if f.file == "mappings/zz.yaml"]
    assert hits and hits[0].line == 2 and "ZZ" in hits[0].message


def test_study_settings_thresholds_are_validated(study_copy):
    path = study_copy / "specs/study.yaml"
    replace_in(path, 'vgpr_dflc: {op: "<", value: 40}', 'vgpr_dflc: {op: "=<", value: 40}')
    _, findings = check_study(study_copy)
    hits = [f for f in findings if "'=<'" in f.message]
    assert hits and hits[0].line == line_of(path, "vgpr_dflc:")


def test_single_dataset_spec_file_is_validated(study_copy):
    from cdiscgen import read_dataset_spec_file

    path = study_copy / "specs/adam/adsl.yaml"
    spec = read_dataset_spec_file(path)
    assert spec.name == "ADSL" and spec.is_adam and "TRTSDT" in spec.variable_names
    replace_in(path, "label: Subject-Level Analysis Dataset", "label: " + "L" * 41)
    with pytest.raises(SpecError) as info:
        read_dataset_spec_file(path)
    assert info.value.findings[0].line == line_of(path, "L" * 41)


def test_every_sdtm_date_has_its_study_day():
    # FDA validator FB1601 (--DY with --DTC), FB3201 (--STDY with --STDTC), FB3203 (--ENDY with --ENDTC);
    # CORE-000321/000776: DSDTC without DSDY and LBENDTC without LBENDY were issue 29 findings
    missing = []
    for spec in load_study().sdtm_datasets():
        prefix = spec.domain or spec.name
        names = set(spec.variable_names)
        for kind in ("", "ST", "EN"):
            if f"{prefix}{kind}DTC" in names and f"{prefix}{kind}DY" not in names:
                missing.append(f"{spec.name}.{prefix}{kind}DY")
    assert missing == []


def test_a_dataset_of_one_record_per_subject_is_not_repeating_unless_its_spec_says_so():
    # DarPAL's ADSL spec states its structure and no `repeating`: define.xml says Repeating="No" for it
    from cdiscgen import load_study

    study = load_study()
    assert study.dataset("ADSL").structure == "One record per subject"
    assert study.dataset("ADSL").repeating is False
    assert study.dataset("LB").repeating is True


@pytest.mark.parametrize("folder", ["", "examples/cdiscpilot01"])
def test_method_and_comment_texts_stand_on_their_own(folder):
    # define.xml's methods and comments are read by a reviewer who has the package, not this repository:
    # they state the rule and its values, never a spec file (units.yaml, params/adrs.yaml, study.yaml ...)
    from cdiscgen import load_study
    from tests.conftest import REPO

    study = load_study(REPO / folder if folder else None)
    texts = {m.id: m.description for m in study.methods.values()}
    for spec in study.datasets.values():
        texts |= {m.id: m.description for m in spec.methods}
        if spec.comment:
            texts[f"{spec.name} comment"] = spec.comment
    texts |= dict(study.comments)
    cited = {oid: re.findall(r"[\w./-]+\.ya?ml\b", text) for oid, text in texts.items()}
    assert {oid: files for oid, files in cited.items() if files} == {}
    assert len(texts) > 20


def test_a_codelist_lists_terms_or_names_an_external_dictionary(study_copy):
    path = study_copy / "specs/codelists.yaml"
    # both: the MedDRA codelist given a term too; neither: the CTCAE grade codelist's terms taken away
    replace_in(
        path,
        "  dictionary: {name: MEDDRA}\n",
        "  dictionary: {name: MEDDRA}\n  terms: [{value: X, sponsor: true}]\n",
    )
    text = path.read_text(encoding="utf-8")
    start = text.index("- id: TOXGR")
    end = text.index("- id: ", start + 5)
    block = text[start:end]
    path.write_text(text.replace(block, block[: block.index("  terms:")]), encoding="utf-8")
    _, findings = check_study(study_copy)
    messages = [f"{f.file}:{f.line} {f.message}" for f in findings]
    assert any("excludes 'terms'" in m for m in messages), messages
    own = [m for m in messages if "codelists.yaml:" in m]
    assert own and all(not m.split("codelists.yaml:")[1].startswith("None") for m in own), own
    # neither terms nor dictionary (nor a CT spreadsheet row): named once the file is otherwise valid
    replace_in(
        path,
        "  dictionary: {name: MEDDRA}\n  terms: [{value: X, sponsor: true}]\n",
        "  dictionary: {name: MEDDRA}\n",
    )
    _, findings = check_study(study_copy)
    toxgr = [f for f in findings if f.code == "SPEC050"]
    final = path.read_text(encoding="utf-8")
    assert [(f.file, f.line) for f in toxgr] == [
        ("specs/codelists.yaml", final[: final.index("- id: TOXGR")].count("\n") + 1)
    ]
    assert "codelist TOXGR has no terms" in toxgr[0].message


def test_a_trial_design_spec_that_does_not_load_is_reported_not_a_crash(study_copy):
    ts = study_copy / "specs/sdtm/ts.yaml"
    replace_in(ts, "keys: [STUDYID, TSPARMCD, TSSEQ]", "keys: {name: TSSEQ, type: text}")
    code, output = run_check(study_copy)
    assert code == 2, output
    assert f"SPEC004: specs/sdtm/ts.yaml:{line_of(ts, 'keys:')} keys: 'keys' must be of type list" in output
    assert "SPEC045: specs/sdtm: the trial design datasets need their specs: none usable for TS" in output

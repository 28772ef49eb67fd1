"""Tests of the raw-data simulator: layout, determinism, dirt, population mix, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from cdiscgen.simulate import FORM_COLUMNS, simulate_courses, simulate_study

DOC = Path(__file__).resolve().parents[1] / "docs" / "raw-data.md"


@pytest.fixture(scope="module", params=[None, 6], ids=["one-block", "blocks-of-6"])
def raw(request, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The default study, drawn whole and in blocks of 6 subjects: every property below holds for both."""
    out = tmp_path_factory.mktemp("sim") / "raw"
    res = simulate_study(out, block_subjects=request.param)
    return {name: pd.read_csv(path, dtype=str, keep_default_na=False) for name, path in res.files.items()}


def _doc_columns() -> dict[str, list[str]]:
    """Columns of each form as listed in the first column of its table in docs/raw-data.md."""
    forms: dict[str, list[str]] = {}
    current = None
    in_cols = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^### (\w+)\.csv", line)
        if m:
            current, in_cols = m.group(1), False
            forms[current] = []
            continue
        if current and line.startswith("| Column |"):
            in_cols = True
            continue
        if current and in_cols:
            if not line.startswith("|"):
                in_cols = False
                current = None
                continue
            cell = line.split("|")[1].strip()
            if set(cell) <= {"-"}:
                continue
            forms[current].extend(c.strip() for c in cell.split(","))
    return forms


def test_every_form_has_exactly_its_documented_columns(raw):
    doc = _doc_columns()
    assert set(doc) == set(FORM_COLUMNS) == set(raw)
    for name, df in raw.items():
        assert list(df.columns) == list(FORM_COLUMNS[name]), name
        assert set(doc[name]) == set(df.columns), name
        assert len(doc[name]) == len(set(doc[name])), name


def test_record_ids_unique_and_nothing_after_cutoff(raw):
    for name, df in raw.items():
        assert df["RECORD_ID"].is_unique, name
    years = raw["central_lab"]["COLL_DATE"].str.extract(r"(\d{4})")[0].astype(int)
    assert years.max() <= 2026 and years.min() >= 2024


def test_blocks_number_records_and_samples_on_across_the_study(raw):
    for name, df in raw.items():  # RECORD_ID 1..n in file order, rows in SUBJECT order
        numbers = df["RECORD_ID"].str.rsplit("-", n=1).str[1].astype(int)
        assert numbers.tolist() == list(range(1, len(df) + 1)), name
        assert df["SUBJECT"].tolist() == sorted(df["SUBJECT"]), name
    # an accession number names one sample: one subject, visit and specimen (a 24-hour urine starts the day
    # before the visit, so the collection date is not part of it)
    samples = pd.concat([raw["central_lab"], raw["immunofixation"]])
    samples = samples.loc[samples["ACCESSION"] != "", ["ACCESSION", "SUBJECT", "VISIT", "SPECIMEN"]]
    assert samples.drop_duplicates().groupby("ACCESSION").size().max() == 1


def test_a_study_within_one_block_is_drawn_whole_and_blocks_draw_their_own(tmp_path):
    whole = simulate_study(tmp_path / "whole", subjects=25, seed=7, block_subjects=10**6)
    one = simulate_study(tmp_path / "one", subjects=25, seed=7, block_subjects=25)
    blocks = simulate_study(tmp_path / "blocks", subjects=25, seed=7, block_subjects=10)
    assert all(one.files[n].read_bytes() == whole.files[n].read_bytes() for n in FORM_COLUMNS)
    assert (
        blocks.rows["enrollment"] == 25 and blocks.rows["baseline_disease"] == whole.rows["baseline_disease"]
    )
    assert blocks.files["central_lab"].read_bytes() != whole.files["central_lab"].read_bytes()


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    a = simulate_study(tmp_path / "a", subjects=25, seed=7, sites=3)
    b = simulate_study(tmp_path / "b", subjects=25, seed=7, sites=3)
    c = simulate_study(tmp_path / "c", subjects=25, seed=8, sites=3)
    for name in FORM_COLUMNS:
        assert a.files[name].read_bytes() == b.files[name].read_bytes(), name
    assert a.files["central_lab"].read_bytes() != c.files["central_lab"].read_bytes()
    assert a.files["enrollment"].read_bytes() != c.files["enrollment"].read_bytes()
    assert b"\r\n" not in a.files["central_lab"].read_bytes()


def test_courses_are_not_written_and_match_enrollment(raw, tmp_path):
    courses = simulate_courses(40, 20240101, 5)
    assert sorted(courses["SUBJECT"]) == sorted(raw["enrollment"]["SUBJECT"])
    sf = raw["enrollment"].set_index("SUBJECT")["SCREEN_FAILURE"].str.strip().eq("Yes")
    assert (courses.set_index("SUBJECT")["screen_failure"] == sf.reindex(courses["SUBJECT"]).to_numpy()).all()
    # screen failures have only enrolment rows
    sfs = set(sf[sf].index)
    assert sfs
    for name, df in raw.items():
        if name != "enrollment":
            assert not sfs & set(df["SUBJECT"]), name


def test_every_documented_dirt_kind_occurs_at_the_default_seed(raw):
    lab, enr = raw["central_lab"], raw["enrollment"]
    dates = enr["CONSENT_DATE"]
    assert dates.str.match(r"^\d{4}-\d{2}-\d{2}$").any()
    assert dates.str.match(r"^\d{2}/\d{2}/\d{4}$").any()
    assert dates.str.match(r"^\d{2}[A-Z]{3}\d{4}$").any()
    # one format per site
    fmt = dates.str.replace(r"\d", "9", regex=True).str.replace(r"[A-Z]{3}", "MON", regex=True)
    assert (fmt.groupby(enr["SITE"]).nunique() == 1).all()
    partial = r"^(UN-[A-Z]{3}|UNK-UNK)-\d{4}$"
    assert raw["baseline_disease"]["DIAGNOSIS_DATE"].str.match(partial).any()
    assert raw["death"]["DEATH_DATE"].str.match(partial).any()
    assert raw["subsequent_therapy"]["START_DATE"].str.match(partial).any()
    flc = lab[lab["LAB_TEST"].isin(["Free Kappa LC", "Free Lambda LC"])]
    assert set(flc["UNIT"]) == {"mg/L", "mg/dL"}
    assert flc.groupby("SITE")["UNIT"].nunique().max() == 1
    assert set(lab.loc[lab["LAB_TEST"] == "NT-proBNP", "UNIT"]) == {"ng/L", "pmol/L"}
    assert set(lab.loc[lab["LAB_TEST"] == "Protein, 24h urine", "UNIT"]) == {"g/24h", "mg/24h"}
    assert lab["RESULT"].str.startswith("<").any()
    assert (lab["RESULT"] == ">35000").any()
    assert ((lab["RESULT"] == "") & (lab["NOT_DONE_REASON"] != "")).any()
    assert (lab["VISIT"] == "UNS").any()
    dup = lab[lab.duplicated(["ACCESSION", "LAB_TEST"], keep=False)]
    assert len(dup) >= 2 and (dup.groupby(["ACCESSION", "LAB_TEST"])["RESULT"].nunique() == 1).all()
    coded = pd.concat([enr["SEX"], enr["RACE"], raw["baseline_disease"]["ISOTYPE"],
                       raw["baseline_disease"]["INVOLVED_LC"], raw["immunofixation"]["IFE_RESULT"],
                       raw["immunofixation"]["BAND_ISOTYPE"], raw["response_assessment"]["HEM_RESPONSE"]])  # fmt: skip
    assert (coded != coded.str.strip()).any()
    canon = {
        "Male",
        "Female",
        "Positive",
        "Negative",
        "Lambda",
        "Kappa",
        "CR",
        "VGPR",
        "PR",
        "NR",
        "PD",
        "NE",
    }
    lowered = coded.str.strip()
    assert (lowered.str.lower().isin({c.lower() for c in canon}) & ~lowered.isin(canon)).any()


def test_population_mix_within_stated_bands():
    c = simulate_courses(1000, 11, 5)
    assert 0.08 <= c["screen_failure"].mean() <= 0.12
    e = c[~c["screen_failure"]]
    assert 0.72 <= (e["involved_chain"] == "LAMBDA").mean() <= 0.78
    assert 0.13 <= (e["evaluability_class"] == "LOW-DFLC").mean() <= 0.17
    assert 0.02 <= (e["baseline_dflc"] < 20).mean() <= 0.08
    hi = e[e["evaluability_class"] == "DFLC>=50"]["baseline_dflc"]
    assert hi.between(50, 500).all()
    # default study: primary endpoint rate in the intended 35-60 % band
    d = simulate_courses(40, 20240101, 5)
    ev = d[~d["screen_failure"] & (d["evaluability_class"] != "NOT EVALUABLE")]
    assert 0.35 <= ev["resp_c6"].isin(["CR", "VGPR"]).mean() <= 0.60
    # early deaths are more frequent with a very high baseline NT-proBNP
    high = e["baseline_ntprobnp"] > 8000
    early = e["death_day"] <= 170
    assert early[high].mean() > 2 * early[~high].mean()


@pytest.mark.parametrize("kwargs", [{"subjects": 0}, {"subjects": -3}, {"subjects": 2.5}, {"subjects": "40"},
                                    {"subjects": True}, {"sites": 0}, {"seed": -1}, {"block_subjects": 0},
                                    {"block_subjects": 2.0}])  # fmt: skip
def test_bad_input_raises_before_writing(tmp_path, kwargs):
    out = tmp_path / "raw"
    with pytest.raises(ValueError):
        simulate_study(out, **kwargs)
    assert not out.exists()


def test_output_path_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "raw"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        simulate_study(f)
    assert f.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_each_prior_line_is_a_new_regimen(tmp_path):
    """A line of therapy is a regimen the subject has not just had: no subject's prior_therapy rows repeat
    the regimen of the line before (two lines alike in the same month were one record twice in CM)."""
    res = simulate_study(tmp_path / "raw", subjects=300, seed=3, block_subjects=120)
    lines = pd.read_csv(res.files["prior_therapy"], dtype=str, keep_default_na=False)
    assert (lines["LINE"].astype(int) > 1).sum() > 100
    follows = lines["SUBJECT"] == lines["SUBJECT"].shift()
    assert (lines["LINE"].astype(int)[follows] == lines["LINE"].astype(int).shift()[follows] + 1).all()
    assert not (follows & (lines["REGIMEN"] == lines["REGIMEN"].shift())).any()

"""Issue 13: an SDTM package of this very trial with an input missing gives ADaM for what can be derived.

The bundled study's SDTM is built once (simulator -> SDTM, 40 subjects, default seed) and derived in
full; then one input is taken away per test: (i) every MRD record of RS, (ii) the RS dataset, (iii) every
organ lab record of LB, and QS + CM. Each derivation must return ADSL with every subject and ADLB, ADRS,
ADTTE with what can still be derived, equal to the full run's records where the missing input does not
feed them, and one ADM006 finding (dataset ADRS/ADTTE, variable PARAMCD, value the parameter) for each
parameter that cannot be derived. Never a traceback.

What "cannot be derived" means is read from the study's own specs (specs/adam/params/*.yaml), not
repeated here: the RS test of the `mrd` kind, the LB sources of the organ parameters.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

import adam
import cdiscgen
import sdtm
from adam._adtte import derive_adtte
from cdiscgen._findings import Severity
from cdiscgen.simulate import simulate_study
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a whole simulated or pilot study through SDTM and ADaM

SUBJECTS = 40
HEMATOLOGIC = ("HEMRESP", "RSPC1", "RSPC3", "RSPC6", "ORRC1", "ORRC3", "ORRC6", "BOR", "CRVGPRC6", "PD")
CARDIAC = ("CARDRESP", "CARDRSP", "CARDPD")
RENAL = ("RENRESP", "RENRSP", "RENPD")
ADRS_SUBJECT_INPUTS = ("TRTSDT", "NACTDT", "DTHDT")
"""The ADSL variables ADRS reads besides the ADLB baselines (LSTALVDT, which RS and LB dates feed, is not one)."""
CKD_EPI_INPUT = "CREAT"  # DOMAIN.md: eGFR is derived from serum creatinine when GFRBSCRT is absent


def params(name: str) -> dict:
    return yaml.safe_load((REPO / "specs" / "adam" / "params" / f"{name}.yaml").read_text(encoding="utf-8"))


def adrs_testcd(kind: str) -> str:
    (testcd,) = {p["testcd"] for p in params("adrs")["parameters"] if p["kind"] == kind}
    return testcd


def organ_lab_tests() -> set[str]:
    """LBTESTCDs that params/adlb.yaml sources for the organ parameters, plus the eGFR input."""
    organ = {"NTPROBNP", "TROPT", "PROT24", "EGFR"}
    sources = {p["source"]["testcd"] for p in params("adlb")["parameters"] if p["paramcd"] in organ}
    assert len(sources) == len(organ)  # every organ parameter has an LB source
    return sources | {CKD_EPI_INPUT}


@pytest.fixture(scope="module")
def study():
    return cdiscgen.load_study()


@pytest.fixture(scope="module")
def package(tmp_path_factory, study) -> dict[str, pd.DataFrame]:
    raw = tmp_path_factory.mktemp("raw")
    simulate_study(raw, subjects=SUBJECTS)
    return dict(sdtm.run_sdtm(raw, study).datasets)


def derive(frames: dict[str, pd.DataFrame], study) -> adam.AdamResult:
    return adam.derive_adam(
        {k: v.copy() for k, v in frames.items()}, study.settings, cutoff=study.cutoff, study_dir=study.root
    )


@pytest.fixture(scope="module")
def full(package, study):
    result = derive(package, study)
    assert result.findings == []  # the complete package derives everything
    return result


def absent_findings(result) -> list[tuple[str, str, str]]:
    """(dataset, variable, value) of the ADM006 findings on ADRS/ADTTE parameters, in order.

    ADSL findings are left to the ADSL tests (an absent optional SDTM dataset may leave an ADSL variable
    underived); every other finding must be an ADM006 warning.
    """
    rest = [f for f in result.findings if f.dataset != "ADSL"]
    assert all((f.code, f.severity) == ("ADM006", Severity.WARNING) for f in rest), [str(f) for f in rest]
    return [(f.dataset, f.variable, f.value) for f in rest]


def message(result, paramcd: str) -> str:
    (msg,) = [f.message for f in result.findings if f.code == "ADM006" and f.value == paramcd]
    return msg


def records(result, dataset: str, paramcds, drop=()) -> pd.DataFrame:
    frame = result.datasets[dataset]
    rows = frame[frame["PARAMCD"].isin(list(paramcds))].drop(columns=list(drop))
    # stable: ties keep the datasets' own order, the same in both runs
    keys = [c for c in ("USUBJID", "PARAMCD", "ADT", "AVISITN") if c in rows]
    return rows.sort_values(keys, kind="stable").reset_index(drop=True)


def assert_adsl_complete(full, result, *, may_differ=("LSTALVDT",)) -> None:
    """Every subject; every variable the missing input does not feed equal to the full run."""
    a, b = full.datasets["ADSL"], result.datasets["ADSL"]
    assert list(b["USUBJID"]) == list(a["USUBJID"])
    keep = [c for c in a.columns if c not in may_differ]
    pd.testing.assert_frame_equal(b[keep], a[keep])
    # A missing source of dates can only leave the last-known-alive date earlier or equal.
    assert (b["LSTALVDT"] <= a["LSTALVDT"]).all()


def assert_traceable(result) -> None:
    """Every ADTTE record taken from ADRS points (SRCSEQ = ASEQ) at an ADRS record of its date."""
    adrs = result.datasets["ADRS"].set_index(["USUBJID", "ASEQ"])
    tte = result.datasets["ADTTE"]
    src = tte[tte["SRCDOM"] == "ADRS"]
    assert len(src)
    key = pd.MultiIndex.from_arrays([src["USUBJID"], src["SRCSEQ"]])
    assert adrs["ADT"].reindex(key).to_numpy().tolist() == src["ADT"].tolist()


def assert_aseq_complete(result, dataset: str) -> None:
    frame = result.datasets[dataset]
    expected = frame.groupby("USUBJID").cumcount() + 1
    assert frame["ASEQ"].tolist() == expected.astype(float).tolist()


# ----------------------------------------------------------------------------------- (i) no MRD records


@pytest.mark.parametrize("keep_supprs", [False, True], ids=["suppqual-removed", "suppqual-orphaned"])
def test_rs_without_mrd_records(package, full, study, keep_supprs):
    mrd = adrs_testcd("mrd")
    rs = package["RS"]
    is_mrd = rs["RSTESTCD"] == mrd
    assert is_mrd.any()  # the full package has MRD results ...
    assert (records(full, "ADRS", ["MRDNEG"])["AVALC"] == "Y").any()  # ... and MRD-negative subjects
    frames = dict(package, RS=rs[~is_mrd].reset_index(drop=True))
    if not keep_supprs:
        supp = package["SUPPRS"]
        mrd_keys = set(
            zip(rs.loc[is_mrd, "USUBJID"], rs.loc[is_mrd, "RSSEQ"].map("{:g}".format), strict=True)
        )
        orphan = [k in mrd_keys for k in zip(supp["USUBJID"], supp["IDVARVAL"], strict=True)]
        assert any(orphan)
        frames["SUPPRS"] = supp[[not o for o in orphan]].reset_index(drop=True)
    r = derive(frames, study)

    assert absent_findings(r) == [("ADRS", "PARAMCD", "MRDNEG")]
    assert f"RS has no record with RSTESTCD {mrd}" in message(r, "MRDNEG")
    assert_adsl_complete(full, r)
    pd.testing.assert_frame_equal(r.datasets["ADLB"], full.datasets["ADLB"])
    adrs = r.datasets["ADRS"]
    assert not (adrs["PARAMCD"] == "MRDNEG").any()
    # Every other parameter, hematologic response first, is the full run's, record for record.
    assert set(adrs["PARAMCD"]) == set(full.datasets["ADRS"]["PARAMCD"]) - {"MRDNEG"}
    for paramcd in HEMATOLOGIC:
        assert len(records(r, "ADRS", [paramcd])), paramcd
    others = sorted(set(adrs["PARAMCD"]))
    pd.testing.assert_frame_equal(
        records(r, "ADRS", others, drop=["ASEQ"]), records(full, "ADRS", others, drop=["ASEQ"])
    )
    tte = ["PFS", "DOR", "TTHR", "TTCARDR", "TTRENR"]
    pd.testing.assert_frame_equal(
        records(r, "ADTTE", tte, drop=["ASEQ", "SRCSEQ"]),
        records(full, "ADTTE", tte, drop=["ASEQ", "SRCSEQ"]),
    )
    assert_aseq_complete(r, "ADRS")
    assert_traceable(r)


# ------------------------------------------------------------------------- an input without records


@pytest.mark.parametrize("name", ["EX", "RS"])
def test_an_input_without_records_is_a_finding_as_an_absent_one_is(package, full, study, name):
    # issue 28, item 5: an EX with 0 rows gave 0 findings while the partial death date of a subject was
    # imputed against other bounds; EX and RS feed ADSL and ADRS but no declared dataset is made from
    # them alone, so their emptiness is a warning, as their absence is
    r = derive(dict(package, **{name: package[name].iloc[0:0]}), study)
    found = [(f.code, f.severity, f.dataset) for f in r.findings if f.code == "ADM008"]
    assert found == [("ADM008", Severity.WARNING, name)]
    assert all(f.code != "ADM008" for f in full.findings)


# ------------------------------------------------------------------------------------------- (ii) no RS


@pytest.mark.parametrize("drop", [("RS",), ("RS", "SUPPRS")], ids=["rs-only", "rs-and-supprs"])
def test_no_rs_dataset(package, full, study, drop):
    frames = {k: v for k, v in package.items() if k not in drop}
    r = derive(frames, study)

    rs_params = [p["paramcd"] for p in params("adrs")["parameters"] if p["kind"] in ("investigator", "mrd")]
    assert rs_params == ["INVRESP", "MRDNEG"]
    assert absent_findings(r) == [("ADRS", "PARAMCD", p) for p in rs_params]
    assert message(r, "INVRESP").startswith(
        f"no RS dataset (so no record with RSTESTCD {adrs_testcd('investigator')})"
    )
    assert message(r, "MRDNEG").startswith(f"no RS dataset (so no record with RSTESTCD {adrs_testcd('mrd')})")
    # the baseline stage is an RS record too: without RS it is not derived, and ADSL says so
    assert_adsl_complete(full, r, may_differ=("LSTALVDT", "BSTAGE", "BSTAGSYS"))
    adsl, adsl_full = r.datasets["ADSL"], full.datasets["ADSL"]
    assert (adsl["BSTAGE"] == "").all() and (adsl_full["BSTAGE"] != "").any()
    stage = [
        (f.code, f.variable)
        for f in r.findings
        if f.dataset == "ADSL" and f.variable in ("BSTAGE", "BSTAGSYS")
    ]
    assert stage == [("ADM006", "BSTAGE"), ("ADM006", "BSTAGSYS")]
    pd.testing.assert_frame_equal(adsl[list(ADRS_SUBJECT_INPUTS)], adsl_full[list(ADRS_SUBJECT_INPUTS)])
    pd.testing.assert_frame_equal(r.datasets["ADLB"], full.datasets["ADLB"])
    adrs = r.datasets["ADRS"]
    assert not adrs["PARAMCD"].isin(rs_params).any()
    derived = sorted(set(full.datasets["ADRS"]["PARAMCD"]) - set(rs_params))
    assert sorted(set(adrs["PARAMCD"])) == derived
    for paramcd in HEMATOLOGIC + CARDIAC + RENAL:
        assert len(records(r, "ADRS", [paramcd])), paramcd
    pd.testing.assert_frame_equal(
        records(r, "ADRS", derived, drop=["ASEQ"]), records(full, "ADRS", derived, drop=["ASEQ"])
    )
    # No ADTTE parameter reads RS: all derived; OS as well (censored at LSTALVDT, equal here when equal).
    assert set(r.datasets["ADTTE"]["PARAMCD"]) == set(full.datasets["ADTTE"]["PARAMCD"])
    tte = ["PFS", "DOR", "TTHR", "TTCARDR", "TTRENR"]
    pd.testing.assert_frame_equal(
        records(r, "ADTTE", tte, drop=["ASEQ", "SRCSEQ"]),
        records(full, "ADTTE", tte, drop=["ASEQ", "SRCSEQ"]),
    )
    same_alive = set(adsl.loc[adsl["LSTALVDT"] == adsl_full["LSTALVDT"], "USUBJID"])
    os_new, os_full = (records(x, "ADTTE", ["OS"], drop=["ASEQ"]) for x in (r, full))
    pd.testing.assert_frame_equal(
        os_new[os_new["USUBJID"].isin(same_alive)].reset_index(drop=True),
        os_full[os_full["USUBJID"].isin(same_alive)].reset_index(drop=True),
    )
    assert_aseq_complete(r, "ADRS")
    assert_traceable(r)


# ------------------------------------------------------------------------------------ (iii) no organ labs


def test_lb_without_organ_labs(package, full, study):
    tests = organ_lab_tests()
    assert tests == {"BNPPRONT", "TROPONT", "PROTEXR", "GFRBSCRT", "CREAT"}  # DOMAIN.md's SDTM conventions
    lb = package["LB"]
    organ = lb["LBTESTCD"].isin(tests)
    assert organ.any()
    r = derive(dict(package, LB=lb[~organ].reset_index(drop=True)), study)

    # One finding per ADRS organ parameter (the per-visit one, and those reading it) and per ADTTE one.
    assert absent_findings(r) == [
        ("ADRS", "PARAMCD", p) for p in ("CARDRESP", "RENRESP", "CARDRSP", "RENRSP", "CARDPD", "RENPD")
    ] + [("ADTTE", "PARAMCD", "TTCARDR"), ("ADTTE", "PARAMCD", "TTRENR")]
    assert message(r, "CARDRESP").startswith("ADLB has no NTPROBNP or TROPT record")
    assert message(r, "RENRESP").startswith("ADLB has no PROT24 or EGFR record")
    assert message(r, "CARDPD").endswith("(it reads CARDRESP, which is not derived)")
    assert message(r, "TTRENR").endswith("(it reads ADRS RENRESP, which is not derived)")

    # ADSL: every subject; organ baselines missing, so nobody is evaluable (DOMAIN.md); the rest unchanged.
    organ_vars = ("BNTPBNP", "BPROT", "BEGFR", "CARDEVFL", "RENEVFL")
    assert_adsl_complete(full, r, may_differ=("LSTALVDT", *organ_vars))
    adsl = r.datasets["ADSL"]
    assert adsl[["BNTPBNP", "BPROT", "BEGFR"]].isna().all().all()
    assert set(adsl["CARDEVFL"]) == set(adsl["RENEVFL"]) == {"N"}
    assert (full.datasets["ADSL"]["CARDEVFL"] == "Y").any()  # the full run had evaluable subjects
    pd.testing.assert_frame_equal(
        adsl[list(ADRS_SUBJECT_INPUTS)], full.datasets["ADSL"][list(ADRS_SUBJECT_INPUTS)]
    )

    # ADLB: no organ parameter (EGFR, derived from CREAT, neither); every other record unchanged.
    organ_params = ["NTPROBNP", "TROPT", "PROT24", "EGFR"]
    assert not r.datasets["ADLB"]["PARAMCD"].isin(organ_params).any()
    hem_lab = sorted(set(full.datasets["ADLB"]["PARAMCD"]) - set(organ_params))
    assert sorted(set(r.datasets["ADLB"]["PARAMCD"])) == hem_lab
    pd.testing.assert_frame_equal(
        records(r, "ADLB", hem_lab, drop=["ASEQ"]), records(full, "ADLB", hem_lab, drop=["ASEQ"])
    )

    # ADRS: no organ parameter; hematologic response and MRD as in the full run.
    adrs = r.datasets["ADRS"]
    assert not adrs["PARAMCD"].isin(CARDIAC + RENAL).any()
    kept = sorted(set(full.datasets["ADRS"]["PARAMCD"]) - set(CARDIAC + RENAL))
    assert sorted(set(adrs["PARAMCD"])) == kept
    pd.testing.assert_frame_equal(
        records(r, "ADRS", kept, drop=["ASEQ"]), records(full, "ADRS", kept, drop=["ASEQ"])
    )

    # ADTTE: the hematologic times unchanged, the organ ones absent.
    tte = r.datasets["ADTTE"]
    assert sorted(set(tte["PARAMCD"])) == ["DOR", "OS", "PFS", "TTHR"]
    hem_tte = ["PFS", "DOR", "TTHR"]
    pd.testing.assert_frame_equal(
        records(r, "ADTTE", hem_tte, drop=["ASEQ", "SRCSEQ"]),
        records(full, "ADTTE", hem_tte, drop=["ASEQ", "SRCSEQ"]),
    )
    assert_aseq_complete(r, "ADRS")
    assert_aseq_complete(r, "ADLB")
    assert_traceable(r)


def test_no_egfr_inputs_only_drops_egfr(package, full, study):
    # Neither GFRBSCRT nor its CKD-EPI input CREAT: no EGFR record (a derived parameter without inputs),
    # and renal response is still derived from the 24-h protein (eGFR missing blocks nothing).
    lb = package["LB"]
    r = derive(
        dict(package, LB=lb[~lb["LBTESTCD"].isin(["GFRBSCRT", CKD_EPI_INPUT])].reset_index(drop=True)), study
    )
    assert absent_findings(r) == []
    assert not (r.datasets["ADLB"]["PARAMCD"] == "EGFR").any()
    assert (full.datasets["ADLB"]["PARAMCD"] == "EGFR").any()
    assert r.datasets["ADSL"]["BEGFR"].isna().all()
    for paramcd in RENAL + ("TTRENR",):
        dataset = "ADTTE" if paramcd.startswith("TT") else "ADRS"
        assert len(records(r, dataset, [paramcd])), paramcd
    assert (r.datasets["ADSL"]["RENEVFL"] == full.datasets["ADSL"]["RENEVFL"]).all()


# ---------------------------------------------------------------------------------------- no QS, no CM


def test_no_cm_and_no_qs(package, full, study):
    # QS is the source of the declared ADQS: without it nothing is derived, and the error names it
    with pytest.raises(adam.AdamInputError) as err:
        derive({k: v for k, v in package.items() if k != "QS"}, study)
    assert err.value.dataset == "QS" and "ADQS" in str(err.value)
    r = derive({k: v for k, v in package.items() if k != "CM"}, study)
    assert absent_findings(r) == []  # no ADRS/ADTTE parameter reads CM directly
    adsl = r.datasets["ADSL"]
    assert list(adsl["USUBJID"]) == list(full.datasets["ADSL"]["USUBJID"])
    assert adsl["NACTDT"].isna().all()
    assert full.datasets["ADSL"]["NACTDT"].notna().any()  # the full run had new therapies
    for name in ("ADRS", "ADTTE"):
        assert set(r.datasets[name]["PARAMCD"]) == set(full.datasets[name]["PARAMCD"]), name
    # Without a new-therapy date no assessment is cut off: at least as many are scored.
    assert len(records(r, "ADRS", ["HEMRESP"])) >= len(records(full, "ADRS", ["HEMRESP"]))
    assert_traceable(r)


# ------------------------------------------------------------------------------- the engines by themselves


def test_adtte_without_adrs_derives_what_reads_adsl_only(full):
    # No ADRS at all: only OS (death / last known alive, both ADSL) can be derived; one finding for each
    # other parameter, naming it.
    spec = params("adtte")
    adsl = full.datasets["ADSL"]
    tte, findings = derive_adtte(adsl, pd.DataFrame(), spec)
    assert sorted(set(tte["PARAMCD"])) == ["OS"]
    not_os = [p["paramcd"] for p in spec["parameters"] if p["paramcd"] != "OS"]
    assert [(f.code, f.dataset, f.variable, f.value) for f in findings] == [
        ("ADM006", "ADTTE", "PARAMCD", p) for p in not_os
    ]
    assert findings[0].message.startswith("no ADRS dataset")
    os_full = full.datasets["ADTTE"].query("PARAMCD == 'OS'").reset_index(drop=True)
    cols = ["USUBJID", "ADT", "STARTDT", "AVAL", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR"]
    pd.testing.assert_frame_equal(tte[cols].reset_index(drop=True), os_full[cols])


def test_adtte_reads_what_adrs_could_not_derive(full):
    # The explicit `not_derived` argument (what derive_adrs leaves in adrs.attrs) drops the parameters
    # reading it, here those reading HEMRESP, and keeps the others equal to the full run.
    spec = params("adtte")
    absent = SimpleNamespace(reason="ADLB has no KAPPA or LAMBDA record")
    tte, findings = derive_adtte(
        full.datasets["ADSL"], full.datasets["ADRS"], spec, not_derived={"HEMRESP": absent}
    )
    assert [f.value for f in findings] == ["PFS", "DOR", "TTHR"]
    assert all(f.message.startswith("ADLB has no KAPPA or LAMBDA record: ") for f in findings)
    assert sorted(set(tte["PARAMCD"])) == ["OS", "TTCARDR", "TTRENR"]

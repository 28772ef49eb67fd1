"""ADLB: one record per subject, parameter and assessment for every value the response rules use.

The parameters (PARAMCD, PARAMN, PARAM, LB source, unit) are specs/adam/params/adlb.yaml. Its sources
follow DOMAIN.md's SDTM conventions; MCPROT is split by LBSPEC + LBMETHOD into serum IFE (SIFE), urine
IFE (UIFE) and the serum M-spike (MSPIKE). RATIO, IFLC, UFLC and DFLC are derived per assessment from
the analysed kappa and lambda; EGFR is taken from GFRBSCRT or, when a subject's assessment has none,
derived from CREAT with CKD-EPI 2021.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import is_among
from cdiscgen._distinct import compute_mapped, on_distinct, on_distinct_rows
from cdiscgen._findings import Finding, Severity

from ._codes import DUPLICATE_RESULT, PARAMETER_SOURCES_DIFFER
from ._common import number, text
from ._dates import compute_date_parts, compute_study_day
from ._errors import AdamInputError
from ._paramspec import ADLB_DERIVED, ADLB_RULE_PARAMS
from ._rules import compute_involved_chain, compute_ratio_abnormal
from ._steps import sort_in_place

log = logging.getLogger(__name__)

FLC_PARAMS = ("KAPPA", "LAMBDA", "RATIO", "IFLC", "UFLC", "DFLC")
"""Parameters whose baseline is the baseline FLC assessment (the others: the last value before dosing)."""
INPUT_TESTS = ("CREAT", "MPIGISO")
"""LB tests the derivations read besides the declared parameters (eGFR input, baseline isotype)."""
_LIMIT = r"^\s*([<>])=?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"


def _upper_values(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    return [str(v).strip().upper() for v in items]


def compute_lb_paramcd(lb: pd.DataFrame, parameters: Sequence[Mapping]) -> pd.Series:
    """ADLB PARAMCD of each LB record by the `source` of params/adlb.yaml ("" = not analysed).

    The first parameter whose source matches wins: LBTESTCD equal; LBSPEC and LBMETHOD one of the
    declared values when the record has one (a blank matches any, both being permissible in SDTM);
    LBSTRESC one of `results` when declared. Unclaimed records of INPUT_TESTS keep their test code.
    """
    read = [c for c in ("LBTESTCD", "LBSPEC", "LBMETHOD", "LBSTRESC") if c in lb.columns]
    (out,) = on_distinct_rows(lb, read, lambda distinct: (_lb_paramcd(distinct, parameters),))
    return out


def _lb_paramcd(lb: pd.DataFrame, parameters: Sequence[Mapping]) -> pd.Series:
    """compute_lb_paramcd of the records given (each distinct combination of its columns, once)."""
    testcd = text(lb, "LBTESTCD").str.upper()
    spec = text(lb, "LBSPEC").str.upper()
    method = text(lb, "LBMETHOD").str.upper()
    result = text(lb, "LBSTRESC").str.upper()
    out = pd.Series("", index=lb.index, dtype="str")
    for param in parameters:
        source = param.get("source")
        if not source:
            continue
        hit = (out == "") & (testcd == str(source["testcd"]).upper())
        for column, key in ((spec, "spec"), (method, "method")):
            allowed = _upper_values(source.get(key))
            if allowed:
                hit &= (column == "") | column.isin(allowed)
        if source.get("results"):
            hit &= result.isin(_upper_values(source["results"]))
        out = out.mask(hit, str(param["paramcd"]))
    for code in INPUT_TESTS:
        out = out.mask((out == "") & (testcd == code), code)
    return out


def compute_ckd_epi_2021(creat_umol: pd.Series, age: pd.Series, sex: pd.Series) -> pd.Series:
    """eGFR (mL/min/1.73 m2) by CKD-EPI 2021 from serum creatinine in umol/L (/ 88.4 -> mg/dL)."""
    scr = creat_umol / 88.4
    female = sex.eq("F").to_numpy(bool)
    k = np.where(female, 0.7, 0.9)
    a = np.where(female, -0.241, -0.302)
    ratio = scr.to_numpy("float64") / k
    egfr = (
        142.0
        * np.minimum(ratio, 1.0) ** a
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938 ** age.to_numpy("float64")
        * np.where(female, 1.012, 1.0)
    )
    egfr = np.where(sex.isin(["F", "M"]).to_numpy(bool), egfr, np.nan)
    return pd.Series(egfr, index=creat_umol.index, dtype="float64")


def _limit_values(texts: pd.Series) -> tuple[np.ndarray]:
    """The number of a result given as a detection limit ("<5", ">= 2.5e3"), NaN for any other text."""
    return (pd.to_numeric(texts.str.extract(_LIMIT)[1], errors="coerce").to_numpy(dtype="float64"),)


def _key_text(prefix: str, numbers: pd.Series) -> pd.Series:
    """`prefix` and each number's text ("V3.0"; the prefix alone where missing), made per distinct number
    (-0.0 is 0.0: one visit, one day, one key)."""
    (texts,) = on_distinct(numbers + 0.0, lambda u: (prefix + u.astype("string").fillna(""),), as_text=False)
    return texts


def _records(lb: pd.DataFrame, adsl: pd.DataFrame, parameters: Sequence[Mapping]) -> pd.DataFrame:
    """LB records of ADSL subjects with PARAMCD, analysed values, dates and the assessment key."""
    rec = pd.DataFrame(index=lb.index)
    rec["USUBJID"] = text(lb, "USUBJID")
    rec["PARAMCD"] = compute_lb_paramcd(lb, parameters)
    rec["_TESTCD"] = text(lb, "LBTESTCD").str.upper()
    rec["LBSEQ"] = number(lb, "LBSEQ")
    stresn = number(lb, "LBSTRESN")
    stresc = text(lb, "LBSTRESC")
    (limits,) = on_distinct(stresc, _limit_values)  # results repeat: each distinct text read once
    lim_val = pd.Series(limits, index=lb.index)
    is_limit = stresn.isna() & lim_val.notna()
    rec["AVAL"] = stresn.where(~is_limit, lim_val)
    rec["ALIMFL"] = pd.Series("", index=lb.index, dtype="str").mask(is_limit, "Y")
    text_params = [p["paramcd"] for p in parameters if p.get("result") == "text"]
    is_text = rec["PARAMCD"].isin(text_params) | rec["_TESTCD"].eq("MPIGISO")
    rec["AVALC"] = stresc.str.upper().where(is_text, "")
    rec["LBSPEC"] = text(lb, "LBSPEC").str.upper()
    rec["LBMETHOD"] = text(lb, "LBMETHOD").str.upper()
    # Inputs that are not one analysis parameter (isotype, creatinine) are analysed per specimen + method.
    declared = rec["PARAMCD"].isin([str(p["paramcd"]) for p in parameters])
    rec["_ANLKEY"] = (rec["LBSPEC"] + "/" + rec["LBMETHOD"]).where(~declared, "")
    not_done = text(lb, "LBSTAT").str.upper().eq("NOT DONE")
    dtc_days = compute_date_parts(lb, "LBDTC", dataset="LB")[0]
    end_days = compute_date_parts(lb, "LBENDTC", dataset="LB")[0]
    rec["ADT"] = dtc_days
    timed = rec["PARAMCD"].isin([p["paramcd"] for p in parameters if p.get("date") == "end"])
    rec.loc[timed, "ADT"] = end_days[timed].fillna(dtc_days[timed])
    rec["_LBDTC"] = text(lb, "LBDTC")
    rec["AVISITN"] = number(lb, "VISITNUM")
    rec["AVISIT"] = text(lb, "VISIT")
    rec["_AKEY"] = _key_text("V", rec["AVISITN"]).where(rec["AVISITN"].notna(), _key_text("D", rec["ADT"]))
    usable = (
        (rec["PARAMCD"] != "") & ~not_done & rec["ADT"].notna() & (rec["AVAL"].notna() | (rec["AVALC"] != ""))
    )
    rec = rec[usable & is_among(rec["USUBJID"], adsl["USUBJID"])]
    rec = rec.merge(adsl[["USUBJID", "TRTSDT"]], on="USUBJID", how="left")
    return rec


def _flag_last(rec: pd.DataFrame, dataset: str, findings: list[Finding]) -> pd.Series:
    """ANL01FL: the last usable record by (LBDTC, LBSEQ) per subject, parameter and assessment.

    A *test* is LBTESTCD + LBSPEC + LBMETHOD (DOMAIN.md): serum and urine immunofixation or isotype at
    one visit are different results. More than one usable result of one test in one assessment raises
    ADM001 (on the analysed record). Records of an LB input that is not an analysis parameter (MPIGISO,
    CREAT) are analysed per specimen and method; when two different tests feed one analysis parameter in
    one assessment (e.g. serum and plasma NT-proBNP, or a blank LBSPEC beside SERUM), the last is
    analysed and ADM005 is raised.
    """
    anl_key = ["USUBJID", "PARAMCD", "_AKEY", "_ANLKEY"]
    test_key = ["USUBJID", "_AKEY", "_TESTCD", "LBSPEC", "LBMETHOD"]
    order = rec.sort_values([*anl_key, "_LBDTC", "LBSEQ"])
    last = ~order.duplicated(anl_key, keep="last")
    last_of_test = ~order.duplicated(test_key, keep="last")
    n_test = order.groupby(test_key, sort=False)["LBSEQ"].transform("size")
    test_id = order["_TESTCD"] + "/" + order["LBSPEC"] + "/" + order["LBMETHOD"]
    n_sources = test_id.groupby([order[k] for k in anl_key], sort=False).transform("nunique")

    def where(row: Mapping) -> str:
        return str(row["AVISIT"] or row["_AKEY"])

    for idx, row in order[last_of_test & (n_test > 1)].iterrows():
        test = " ".join(p for p in (row["_TESTCD"], row["LBSPEC"], row["LBMETHOD"]) if p)
        findings.append(
            Finding(
                code=DUPLICATE_RESULT,
                severity=Severity.WARNING,
                message=f"{int(n_test[idx])} usable {test} results in one assessment ({where(row)}); "
                "the last by LBDTC, LBSEQ is analysed (ANL01FL)",
                dataset=dataset,
                variable="LBSEQ",
                usubjid=row["USUBJID"],
                seq=row["LBSEQ"],
            )
        )
    for _idx, row in order[last & (n_sources > 1)].iterrows():
        same = (order[anl_key] == row[anl_key].to_numpy()).all(axis=1)
        tests = sorted(set(test_id[same]))
        findings.append(
            Finding(
                code=PARAMETER_SOURCES_DIFFER,
                severity=Severity.WARNING,
                message=f"{row['PARAMCD']} has results of {len(tests)} tests (LBTESTCD/LBSPEC/LBMETHOD "
                f"{', '.join(tests)}) in one assessment ({where(row)}); the last by LBDTC, LBSEQ is "
                "analysed (ANL01FL)",
                dataset=dataset,
                variable="LBSPEC",
                usubjid=row["USUBJID"],
                seq=row["LBSEQ"],
            )
        )
    return last.reindex(rec.index)


def _age_at(adsl: pd.DataFrame, usubjid: pd.Series, adt: pd.Series) -> pd.Series:
    """Age in whole years at a date: from BRTHDT when known, else AGE at consent plus whole years since SCRNDT."""
    sub = adsl.set_index("USUBJID")
    brth = usubjid.map(sub["_BRTHDT"]).astype("float64")
    age0 = usubjid.map(sub["AGE"]).astype("float64")
    scr = usubjid.map(sub["SCRNDT"]).astype("float64")
    from_birth = np.floor((adt - brth) / 365.25)
    from_age = age0 + np.floor(((adt - scr) / 365.25).clip(lower=0).fillna(0))
    return from_birth.where(brth.notna(), from_age)


def derive_adlb(
    sdtm: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame,
    settings: Mapping,
    param_spec: Mapping,
    *,
    let_go: Callable[[], None] | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """ADLB records (from `sdtm`'s LB) plus the subject-level baseline facts (returned as frame attrs for
    ADSL); `let_go` is called once LB's records are read (LB is looked up here, so that nothing else holds
    it then).

    ``adsl`` needs USUBJID, STUDYID, TRTSDT, SCRNDT, AGE, SEX, SAFFL and _BRTHDT (working column);
    ``param_spec`` is the validated specs/adam/params/adlb.yaml. Returns the ADLB frame (working
    columns included; the caller conforms it to the spec) and findings.
    """
    findings: list[Finding] = []
    hem = settings["response"]["hematologic"]
    parameters = list(param_spec["parameters"])
    declared = {p["paramcd"]: p for p in parameters}
    rules = {p["derived"] for p in parameters if p.get("derived")}
    rec = _records(sdtm["LB"], adsl, parameters)
    if let_go is not None:
        let_go()
    rec["ANL01FL"] = np.where(_flag_last(rec, "LB", findings).fillna(False).to_numpy(bool), "Y", "")
    rec["SRCDOM"], rec["SRCVAR"], rec["SRCSEQ"] = "LB", "LBSTRESN", rec["LBSEQ"]
    rec.loc[rec["AVALC"] != "", "SRCVAR"] = "LBSTRESC"
    rec.loc[rec["ALIMFL"] == "Y", "SRCVAR"] = "LBSTRESC"
    anl = rec[rec["ANL01FL"] == "Y"]

    # EGFR from CREAT where the assessment has no GFRBSCRT result.
    # CKD-EPI takes serum creatinine (urine creatinine never feeds it); of serum, plasma or unstated
    # specimens at one assessment the last by (LBDTC, LBSEQ) is used.
    creat = anl[(anl["_TESTCD"] == "CREAT") & anl["LBSPEC"].isin(["SERUM", "PLASMA", ""])]
    creat = creat.sort_values(["USUBJID", "_AKEY", "_LBDTC", "LBSEQ"]).drop_duplicates(
        ["USUBJID", "_AKEY"], keep="last"
    )
    have_gfr = anl.loc[anl["PARAMCD"] == "EGFR", ["USUBJID", "_AKEY"]].assign(_g=True)
    creat = creat.merge(have_gfr, on=["USUBJID", "_AKEY"], how="left")
    creat = creat[creat["_g"].isna()].drop(columns="_g")
    if len(creat) and "ckd_epi_2021" in rules:
        sex = creat["USUBJID"].map(adsl.set_index("USUBJID")["SEX"]).astype("str")
        egfr = creat.assign(
            PARAMCD="EGFR",
            _TESTCD="",
            AVAL=compute_ckd_epi_2021(
                creat["AVAL"], _age_at(adsl, creat["USUBJID"], creat["ADT"]), sex
            ).to_numpy(),
        )
        egfr = egfr[egfr["AVAL"].notna()]
        rec = pd.concat([rec, egfr], ignore_index=True)

    # Assessment-level FLC table -> baseline, involved chain, derived FLC parameters.
    anl = rec[rec["ANL01FL"] == "Y"]
    flc = anl[anl["PARAMCD"].isin(["KAPPA", "LAMBDA"])]
    wide = flc.pivot_table(index=["USUBJID", "_AKEY"], columns="PARAMCD", values="AVAL", aggfunc="last")
    wide = wide.reindex(columns=["KAPPA", "LAMBDA"])
    first = flc.sort_values(["USUBJID", "_AKEY", "PARAMCD"]).drop_duplicates(["USUBJID", "_AKEY"])
    meta = first.set_index(["USUBJID", "_AKEY"])[["ADT", "AVISIT", "AVISITN", "TRTSDT"]]
    kdt = flc[flc["PARAMCD"] == "KAPPA"].set_index(["USUBJID", "_AKEY"])["ADT"]
    wide = wide.join(meta)
    wide["ADT"] = kdt.reindex(wide.index).fillna(wide["ADT"])
    limited = (flc["ALIMFL"] == "Y").groupby([flc["USUBJID"], flc["_AKEY"]]).any()
    lim = limited.map({True: "Y", False: ""})
    wide["ALIMFL"] = lim.reindex(wide.index).fillna("")
    wide = wide.reset_index()
    wide["RATIO"] = wide["KAPPA"] / wide["LAMBDA"]
    both = wide["KAPPA"].notna() & wide["LAMBDA"].notna()
    bl = wide[both & (wide["ADT"] <= wide["TRTSDT"])].sort_values(["USUBJID", "ADT", "_AKEY"])
    bl = bl.drop_duplicates("USUBJID", keep="last").set_index("USUBJID")

    # Baseline isotype: the latest MPIGISO on or before first dose, serum preferred over urine.
    iso = anl[(anl["_TESTCD"] == "MPIGISO") & (anl["ADT"] <= anl["TRTSDT"])].copy()
    iso["_pref"] = np.where(iso["LBSPEC"] == "SERUM", 0, 1)
    iso = iso.sort_values(["USUBJID", "_pref", "ADT"], ascending=[True, True, False]).drop_duplicates(
        "USUBJID"
    )
    subjects = pd.DataFrame(index=pd.Index(adsl["USUBJID"], name="USUBJID"))
    subjects["_BLKEY"] = bl["_AKEY"].reindex(subjects.index).fillna("")
    subjects["BRATIO"] = bl["RATIO"].reindex(subjects.index)
    isotype = iso.set_index("USUBJID")["AVALC"].reindex(subjects.index).fillna("").astype("str")
    subjects["INVLC"] = compute_involved_chain(isotype, subjects["BRATIO"], hem)
    subjects.loc[subjects["_BLKEY"] == "", "INVLC"] = ""

    wide["INVLC"] = wide["USUBJID"].map(subjects["INVLC"]).fillna("").astype("str")
    kappa_inv = wide["INVLC"] == "KAPPA"
    lam_inv = wide["INVLC"] == "LAMBDA"
    wide["IFLC"] = np.where(kappa_inv, wide["KAPPA"], np.where(lam_inv, wide["LAMBDA"], np.nan))
    wide["UFLC"] = np.where(kappa_inv, wide["LAMBDA"], np.where(lam_inv, wide["KAPPA"], np.nan))
    wide["DFLC"] = wide["IFLC"] - wide["UFLC"]

    seq = flc.set_index(["USUBJID", "_AKEY", "PARAMCD"])["LBSEQ"]
    derived = []
    for paramcd in [cd for rule, cd in ADLB_DERIVED.items() if rule in rules and cd in FLC_PARAMS]:
        part = wide.loc[
            wide[paramcd].notna(),
            ["USUBJID", "_AKEY", "ADT", "AVISIT", "AVISITN", "TRTSDT", "ALIMFL", paramcd, "INVLC"],
        ]
        part = part.rename(columns={paramcd: "AVAL"}).assign(
            PARAMCD=paramcd, AVALC="", ANL01FL="Y", SRCDOM="", SRCVAR=""
        )
        part["SRCSEQ"] = np.nan
        if paramcd in ("IFLC", "UFLC"):
            chain = (
                part["INVLC"]
                if paramcd == "IFLC"
                else part["INVLC"].map({"KAPPA": "LAMBDA", "LAMBDA": "KAPPA"})
            )
            idx = pd.MultiIndex.from_arrays([part["USUBJID"], part["_AKEY"], chain])
            part["SRCSEQ"] = seq.reindex(idx).to_numpy()
            part["SRCDOM"], part["SRCVAR"] = "LB", "LBSTRESN"
        derived.append(part.drop(columns="INVLC"))
    rec = pd.concat([rec, *derived], ignore_index=True)
    rec = rec[rec["PARAMCD"].isin(list(declared))]

    # Baseline flags: FLC parameters at the baseline assessment; others the last value on/before first dose.
    rec["ABLFL"] = ""
    is_flc = rec["PARAMCD"].isin(FLC_PARAMS)
    blkey = compute_mapped(rec["USUBJID"], subjects["_BLKEY"]).fillna("")
    rec.loc[is_flc & (rec["ANL01FL"] == "Y") & (rec["_AKEY"] == blkey) & (blkey != ""), "ABLFL"] = "Y"
    other = rec[~is_flc & (rec["ANL01FL"] == "Y") & (rec["ADT"] <= rec["TRTSDT"])]
    other = other.sort_values(["USUBJID", "PARAMCD", "ADT", "_LBDTC", "LBSEQ"])
    rec.loc[other.drop_duplicates(["USUBJID", "PARAMCD"], keep="last").index, "ABLFL"] = "Y"
    base = rec[rec["ABLFL"] == "Y"].set_index(["USUBJID", "PARAMCD"])
    key = pd.MultiIndex.from_arrays([rec["USUBJID"], rec["PARAMCD"]])
    rec["BASE"] = base["AVAL"].reindex(key).to_numpy()
    rec["BASEC"] = base["AVALC"].reindex(key).fillna("").to_numpy()
    post = rec["ADT"] > rec["TRTSDT"]
    rec["CHG"] = (rec["AVAL"] - rec["BASE"]).where(post)
    rec["PCHG"] = (rec["CHG"] / rec["BASE"] * 100).where(post & (rec["BASE"] != 0))
    rec["ADY"] = compute_study_day(rec["ADT"], rec["TRTSDT"])
    param, paramn = ({k: v[key] for k, v in declared.items()} for key in ("param", "paramn"))
    rec["PARAMN"] = compute_mapped(rec["PARAMCD"], paramn).astype("float64")
    rec["PARAM"] = compute_mapped(rec["PARAMCD"], param).astype("str")
    rec = sort_in_place(rec, ["USUBJID", "PARAMN", "ADT", "AVISITN", "SRCSEQ"], [True] * 5, key=None)
    rec["ASEQ"] = (rec.groupby("USUBJID").cumcount() + 1).astype("float64")
    for col in ("AVALC", "ALIMFL", "ANL01FL", "SRCDOM", "SRCVAR", "AVISIT", "ABLFL"):
        rec[col] = rec[col].astype("string").fillna("").astype("str")

    # Subject-level baseline facts for ADSL.
    bvals = rec[rec["ABLFL"] == "Y"].pivot_table(
        index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="last"
    )
    bvals = bvals.reindex(index=subjects.index, columns=list(dict.fromkeys([*declared, *ADLB_RULE_PARAMS])))
    subjects["BDFLC"] = bvals["DFLC"]
    subjects["BNTPBNP"] = bvals["NTPROBNP"]
    subjects["BPROT"] = bvals["PROT24"]
    subjects["BEGFR"] = bvals["EGFR"]
    bife = rec[(rec["ABLFL"] == "Y") & rec["PARAMCD"].isin(["SIFE", "UIFE"]) & (rec["AVALC"] == "POSITIVE")]
    clone = is_among(subjects.index, bife["USUBJID"]) | compute_ratio_abnormal(subjects["BRATIO"], hem)
    subjects["CLONE"] = np.where(clone, "Y", "")
    rec.attrs["subjects"] = subjects
    log.info("ADLB: %d records for %d subjects", len(rec), rec["USUBJID"].nunique())
    return rec, findings


def check_lb_input(lb: pd.DataFrame, dm_ids: pd.Series) -> None:
    """Raise AdamInputError when LB cannot feed ADLB: no FLC tests, or a subject not in DM."""
    for col in ("USUBJID", "LBTESTCD", "LBDTC"):
        if col not in lb.columns:
            raise AdamInputError("required variable is missing", dataset="LB", variable=col)
    testcd = text(lb, "LBTESTCD").str.upper()
    if not (testcd.eq("KLCFR").any() and testcd.eq("LLCFR").any()):
        raise AdamInputError(
            "no free light chain results (LBTESTCD KLCFR and LLCFR)", dataset="LB", variable="LBTESTCD"
        )
    ids = text(lb, "USUBJID")
    unknown = ids[~is_among(ids, dm_ids)]
    if len(unknown):
        raise AdamInputError(
            "subject is in LB but not in DM", dataset="LB", variable="USUBJID", usubjid=unknown.iloc[0]
        )

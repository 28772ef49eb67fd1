"""The stand-alone stages behind `cdiscgen sdtm`, `adam` and `validate`: each reads its input folder,
writes its outputs atomically and returns the findings (the CLI decides the exit code)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from cdiscgen._atomic import output_lock, refuse_replacing, require_writable_report, swap_in_tree
from cdiscgen._clock import creation_datetime
from cdiscgen._findings import Findings
from cdiscgen._publish import write_datasets, write_trace
from cdiscgen._specs import Study, load_study

log = logging.getLogger(__name__)


def run_sdtm_stage(
    raw_dir: Path,
    out_dir: Path,
    study_dir: Path | None,
    report_dir: Path | None = None,
    formats: Sequence[str] = ("json", "xlsx", "html"),
) -> Findings:
    """Raw CSVs -> SDTM XPT files + define.xml/define.html + traceability files in out_dir, and the
    mapping findings as report.json/xlsx/html in report_dir (when given)."""
    from sdtm import check_mapping_specs

    refuse_replacing(out_dir, {"--raw": raw_dir}, marker="define.xml")
    require_writable_report(report_dir, out_dir)
    study = load_study(study_dir)
    _raise_on_spec_errors(check_mapping_specs(study))
    created = creation_datetime(study.settings)
    with _staging(out_dir) as work:
        findings = _write_sdtm_folder(Path(raw_dir), study, work, created)
    _write_stage_reports(findings, report_dir, formats, created)
    return findings


def _write_sdtm_folder(raw_dir: Path, study: Study, work: Path, created: datetime) -> Findings:
    """What `cdiscgen sdtm` puts in its output folder (datasets, define; trace files in its trace/ folder, as
    `run` keeps them out of m5); its findings."""
    from define import write_define
    from sdtm import run_sdtm

    result = run_sdtm(raw_dir, study)
    written = write_datasets(result.datasets, study, work, created=created)
    write_define(study, result.datasets, work, standard="SDTM", created=created, lengths=written.lengths)
    write_trace(result.trace, work / "trace")
    return Findings(list(result.findings))


def _write_stage_reports(
    findings: Findings, report_dir: Path | None, formats: Sequence[str], created: datetime
) -> None:
    """The stage's findings as report.json/xlsx/html in report_dir (after its output is in place)."""
    if report_dir is not None and formats:
        from cdiscgen.report import write_reports

        write_reports(
            findings, report_dir, formats=formats, created=created.isoformat(), names=finding_names()
        )


def run_adam_stage(
    sdtm_dir: Path,
    out_dir: Path,
    study_dir: Path | None,
    cutoff: date | None,
    report_dir: Path | None = None,
    formats: Sequence[str] = ("json", "xlsx", "html"),
) -> Findings:
    """Any conformant SDTM folder -> ADaM XPT files, define.xml/define.html, summary.json/html in out_dir,
    and the derivation findings as report.json/xlsx/html in report_dir (when given)."""
    refuse_replacing(out_dir, {"--sdtm": sdtm_dir}, marker="define.xml")
    require_writable_report(report_dir, out_dir)
    study = load_study(study_dir)
    created = creation_datetime(study.settings)
    with _staging(out_dir) as work:
        findings = _write_adam_folder(Path(sdtm_dir), study, cutoff or study.cutoff, work, created)
    _write_stage_reports(findings, report_dir, formats, created)
    return findings


def _write_adam_folder(
    sdtm_dir: Path, study: Study, cutoff: date | None, work: Path, created: datetime
) -> Findings:
    """What `cdiscgen adam` puts in its output folder (datasets, define, endpoint summary); its findings."""
    from adam import compute_endpoint_summary, derive_adam, read_sdtm_folder, summary_applies, write_summary
    from define import write_define

    result = derive_adam(read_sdtm_folder(sdtm_dir), study.settings, cutoff=cutoff, study_dir=study.root)
    written = write_datasets(result.datasets, study, work, created=created)
    write_define(study, result.datasets, work, standard="ADaM", created=created, lengths=written.lengths)
    if summary_applies(result.datasets, study.settings):
        summary = compute_endpoint_summary(
            result.datasets["ADSL"],
            result.datasets["ADRS"],
            result.datasets["ADTTE"],
            study.settings,
            result.datasets.get("ADAE"),
            result.datasets.get("ADQS"),
        )
        write_summary(summary, work)
    return Findings(list(result.findings))


def run_validate_stage(
    folder: Path,
    report_dir: Path,
    study_dir: Path | None,
    define_path: Path | None,
    formats: Sequence[str],
    partition_subjects: int | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> Findings:
    """Validate every XPT in folder (with the study's metadata) and write the requested reports; with
    `partition_subjects`, in subject partitions cut from the files (the same findings), on a Dask
    cluster of `workers` processes or at `scheduler` if given."""
    from cdiscgen._console import render_findings
    from cdiscgen.report import write_reports
    from cdiscgen.validate import find_dataset_folders, validate_folder, validate_within

    folders = find_dataset_folders(folder)
    if not folders:
        raise FileNotFoundError(f"{folder} holds no *.xpt files (searched its sub-folders too)")
    study = _study_for(folders, study_dir)
    if define_path is not None and len(folders) > 1:
        raise ValueError(
            f"--define goes with one folder of datasets; {folder} holds {len(folders)}: name one of them"
        )
    if partition_subjects is not None:
        if define_path is not None:
            raise ValueError(
                "--partition-subjects reads the define.xml beside each folder of datasets, not --define"
            )
        from cdiscgen._tasks import partition_client
        from cdiscgen.validate import subject_record_ranges, validate_in_partitions

        ranges = subject_record_ranges(folders, partition_subjects)
        with partition_client(workers, scheduler) as client:
            result = validate_in_partitions(folders, ranges, study=study, client=client)
    elif define_path is not None:  # one folder (checked above) with a define.xml named apart
        result = validate_folder(folders[0], study=study, define_path=define_path)
    else:  # a large package in subject partitions, each folder with the define.xml beside it
        result = validate_within(folders, study=study)
    file_formats = tuple(f for f in formats if f != "console")
    if file_formats:
        created = creation_datetime(study.settings) if study is not None else None
        write_reports(
            result,
            report_dir,
            formats=file_formats,
            created=created.isoformat() if created is not None else None,
            timing=True,
            names=finding_names(),
        )
    if "console" in formats:
        render_findings(result)
    return result.findings


def _study_for(folders: Sequence[Path], study_dir: Path | None) -> Study | None:
    """The study whose metadata the checks use: --study when given; else the bundled study only when the
    data belong to it (same STUDYID) — someone else's data are checked without our specs, never against them."""
    if study_dir is not None:
        return load_study(study_dir)
    study = load_study(None)
    found = _data_studyid(folders)
    if found is not None and found != study.studyid:
        log.info(
            "the data's STUDYID %s is not %s: checking without study metadata (give --study for it)",
            found,
            study.studyid,
        )
        return None
    return study


def _data_studyid(folders: Sequence[Path]) -> str | None:
    """STUDYID of the smallest dataset file (cheap to read), if it has one."""
    from cdiscgen.export import read_xpt

    files = sorted(
        (p for f in folders for p in Path(f).glob("*.xpt") if p.is_file()),  # regular files only (no FIFO)
        key=lambda p: (p.stat().st_size, p.name),
    )
    for path in files[:3]:
        try:
            frame, _ = read_xpt(path)
        except Exception:  # noqa: BLE001 - unreadable files are reported by the validator itself
            try:
                frame, _ = read_xpt(path, encoding="cp1252")
            except Exception:  # noqa: BLE001
                continue
        if "STUDYID" in frame.columns:
            values = frame["STUDYID"].astype(str).str.strip()
            values = values[values != ""]
            if len(values):
                return str(values.iloc[0])
    return None


def finding_names() -> dict[str, str]:
    """Names of the finding codes the stages raise (conformance rules carry their own), for reports."""
    import adam
    import define
    import sdtm
    from cdiscgen._specs import SPEC_FINDING_NAMES

    return {**SPEC_FINDING_NAMES, **sdtm.FINDING_NAMES, **adam.FINDING_NAMES, **define.FINDING_NAMES}


def _raise_on_spec_errors(findings: Sequence) -> None:
    from cdiscgen._findings import Severity
    from cdiscgen._specs import SpecError

    errors = [f for f in findings if f.severity >= Severity.ERROR]
    if errors:
        raise SpecError(errors)


class _staging:
    """Build an output folder beside the target and swap it in as a whole when complete (one atomic
    exchange, as `run` does): --out is the complete old or the complete new folder at every instant."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir).resolve()
        self.work = self.out_dir.parent / f".{self.out_dir.name}.partial-{os.getpid()}"
        self.lock = output_lock(self.out_dir)

    def __enter__(self) -> Path:
        self.lock.__enter__()
        try:
            if self.work.exists():
                shutil.rmtree(self.work)
            self.work.mkdir(parents=True)
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self.work

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                swap_in_tree(self.work, self.out_dir)
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
            self.lock.__exit__(None, None, None)

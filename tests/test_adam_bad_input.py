"""Bad SDTM input -> AdamInputError naming dataset, variable and USUBJID; no partial output."""

from __future__ import annotations

import pyreadstat
import pytest

from adam import AdamInputError, derive_adam, read_sdtm_folder
from tests.adam_fixtures import settings, worked_examples


def test_missing_dm_or_lb():
    frames = worked_examples().frames()
    for name in ("DM", "LB"):
        broken = {k: v for k, v in frames.items() if k != name}
        with pytest.raises(AdamInputError) as err:
            derive_adam(broken, settings())
        assert err.value.dataset == name


def test_lb_without_flc_tests():
    frames = worked_examples().frames()
    frames["LB"] = frames["LB"][~frames["LB"]["LBTESTCD"].isin(["KLCFR", "LLCFR"])]
    with pytest.raises(AdamInputError) as err:
        derive_adam(frames, settings())
    assert (err.value.dataset, err.value.variable) == ("LB", "LBTESTCD")


def test_subject_in_lb_not_in_dm():
    frames = worked_examples().frames()
    frames["DM"] = frames["DM"][frames["DM"]["USUBJID"] != "EX-2"]
    with pytest.raises(AdamInputError) as err:
        derive_adam(frames, settings())
    assert (err.value.dataset, err.value.variable, err.value.usubjid) == ("LB", "USUBJID", "EX-2")
    assert "EX-2" in str(err.value)


@pytest.mark.parametrize("bad", ["2024-13-01", "2024-02-30", "05/01/2024", "2024-1-5"])
def test_malformed_date(bad):
    frames = worked_examples().frames()
    lb = frames["LB"].copy()
    idx = lb.index[lb["USUBJID"] == "EX-3"][0]
    lb.loc[idx, "LBDTC"] = bad
    frames["LB"] = lb
    with pytest.raises(AdamInputError) as err:
        derive_adam(frames, settings())
    assert (err.value.dataset, err.value.variable, err.value.usubjid) == ("LB", "LBDTC", "EX-3")


def test_read_sdtm_folder(tmp_path):
    frames = worked_examples().frames()
    pyreadstat.write_xport(frames["DM"], str(tmp_path / "dm.xpt"), table_name="DM")
    assert sorted(read_sdtm_folder(tmp_path)) == ["DM"]  # what else is needed depends on specs/adam
    (tmp_path / "dm.xpt").unlink()
    with pytest.raises(AdamInputError) as err:
        read_sdtm_folder(tmp_path)
    assert err.value.dataset == "DM"
    pyreadstat.write_xport(frames["DM"], str(tmp_path / "dm.xpt"), table_name="DM")
    pyreadstat.write_xport(frames["LB"], str(tmp_path / "lb.xpt"), table_name="LB")
    pyreadstat.write_xport(frames["EX"], str(tmp_path / "ex.xpt"), table_name="EX")
    pyreadstat.write_xport(frames["AE"], str(tmp_path / "ae.xpt"), table_name="AE")
    pyreadstat.write_xport(frames["SUPPAE"], str(tmp_path / "suppae.xpt"), table_name="SUPPAE")
    pyreadstat.write_xport(frames["EC"], str(tmp_path / "ec.xpt"), table_name="EC")
    pyreadstat.write_xport(frames["QS"], str(tmp_path / "qs.xpt"), table_name="QS")
    read = read_sdtm_folder(tmp_path)
    assert sorted(read) == ["AE", "DM", "EC", "EX", "LB", "QS", "SUPPAE"]
    assert read["DM"]["DTHDTC"].tolist() == ["", "", ""]
    a = derive_adam(read, settings()).datasets["ADRS"]
    b = derive_adam(frames, settings()).datasets["ADRS"]
    assert a["AVALC"].tolist() == b["AVALC"].tolist()


def test_a_declared_dataset_without_its_domain_is_named_before_anything_is_derived():
    frames = worked_examples().frames()
    del frames["LB"]  # the bundled study declares ADLB (engine al_lab), which reads LB
    with pytest.raises(AdamInputError, match=r"^LB: required SDTM dataset is missing \(ADLB"):
        derive_adam(frames, settings())

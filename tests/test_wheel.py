"""The wheel carries the bundled study, and `cdiscgen init` works from the installed package alone."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_contains_bundled_study_and_init_works(tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheels = list(dist.glob("cdiscgen-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as archive:
        names = set(archive.namelist())
        assert "cdiscgen/_bundled/specs/study.yaml" in names
        assert "cdiscgen/_bundled/specs/sdtm/dm.yaml" in names
        assert "cdiscgen/_bundled/specs/codelists.yaml" in names
        archive.extractall(tmp_path / "site")
    # run from the unpacked wheel only (its cdiscgen shadows the editable checkout), in another folder
    target = tmp_path / "newstudy"
    script = (
        "import cdiscgen, pathlib;"
        "p = cdiscgen.bundled_study_dir();"
        f"assert str(p).startswith({str(tmp_path / 'site')!r}), p;"
        f"cdiscgen.init_study({str(target)!r});"
        f"cdiscgen.load_study({str(target)!r})"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env)
    assert (target / "specs" / "study.yaml").read_text() == (REPO / "specs" / "study.yaml").read_text()


def test_simulator_finds_the_bundled_study_from_the_wheel(tmp_path):
    # before: the simulator looked for specs/ two folders above its module, which in an installed wheel
    # is site-packages (no study there); it must use the wheel's bundled study like everything else
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    with zipfile.ZipFile(next(dist.glob("cdiscgen-*.whl"))) as archive:
        archive.extractall(tmp_path / "site")
    script = (
        f"from cdiscgen.simulate import simulate_study; simulate_study({str(tmp_path / 'raw')!r}, subjects=3)"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "raw" / "enrollment.csv").is_file()

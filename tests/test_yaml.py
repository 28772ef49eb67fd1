"""YAML is read with a safe loader only, and keeps the line of every key and list item."""

from __future__ import annotations

import pytest

from cdiscgen import LineDict, LineList, YamlSyntaxError, load_yaml


def test_lines_are_kept(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("# comment\nfirst: 1\nitems:\n  - name: A\n  - {name: B}\n")
    doc = load_yaml(path)
    assert isinstance(doc, LineDict) and isinstance(doc["items"], LineList)
    assert doc.line_of("first") == 2
    assert doc.line_of("items") == 3
    assert doc["items"].line_of(0) == 4 and doc["items"].line_of(1) == 5
    assert doc["items"][1].line_of("name") == 5


def test_python_tags_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path)
    assert not marker.exists()
    assert "evil.yaml:1" in str(info.value)


def test_duplicate_keys_are_errors(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path)
    assert info.value.line == 3 and "duplicate key 'a'" in str(info.value)


def test_no_unsafe_yaml_loading_in_the_code():
    # every yaml.load in the project must go through a SafeLoader (yaml.safe_load or our loader)
    from tests.conftest import REPO

    offenders = []
    for path in REPO.glob("*/**/*.py"):
        if ".venv" in path.parts or path.parts[-2] == "tests":
            continue
        text = path.read_text()
        for needle in (
            "yaml.unsafe_load",
            "yaml.full_load",
            "Loader=yaml.Loader",
            "Loader=yaml.FullLoader",
            "UnsafeLoader",
        ):
            if needle in text:
                offenders.append(f"{path}: {needle}")
    assert not offenders, offenders


def test_plain_loading_reads_what_pyyamls_own_safe_loader_reads(tmp_path):
    # the shipped rules and simulator settings, and the corners of YAML's scalars, as PyYAML's pure-Python
    # safe loader reads them (the independent reader)
    import yaml

    from cdiscgen._yaml import load_plain
    from tests.conftest import REPO

    corners = tmp_path / "corners.yaml"
    corners.write_text(
        "a: [1, 1.5, .inf, -.Inf, .nan, 0x1F, 0o17, 1_000, 1e3]\nb: [yes, no, on, off, ~, null, 'null']\n"
        "c: 2026-12-07\nd: 2026-12-07T10:00:00Z\ne: &x {k: [v]}\nf: *x\ng: |\n  two\n  lines\n"
        'h: "\\u00e9\\t"\ni: !!str 12\nj: {? k : pair}\n',
        encoding="utf-8",
    )
    files = [*sorted((REPO / "cdiscgen" / "validate" / "rules").glob("*.yaml"))]
    files += [REPO / "cdiscgen" / "simulate" / "defaults.yaml", REPO / "specs" / "study.yaml", corners]
    for path in files:
        text = path.read_text(encoding="utf-8")
        ours, theirs = load_plain(text), yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506
        assert repr(ours) == repr(theirs), path  # repr: NaN is not equal to itself
    with pytest.raises(yaml.constructor.ConstructorError):
        load_plain("x: !!python/object/apply:os.system ['true']\n")

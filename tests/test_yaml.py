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

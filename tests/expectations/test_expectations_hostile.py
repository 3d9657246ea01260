"""Hostile or broken input fails fast, in bounded memory, with ExpectationsError only."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_drift._internal.expectations import parse, read
from otel_drift.expectations import ExpectationsError, load_expectations, loads_expectations

EXAMPLE = """\
version: 1
expectations:
  - name: checkout
    match:
      span_kind: server
      attributes: {http.route: /checkout}
    window: {spans: 500}
    min_samples: 200
    watch:
      latency:
        source: span.duration
        baseline:
          bins: [0, 10, 25, 50, 100, 250, 1000]
          fractions: [0.20, 0.45, 0.25, 0.07, 0.02, 0.01]
        method: cusum
        warning: 4
        critical: 5
        cusum_k: 0.5
      tokens:
        attribute: llm.tokens
        baseline: {quantiles: {0: 1, 0.5: 100, 1: 900}}
        constraints: {min: 0, type: integer}
      status:
        attribute: [http.response.status_code, http.status_code]
        baseline:
          categories: {"200": 0.97, "404": 0.02, "500": 0.01}
        constraints: {allowed: ["200", "404", "500"]}
"""


def _single_message(text: str) -> str:
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    (problem,) = caught.value.problems
    return problem.message


def _file_message(path: str | Path) -> str:
    with pytest.raises(ExpectationsError) as caught:
        load_expectations(path)
    (problem,) = caught.value.problems
    assert problem.path == ""
    assert problem.fix
    return problem.message


def _laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijkl"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
        previous = name
    return "\n".join(lines) + "\n"


LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


@pytest.fixture(params=LOADERS, ids=lambda loader: loader.__name__)
def each_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the test with PyYAML's own parser and with libyaml's (when installed)."""
    monkeypatch.setattr(parse, "_SafeLoader", request.param)


@pytest.mark.usefixtures("each_loader")
def test_alias_bomb_is_refused_quickly() -> None:
    start = time.perf_counter()
    message = _single_message(_laughs())
    assert time.perf_counter() - start < 1.0
    assert "more than 200,000 values" in message


@pytest.mark.usefixtures("each_loader")
def test_merge_key_bomb_is_refused_before_it_is_built() -> None:
    # Merge keys copy entries while constructing: 10 keys * 10**6 = 10**7 entries.
    lines = ["a: &a {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}"]
    previous = "a"
    for name in "bcdefg":
        lines.append(f"{name}: &{name} {{<<: [" + ", ".join([f"*{previous}"] * 10) + "]}")
        previous = name
    start = time.perf_counter()
    message = _single_message("\n".join(lines))
    assert time.perf_counter() - start < 1.0
    assert "more than 200,000 values" in message


@pytest.mark.usefixtures("each_loader")
def test_self_referencing_alias_is_refused() -> None:
    assert "nested more than 64 levels" in _single_message("&a [*a]\n")
    assert "nested more than 64 levels" in _single_message("&a {x: *a}\n")


@pytest.mark.usefixtures("each_loader")
def test_deep_nesting_is_refused() -> None:
    depth = 5_000
    # libyaml stops at 1000 levels itself; PyYAML's pure-Python parser recurses.
    assert "nest" in _single_message("[" * depth + "]" * depth)
    assert "nested more than" in _single_message('{"a": ' * 500 + "1" + "}" * 500)
    assert "nested more than" in _single_message("a: " + "[" * 200 + "]" * 200)


@pytest.mark.usefixtures("each_loader")
def test_control_characters_and_tabs_are_located() -> None:
    message = _single_message("version: 1\nexpectations: \x07\n")
    assert "(U+0007) at line 2, column 15" in message
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations("version: 1\nexpectations:\n\t- name: x\n")
    (problem,) = caught.value.problems
    assert "at line 3, column 1" in problem.message
    assert "tabs" in problem.fix


@pytest.mark.usefixtures("each_loader")
def test_python_tags_are_refused() -> None:
    message = _single_message("version: !!python/object/apply:os.system [echo hi]\n")
    assert "could not determine a constructor" in message


def test_odd_yaml_values_are_problems_not_crashes() -> None:
    text = EXAMPLE.replace("min_samples: 200", "min_samples: !!binary aGVsbG8=")
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    assert caught.value.problems[0].path == "expectations[0].min_samples"
    text = EXAMPLE.replace("span_kind: server", "span_kind: 2024-01-31")
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    assert "date" in caught.value.problems[0].message
    assert "cannot be read" in _single_message("a: 2024-02-30\n")


def test_huge_numbers() -> None:
    assert "cannot be read as JSON" in _single_message('{"version": ' + "9" * 5000 + "}")
    text = EXAMPLE.replace("critical: 5", "critical: " + "9" * 400)
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text)
    assert "too large" in caught.value.problems[0].message


def test_text_over_the_limit_is_refused() -> None:
    assert "limited to" in _single_message(" " * (10 * 1024 * 1024 + 1))


def test_big_file_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)  # sparse: no 11 MB actually written

    def no_reading(fd: int, limit: int) -> bytes:
        raise AssertionError("the file was read")

    monkeypatch.setattr(read, "_read_at_most", no_reading)
    message = _file_message(path)
    assert "11.0 MB" in message
    assert "limited to 10 MB" in message


def test_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nexpectations:\n  - name: café\n".encode("latin-1"))
    message = _file_message(path)
    assert "not UTF-8" in message
    assert "byte 0xe9 at line 3, column 14" in message
    path.write_bytes("version: 1\n".encode("utf-16"))
    assert "UTF-16" in _file_message(path)


def test_missing_file_directory_and_bad_parent(tmp_path: Path) -> None:
    assert "does not exist" in _file_message(tmp_path / "missing.yaml")
    assert "is a directory" in _file_message(tmp_path)
    regular = tmp_path / "file.yaml"
    regular.write_text("version: 1\n")
    assert "not a directory" in _file_message(regular / "expectations.yaml")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    messages: list[str] = []
    worker = threading.Thread(target=lambda: messages.append(_file_message(fifo)), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "reading the FIFO blocked"
    assert messages and "not a regular file" in messages[0]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files whatever their mode",
)
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(EXAMPLE)
    path.chmod(0)
    try:
        assert "permission denied" in _file_message(path)
    finally:
        path.chmod(0o600)


def test_the_fuzz_seed_is_valid() -> None:
    loaded = loads_expectations(EXAMPLE)
    assert [w.name for w in loaded.expectations[0].watch] == ["latency", "tokens", "status"]


def _only_expectations_error(load: object) -> None:
    try:
        if callable(load):
            load()
    except ExpectationsError as error:
        assert error.problems
        assert "internal error" not in str(error), str(error)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_fuzzed_bytes_only_raise_expectations_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    _only_expectations_error(lambda: load_expectations(path))


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#% \n\t0123456789.ab<\\")), max_size=200
    )
)
def test_fuzzed_yaml_punctuation_only_raises_expectations_error(text: str) -> None:
    _only_expectations_error(lambda: loads_expectations(text))
    _only_expectations_error(lambda: loads_expectations(text, path="x.json"))


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(EXAMPLE) - 1),
            st.integers(0, 3),
            st.sampled_from([*":-[]{},#&*!|'\" \n0129.eax_", "true", "~", "1e400", ".nan"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_example_only_raises_expectations_error(edits: list[tuple[int, int, str]]) -> None:
    text = EXAMPLE
    for offset, cut, insert in edits:
        position = offset % (len(text) or 1)
        text = text[:position] + insert + text[position + cut :]
    _only_expectations_error(lambda: loads_expectations(text))


@settings(max_examples=100, deadline=None)
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_fuzzed_json_documents_only_raise_expectations_error(document: object) -> None:
    _only_expectations_error(lambda: loads_expectations(json.dumps(document)))
    wrapped = {"version": 1, "expectations": [{"name": "e", "match": document, "watch": document}]}
    _only_expectations_error(lambda: loads_expectations(json.dumps(wrapped)))

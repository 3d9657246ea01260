"""Each kind of mistake is reported at its exact path, with a fix; all mistakes at once."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from otel_drift.expectations import ExpectationsError, Problem, loads_expectations

Document = dict[str, Any]


def base() -> Document:
    return {
        "version": 1,
        "expectations": [
            {
                "name": "e",
                "match": {},
                "watch": {
                    "w": {
                        "source": "span.duration",
                        "baseline": {"bins": [0, 10, 20], "fractions": [0.5, 0.5]},
                    }
                },
            }
        ],
    }


def expectation(document: Document) -> dict[str, Any]:
    result: dict[str, Any] = document["expectations"][0]
    return result


def watch(document: Document) -> dict[str, Any]:
    result: dict[str, Any] = expectation(document)["watch"]["w"]
    return result


def problems(text_or_document: str | Document, name: str = "expectations.yaml") -> list[Problem]:
    text = text_or_document if isinstance(text_or_document, str) else json.dumps(text_or_document)
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(text, path=name)
    assert caught.value.path == name
    return caught.value.problems


def only(text_or_document: str | Document) -> Problem:
    found = problems(text_or_document)
    assert len(found) == 1, "\n".join(map(str, found))
    problem = found[0]
    assert problem.message and problem.fix, problem
    return problem


def mutate(change: Callable[[Document], object]) -> Document:
    document = base()
    change(document)
    return document


def test_base_document_is_valid() -> None:
    loads_expectations(json.dumps(base()))


def test_error_text_format_matches_the_contract() -> None:
    document = base()
    watch(document).update(
        baseline={
            "bins": [0, 10, 25, 50, 100, 250, 1000],
            "fractions": [0.2, 0.45, 0.25, 0.07, 0.03],
        }
    )
    expectation(document)["watch"] = {"latency": watch(document)}
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(json.dumps(document), path="expectations.yaml")
    assert str(caught.value) == (
        "expectations.yaml: 1 problem\n"
        "  expectations[0].watch.latency.baseline.fractions: has 5 values but bins has 7 edges, "
        "so 6 fractions are expected. Fix: give one fraction per bin (len(bins) - 1)."
    )


# -- schema keywords -------------------------------------------------------

SCHEMA_CASES: list[tuple[str, Callable[[Document], object], str, str]] = [
    # (id, change, path, text the message or fix contains)
    (
        "type",
        lambda d: expectation(d).update(window={"spans": "500"}),
        "expectations[0].window.spans",
        "remove the quotes around 500",
    ),
    ("required", lambda d: expectation(d).pop("match"), "expectations[0].match", "add match"),
    (
        "unknown key",
        lambda d: watch(d).update(baselin={}),
        "expectations[0].watch.w.baselin",
        "did you mean baseline?",
    ),
    (
        "enum",
        lambda d: expectation(d)["match"].update(span_kind="sever"),
        "expectations[0].match.span_kind",
        "use server",
    ),
    ("const", lambda d: d.update(version=2), "version", "write 1"),
    (
        "minimum",
        lambda d: expectation(d).update(min_samples=0),
        "expectations[0].min_samples",
        "at least 1",
    ),
    (
        "exclusiveMinimum",
        lambda d: expectation(d).update(window={"seconds": 0}),
        "expectations[0].window.seconds",
        "greater than 0",
    ),
    (
        "maximum",
        lambda d: watch(d)["baseline"].update(fractions=[1.5, -0.5]),
        "expectations[0].watch.w.baseline.fractions[0]",
        "at most 1",
    ),
    ("minItems", lambda d: d.update(expectations=[]), "expectations", "at least 1"),
    (
        "minProperties",
        lambda d: expectation(d).update(watch={}),
        "expectations[0].watch",
        "at least 1",
    ),
    (
        "minProperties window",
        lambda d: expectation(d).update(window={}),
        "expectations[0].window",
        "at least 1",
    ),
    ("pattern", lambda d: expectation(d).update(name="1st"), "expectations[0].name", "a letter"),
    (
        "pattern key",
        lambda d: expectation(d)["watch"].update({"my latency": watch(d)}),
        'expectations[0].watch["my latency"]',
        "rename",
    ),
    (
        "oneOf types",
        lambda d: watch(d).update(attribute=5, source="attribute"),
        "expectations[0].watch.w.attribute",
        "a string or a list of strings",
    ),
    (
        "oneOf no form",
        lambda d: watch(d).update(baseline={"samples": 3}),
        "expectations[0].watch.w.baseline",
        "bins and fractions, quantiles, categories or profile and slots",
    ),
    (
        "oneOf chosen branch",
        lambda d: watch(d)["baseline"].pop("fractions"),
        "expectations[0].watch.w.baseline.fractions",
        "add fractions",
    ),
    (
        "oneOf text or regex",
        lambda d: expectation(d)["match"].update(span_name={"regexp": "x"}),
        "expectations[0].match.span_name.regex",
        "add regex",
    ),
    (
        "anyOf source",
        lambda d: watch(d).pop("source"),
        "expectations[0].watch.w",
        "source, attribute or feature",
    ),
    (
        "anyOf baseline",
        lambda d: watch(d).pop("baseline"),
        "expectations[0].watch.w",
        "baseline, constraints or shape",
    ),
    (
        "attribute value type",
        lambda d: expectation(d)["match"].update(attributes={"http.route": [1]}),
        'expectations[0].match.attributes["http.route"]',
        "a string, a number or true/false",
    ),
    (
        "empty attribute",
        lambda d: watch(d).update(source="attribute", attribute=""),
        "expectations[0].watch.w.attribute",
        "must not be empty",
    ),
    ("root type", lambda d: d.clear(), "version", "add version"),
]


@pytest.mark.parametrize(
    ("change", "path", "text"),
    [case[1:] for case in SCHEMA_CASES],
    ids=[case[0] for case in SCHEMA_CASES],
)
def test_schema_problem_path_and_fix(
    change: Callable[[Document], object], path: str, text: str
) -> None:
    found = problems(mutate(change))
    assert found[0].path == path, "\n".join(map(str, found))
    assert text in f"{found[0].message} Fix: {found[0].fix}"
    assert found[0].fix


def test_top_level_not_a_mapping() -> None:
    problem = only("- version: 1\n")
    assert problem.path == ""
    assert problem.message == "the document must be a mapping, got a list."


def test_description_phrases_the_fix() -> None:
    problem = only(mutate(lambda d: expectation(d).update(min_samples=0)))
    assert "fewest values a closed window needs" in problem.fix


# -- semantic rules --------------------------------------------------------

SEMANTIC_CASES: list[tuple[str, Callable[[Document], object], str, str]] = [
    (
        "fractions sum",
        lambda d: watch(d)["baseline"].update(fractions=[0.5, 0.4]),
        "expectations[0].watch.w.baseline.fractions",
        "sum to 0.9, not 1",
    ),
    (
        "fractions count",
        lambda d: watch(d)["baseline"].update(fractions=[1.0]),
        "expectations[0].watch.w.baseline.fractions",
        "one fraction per bin",
    ),
    (
        "edges increasing",
        lambda d: watch(d)["baseline"].update(bins=[0, 20, 20]),
        "expectations[0].watch.w.baseline.bins[2]",
        "strictly increasing",
    ),
    (
        "quantile values",
        lambda d: watch(d).update(baseline={"quantiles": {"0": 5, "0.5": 4, "1": 9}}),
        'expectations[0].watch.w.baseline.quantiles["0.5"]',
        "below 5",
    ),
    (
        "quantile range",
        lambda d: watch(d).update(baseline={"quantiles": {"0": 5, "1": 6, "2": 7}}),
        'expectations[0].watch.w.baseline.quantiles["2"]',
        "outside 0 to 1",
    ),
    (
        "quantile first",
        lambda d: watch(d).update(baseline={"quantiles": {"0.1": 5, "1": 6}}),
        "expectations[0].watch.w.baseline.quantiles",
        "add 0:",
    ),
    (
        "quantile last",
        lambda d: watch(d).update(baseline={"quantiles": {"0": 5, "0.99": 6}}),
        "expectations[0].watch.w.baseline.quantiles",
        "add 1:",
    ),
    (
        "quantile twice",
        lambda d: watch(d).update(baseline={"quantiles": {"0": 5, "1": 6, "1.0": 6}}),
        'expectations[0].watch.w.baseline.quantiles["1.0"]',
        "given twice",
    ),
    (
        "quantile key",
        lambda d: watch(d).update(baseline={"quantiles": {"0": 5, ".": 6, "1": 7}}),
        'expectations[0].watch.w.baseline.quantiles["."]',
        "not a probability",
    ),
    (
        "categories sum",
        lambda d: watch(d).update(source="span.status", baseline={"categories": {"OK": 0.9}}),
        "expectations[0].watch.w.baseline.categories",
        "sum to 0.9",
    ),
    (
        "distance thresholds",
        lambda d: watch(d).update(warning=0.3, critical=0.2),
        "expectations[0].watch.w.critical",
        "must be above warning",
    ),
    (
        "default critical",
        lambda d: watch(d).update(warning=0.3),
        "expectations[0].watch.w.warning",
        "critical is the psi default 0.1",
    ),
    (
        "alpha thresholds",
        lambda d: watch(d).update(method="ks", warning=0.01, critical=0.05),
        "expectations[0].watch.w.critical",
        "must be below warning",
    ),
    (
        "alpha below 1",
        lambda d: watch(d).update(method="chi_square", warning=1.5, critical=0.5),
        "expectations[0].watch.w.warning",
        "below 1",
    ),
    (
        "method kind",
        lambda d: watch(d).update(
            source="span.status", baseline={"categories": {"OK": 1}}, method="wasserstein"
        ),
        "expectations[0].watch.w.method",
        "cannot compare categorical",
    ),
    (
        "cusum_k",
        lambda d: watch(d).update(cusum_k=1),
        "expectations[0].watch.w.cusum_k",
        "only to method: cusum",
    ),
    (
        "no baseline",
        lambda d: expectation(d)["watch"].update(
            w={"source": "span.duration", "constraints": {"min": 0}, "method": "psi"}
        ),
        "expectations[0].watch.w.method",
        "without a baseline",
    ),
    (
        "span_name regex",
        lambda d: expectation(d)["match"].update(span_name={"regex": "("}),
        "expectations[0].match.span_name.regex",
        "not a valid regular expression",
    ),
    (
        "scope regex",
        lambda d: expectation(d)["match"].update(scope={"regex": "[a"}),
        "expectations[0].match.scope.regex",
        "not a valid regular expression",
    ),
    (
        "attribute regex",
        lambda d: expectation(d)["match"].update(attribute_regex={"http.route": "*x"}),
        'expectations[0].match.attribute_regex["http.route"]',
        "at position 0",
    ),
    (
        "duplicate names",
        lambda d: d["expectations"].append(copy.deepcopy(expectation(d))),
        "expectations[1].name",
        "already the name of expectations[0]",
    ),
    (
        "min_samples > spans",
        lambda d: expectation(d).update(window={"spans": 50}, min_samples=60),
        "expectations[0].min_samples",
        "more than window.spans (50)",
    ),
    (
        "spans < default min_samples",
        lambda d: expectation(d).update(window={"spans": 50}),
        "expectations[0].window.spans",
        "fewer than min_samples (100, the default)",
    ),
    (
        "defaults conflict",
        lambda d: d.update(defaults={"window": {"spans": 10}, "min_samples": 20}),
        "defaults.min_samples",
        "more than window.spans (10)",
    ),
    (
        "unit without duration",
        lambda d: watch(d).update(
            source="span.status", unit="s", baseline={"categories": {"OK": 1}}
        ),
        "expectations[0].watch.w.unit",
        "only to source: span.duration",
    ),
    (
        "attribute with duration",
        lambda d: watch(d).update(attribute="x"),
        "expectations[0].watch.w.attribute",
        "no effect with source: span.duration",
    ),
    (
        "source attribute without name",
        lambda d: watch(d).update(source="attribute"),
        "expectations[0].watch.w.attribute",
        "required with source: attribute",
    ),
    (
        "attribute twice",
        lambda d: watch(d).update(source="attribute", attribute=["a", "b", "a"]),
        "expectations[0].watch.w.attribute[2]",
        "listed twice",
    ),
    (
        "duration categories",
        lambda d: watch(d).update(baseline={"categories": {"1": 1}}),
        "expectations[0].watch.w.baseline",
        "values are numbers",
    ),
    (
        "status bins",
        lambda d: watch(d).update(source="span.status"),
        "expectations[0].watch.w.baseline",
        "values are labels",
    ),
    (
        "min above max",
        lambda d: watch(d).update(constraints={"min": 5, "max": 1}),
        "expectations[0].watch.w.constraints.min",
        "above max",
    ),
    (
        "string type numeric",
        lambda d: watch(d).update(constraints={"type": "string"}),
        "expectations[0].watch.w.constraints.type",
        "values are numbers",
    ),
    (
        "status min",
        lambda d: watch(d).update(
            source="span.status", baseline={"categories": {"OK": 1}}, constraints={"min": 1}
        ),
        "expectations[0].watch.w.constraints.min",
        "labels",
    ),
    (
        "category not allowed",
        lambda d: watch(d).update(
            source="attribute",
            attribute="c",
            baseline={"categories": {"a": 0.5, "b": 0.5}},
            constraints={"allowed": ["a"]},
        ),
        "expectations[0].watch.w.baseline.categories.b",
        "not in constraints.allowed",
    ),
    (
        "huge bins",
        lambda d: watch(d)["baseline"].update(bins=[-1e308, 0, 1e308]),
        "expectations[0].watch.w.baseline",
        "give mean and std",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "text"),
    [case[1:] for case in SEMANTIC_CASES],
    ids=[case[0] for case in SEMANTIC_CASES],
)
def test_semantic_problem_path_and_fix(
    change: Callable[[Document], object], path: str, text: str
) -> None:
    problem = only(mutate(change))
    assert problem.path == path, problem
    assert text in f"{problem.message} Fix: {problem.fix}", problem


def test_name_with_a_trailing_line_break() -> None:
    text = """
version: 1
expectations:
  - name: |
      checkout
    match: {}
    watch: {s: {source: span.status, baseline: {categories: {OK: 1}}}}
"""
    problem = only(text)
    assert problem.path == "expectations[0].name"
    assert "line break" in problem.message


def test_non_finite_numbers() -> None:
    text = """
version: 1
expectations:
  - name: e
    match: {}
    watch:
      w: {attribute: x, constraints: {min: .nan, max: .inf}}
"""
    found = problems(text)
    assert [p.path for p in found] == [
        "expectations[0].watch.w.constraints.min",
        "expectations[0].watch.w.constraints.max",
    ]
    assert all("finite" in p.message for p in found)


def test_duplicate_yaml_keys_are_reported_with_their_line() -> None:
    text = """version: 1
expectations:
  - name: e
    match: {}
    watch:
      w: {source: span.status, baseline: {categories: {OK: 1}}}
      w: {source: span.duration, constraints: {min: 0}}
"""
    problem = only(text)
    assert problem.path == ""
    assert '"w" appears twice' in problem.message
    assert "line 7, column 7" in problem.message


def test_duplicate_json_keys_are_reported() -> None:
    text = json.dumps(base())[:-1] + ', "version": 1}'
    problem = only(text)
    assert '"version" appears twice' in problem.message


def test_keys_that_collide_after_becoming_strings() -> None:
    text = """
version: 1
expectations:
  - name: e
    match: {}
    watch:
      w:
        attribute: code
        baseline: {categories: {200: 0.5, "200": 0.5}}
"""
    found = problems(text)
    assert any(p.path == 'expectations[0].watch.w.baseline.categories["200"]' for p in found)


def test_empty_file_and_syntax_error_with_line_and_column() -> None:
    assert "empty" in only("# only a comment\n").message
    problem = only("version: 1\nexpectations:\n  - name: [unclosed\n")
    assert problem.path == ""
    assert "not valid YAML at line" in problem.message
    problem = only('{"version": 1,, "expectations": []}')
    assert "not valid JSON" in problem.message and "line 1, column 15" in problem.message


def test_json_file_name_forces_json() -> None:
    found = problems("version: 1\n", name="expectations.json")
    assert "not valid JSON" in found[0].message


# -- several problems at once ----------------------------------------------


def test_all_problems_are_reported_together() -> None:
    document = base()
    document["version"] = 2
    expectation(document)["min_samples"] = 0
    watch(document)["baseline"]["fractions"] = [0.5, 0.4]
    watch(document)["method"] = "ks"
    watch(document)["warning"] = 0.01
    watch(document)["critical"] = 0.02
    second = copy.deepcopy(expectation(document))
    second["match"] = {"span_kind": "serverr", "attribute_regex": {"a": "("}}
    document["expectations"].append(second)
    found = problems(document)
    # Schema problems come first (in document order), then the semantic ones.
    assert [p.path for p in found] == [
        "version",
        "expectations[0].min_samples",
        "expectations[1].match.span_kind",
        "expectations[1].min_samples",
        "expectations[0].watch.w.baseline.fractions",
        "expectations[0].watch.w.critical",
        "expectations[1].name",
        "expectations[1].match.attribute_regex.a",
        "expectations[1].watch.w.baseline.fractions",
        "expectations[1].watch.w.critical",
    ]
    assert all(p.fix for p in found)
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(json.dumps(document), path="x.yaml")
    assert str(caught.value).startswith("x.yaml: 10 problems\n  version: must be 1")


def test_problems_inside_a_rejected_value_are_not_repeated() -> None:
    # The schema rejects the baseline's parts; the semantic checks (sum,
    # count of fractions) do not pile on.
    document = mutate(lambda d: watch(d).update(baseline={"fractions": [3], "bins": "x", "q": 1}))
    assert [p.path for p in problems(document)] == [
        "expectations[0].watch.w.baseline.fractions[0]",
        "expectations[0].watch.w.baseline.bins",
        "expectations[0].watch.w.baseline.q",
    ]
    # A baseline of no known form is one problem, not one per key inside it.
    document = mutate(lambda d: watch(d).update(baseline={"fraction": [1], "bin": [0, 1]}))
    assert [p.path for p in problems(document)] == ["expectations[0].watch.w.baseline"]


def test_at_most_20_problems_are_listed() -> None:
    document = base()
    for index in range(30):
        expectation(document)[f"unknown{index}"] = index
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(json.dumps(document), path="many.yaml")
    error = caught.value
    assert len(error.problems) == 20
    assert error.truncated
    assert str(error).startswith("many.yaml: more than 20 problems (the first 20 follow)\n")
    assert len(str(error).splitlines()) == 21


def test_error_is_picklable_and_lists_problems() -> None:
    with pytest.raises(ExpectationsError) as caught:
        loads_expectations(json.dumps(mutate(lambda d: d.update(version=3))), path="p.yaml")
    copied = pickle.loads(pickle.dumps(caught.value))
    assert str(copied) == str(caught.value)

"""Filter expressions: every JSONPath form dolma configs use, jq, numbers by value, errors with columns."""

from __future__ import annotations

import pytest
from dolma.mixers import filters
from dolma.mixers.filters import DocumentFilter, ExpressionError, compile_expression


def doc(score, **meta):
    attributes = {} if score is None else {"exp__s": score}
    return {"id": "x", "text": "t", "metadata": {"lang": "en", "n": 3, "flag": False, **meta}, "attributes": attributes}


def matches(expr: str, document, syntax: str = "jsonpath") -> bool:
    return compile_expression(expr, syntax).matches(document)


@pytest.mark.parametrize(
    ("expr", "score", "expected"),
    [
        ("$.attributes[?(@.exp__s[0][2] >= 0.5)]", [[0, 1, 0.5]], True),
        ("$.attributes[?(@.exp__s[0][2] >= 0.5)]", [[0, 1, 0.49]], False),
        ("$.attributes[?(@.exp__s[0][2] > 0.5)]", [[0, 1, 0.5]], False),
        ("$.attributes[?(@.exp__s[0][2] < 0.5)]", [[0, 1, 0.2]], True),
        ("$.attributes[?(@.exp__s[0][2] <= -2.5)]", [[0, 1, -2.5]], True),
        # numbers compare by value: dolma 1.2.1 says false for both of these
        ("$.attributes[?(@.exp__s[0][2] == 1)]", [[0, 1, 1.0]], True),
        ("$.attributes[?(@.exp__s[0][2] >= 1.0)]", [[0, 1, 1]], True),
        ("$.attributes[?(@.exp__s[0][2] != 1)]", [[0, 1, 1.0]], False),
        ("$.attributes[?(@.exp__s[0][2] != 1)]", None, True),  # a missing path is != anything (as dolma)
        ("$.attributes[?(@.exp__s[0][2] >= 0.5)]", None, False),
        ("$.attributes[?(@.exp__s[0][2] >= 0.5)]", [], False),
        ("$.attributes[?(@.exp__s[-1][2] > 0.5)]", [[0, 1, 0.1], [1, 2, 0.9]], True),
        ("$.attributes[?(@.exp__s[0][-1] > 0.5)]", [[0, 1, 0.9]], True),
        ("$.attributes[?(@.exp__s)]", [], True),  # existence, even of an empty list
        ("$.attributes[?(@.exp__s)]", None, False),
        ("$.attributes.exp__s", [], True),
        ("$@.attributes[?(@.exp__s[0][2] >= 0.5)]", [[0, 1, 0.7]], True),
        ("$.attributes[?(@.exp__s && @.exp__s[0] && @.exp__s[0][2] > 0.1)]", [], False),
        ("$.attributes[?(@.exp__s && @.exp__s[0] && @.exp__s[0][2] > 0.1)]", [[0, 1, 0.2]], True),
        ("$.attributes[?(@.exp__s[0][2] > 0.9 || @.exp__s[0][2] < 0.1)]", [[0, 1, 0.05]], True),
        ("$.attributes[?(@.exp__s[0][2] > 0.9 || @.exp__s[0][2] < 0.1)]", [[0, 1, 0.5]], False),
        ("$.attributes[?(!(@.exp__s[0][2] > 0.9))]", [[0, 1, 0.5]], True),
        ("$.attributes[?(!@.exp__s)]", None, True),
        (
            "$.attributes[?(@.exp__s[0][2] >= 0.1 && (@.exp__s[0][2] < 0.2 || @.exp__s[0][2] > 0.8))]",
            [[0, 1, 0.9]],
            True,
        ),
        ("$.attributes[?(@.exp__s == null)]", None, False),  # missing is not null
        ("$.attributes.exp__s[?(@[2] > 0.5)]", [[0, 1, 0.1], [1, 2, 0.6]], True),
        ("$.attributes.exp__s[?(@[2] > 0.7)]", [[0, 1, 0.1], [1, 2, 0.6]], False),
        ("$.attributes[?(@.exp__s[0][2] > 1e-1)]", [[0, 1, 0.2]], True),
    ],
)
def test_jsonpath_forms_on_attributes(expr, score, expected):
    assert matches(expr, doc(score)) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$.metadata[?(@.lang == 'en')]", True),
        ('$.metadata[?(@.lang == "en")]', True),
        ("$.metadata[?(@.lang != 'en')]", False),
        ("$.metadata[?(@.n > 2 && @.n <= 3)]", True),
        ("$.metadata[?(@.flag == false)]", True),
        ("$.metadata[?(@.flag == 0)]", False),  # booleans are not numbers
        ("$.metadata[?(@.flag)]", True),  # existence, even of false
        ("$.metadata[?(@.lang > 3)]", False),  # a string is not ordered against a number
        ("$.metadata.lang", True),
        ("$.metadata.nope", False),
        ("$.metadata['lang']", True),
        ("$[?(@.id == 'x')]", True),
        ("$.metadata[?(@.n == $.metadata.n)]", True),
        ("$.metadata.*", True),
    ],
)
def test_jsonpath_metadata_paths_and_literals(expr, expected):
    assert matches(expr, doc(None)) is expected


def test_null_literal_matches_a_null_value():
    assert matches("$.metadata[?(@.v == null)]", doc(None, v=None))
    assert not matches("$.metadata[?(@.v == null)]", doc(None, v=0))


@pytest.mark.parametrize(
    ("expr", "column", "what"),
    [
        ("$.attributes[?(@.x[0][2] >= )]", 29, "expected a value"),
        ("$.attributes[?(@.x[0][2] >= 0.5]", 32, "expected ')'"),
        ("attributes.x", 1, "expected '$'"),
        ("$..x", 3, "'..' is not supported"),
        ("$.a[?(@.x =! 3)]", 11, "unexpected character"),
        ("$.a[x]", 5, "expected an integer index"),
    ],
)
def test_bad_expressions_say_what_and_where(expr, column, what):
    with pytest.raises(ExpressionError) as err:
        compile_expression(expr, "jsonpath")
    assert err.value.column == column
    assert what in str(err.value) and f"at column {column}" in str(err.value)


def test_expression_is_parsed_once_not_per_document(monkeypatch):
    expr = compile_expression("$.attributes[?(@.exp__s[0][2] >= 0.5 && @.exp__s[0][1] > 0)]", "jsonpath")

    def no_parsing(*args, **kwargs):
        raise AssertionError("re-parsed during evaluation")

    monkeypatch.setattr(filters, "_lex", no_parsing)
    monkeypatch.setattr(filters, "_Parser", no_parsing)
    assert [expr.matches(doc([[0, 1, s]])) for s in (0.1, 0.5, 0.9)] == [False, True, True]


def test_attribute_names_are_collected_for_validation():
    expr = compile_expression("$.attributes[?(@.a[0][2] > 1 && @.b)]", "jsonpath")
    assert expr.attribute_names == {"a", "b"}
    assert compile_expression("$.attributes.c[?(@[2] > 0)]", "jsonpath").attribute_names == {"c"}
    assert compile_expression("$.metadata[?(@.a > 1)]", "jsonpath").attribute_names == set()
    assert compile_expression("$.attributes.*", "jsonpath").reads_all_attributes
    jq_expr = compile_expression('.attributes.a[0][2] > 0.5 and .attributes["b"] != null', "jq")
    assert jq_expr.attribute_names == {"a", "b"}


def test_jq_filters_compare_numbers_by_value_and_follow_dolma_truthiness():
    assert matches(".attributes.exp__s[0][2] >= 1", doc([[0, 1, 1.0]]), "jq")
    assert not matches(".attributes.exp__s[0][2] > 1", doc([[0, 1, 1.0]]), "jq")
    assert not matches(".attributes.missing", doc([[0, 1, 1.0]]), "jq")  # null is false
    assert not matches(".metadata.n - 3", doc(None), "jq")  # 0 is false, as dolma reads jq results
    assert not matches("empty", doc(None), "jq")  # no result: not included


def test_jq_syntax_errors_are_config_errors():
    with pytest.raises(filters.ConfigError, match="jq expression does not compile"):
        compile_expression(".attributes[", "jq")


def test_include_any_exclude_any_names_the_rule():
    flt = DocumentFilter(
        include=["$.attributes[?(@.exp__s[0][2] > 0.8)]", "$.metadata[?(@.n == 99)]"],
        exclude=["$.metadata[?(@.lang == 'de')]", "$.metadata[?(@.n == 3)]"],
        syntax="jsonpath",
    )
    assert flt.rule(doc([[0, 1, 0.5]])) == "filter.include"
    assert flt.rule(doc([[0, 1, 0.9]])) == "filter.exclude[1]"
    assert flt.rule(doc([[0, 1, 0.9]], n=4)) is None
    assert flt.rule(doc([[0, 1, 0.1]], n=99)) is None
    only_exclude = DocumentFilter([], ["$.metadata[?(@.n == 3)]"], "jsonpath")
    assert only_exclude.rule(doc(None)) == "filter.exclude[0]" and only_exclude.rule(doc(None, n=1)) is None
    jq_filter = DocumentFilter([], [".metadata.n == 3"], "jq")
    assert jq_filter.rule(doc(None)) == "filter.exclude[0]" and jq_filter.rule(doc(None, n=1)) is None

"""Filter expressions of mixer configs: the JSONPath subset dolma configs use, and jq.

allenai/dolma 1.2.1 re-parses every JSONPath expression for every document and compares ``1`` and ``1.0``
as different values. Here an expression is parsed once into a tree of Python closures (per worker, since
closures do not pickle) and numbers compare by value. The semantics otherwise follow dolma's, measured
against its mixer:

- ``$.a.b`` matches when the path exists (even if its value is ``null``, ``false`` or ``[]``).
- ``$.a[?(pred)]`` tests ``pred`` on ``$.a`` itself when it is an object, and on each element when it is
  an array; the expression matches when anything is selected.
- Inside a predicate, ``@.x`` alone is an existence test; ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``
  compare numbers by value, strings with strings, booleans and ``null`` by identity; a comparison
  with a missing path is false, and ``!=`` is the negation of ``==`` (so a missing path ``!=`` 1).
- ``&&``, ``||``, ``!`` and parentheses; ``[-1]`` indexes from the end; strings in '...' or "...".
"""

from __future__ import annotations

import operator
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dolma.errors import ConfigError, FilterError

MISSING: Any = object()
"""The value of a path that does not exist in a document."""

Predicate = Callable[[Any, Any], bool]
"""``predicate(current_node, root_document) -> bool``."""

Step = str | int


class ExpressionError(ConfigError):
    """An expression that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.column = column


# ------------------------------------------------------------------------------------------------ lexer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\]?.*@$,])
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    """,
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str  # number | string | op | name | end
    text: str
    column: int


def _lex(text: str) -> list[_Token]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


# ----------------------------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def make_getter(steps: tuple[Step, ...]) -> Callable[[Any], Any]:
    """A function following keys (str) and indices (int, negative from the end) from its argument, or
    returning ``MISSING`` when a step fails; generated once as straight-line Python (no loop per call)."""
    body = ["def get(obj):"]
    for step in steps:
        if type(step) is str:
            body.append("    if type(obj) is not dict: return MISSING")
            body.append(f"    obj = obj.get({step!r}, MISSING)")
            body.append("    if obj is MISSING: return MISSING")
        else:
            fits = f"len(obj) <= {step}" if step >= 0 else f"len(obj) < {-step}"  # type: ignore[operator]
            body.append(f"    if type(obj) is not list or {fits}: return MISSING")
            body.append(f"    obj = obj[{step}]")
    body.append("    return obj")
    namespace: dict[str, Any] = {"MISSING": MISSING}
    exec(compile("\n".join(body), f"<path {steps!r}>", "exec"), namespace)
    return namespace["get"]  # type: ignore[no-any-return]


def values_equal(a: Any, b: Any) -> bool:
    """JSON equality with numbers compared by value (``1 == 1.0``) and booleans never equal to numbers."""
    if a is MISSING or b is MISSING:
        return False
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(a: Any, b: Any) -> bool:
        if _is_number(a) and _is_number(b):
            return compare(a, b)
        if type(a) is str and type(b) is str:
            return compare(a, b)
        return False

    return check


_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": values_equal,
    "!=": lambda a, b: not values_equal(a, b),
    "<": _ordered(operator.lt),
    "<=": _ordered(operator.le),
    ">": _ordered(operator.gt),
    ">=": _ordered(operator.ge),
}


def _dolma_equal(a: Any, b: Any) -> bool:
    """allenai/dolma 1.2.1's equality (serde_json's): an integer never equals a float, so ``1 == 1.0`` is
    false; otherwise as :func:`values_equal`."""
    if _is_number(a) and _is_number(b) and type(a) is not type(b):
        return False
    return values_equal(a, b)


def _dolma_ordered(strict: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """dolma 1.2.1's ``<=`` and ``>=``: the strict comparison by value, or :func:`_dolma_equal`; so
    ``1 >= 1.0`` and ``1.0 <= 1`` are false while ``2 >= 1.0`` is true."""
    check = _ordered(strict)
    return lambda a, b: check(a, b) or _dolma_equal(a, b)


DOLMA_1_2 = "dolma-1.2"
"""``compat: dolma-1.2``: compare numbers as allenai/dolma 1.2.1's JSONPath filter does (measured against
its mixer: ``>= 1.0`` keeps 2, 1.0, 2.0, 3 and not 1; ``== 0`` keeps 0 and not 0.0; ``!= 1`` keeps 1.0)."""
COMPAT_MODES = (DOLMA_1_2,)

_DOLMA_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _dolma_equal,
    "!=": lambda a, b: not _dolma_equal(a, b),
    "<": _COMPARATORS["<"],
    "<=": _dolma_ordered(operator.lt),
    ">": _COMPARATORS[">"],
    ">=": _dolma_ordered(operator.gt),
}


_NUMERIC_OPS: dict[Callable[[Any, Any], bool], Callable[[Any, Any], bool]] = {
    _COMPARATORS["=="]: operator.eq,
    _COMPARATORS["<"]: operator.lt,
    _COMPARATORS["<="]: operator.le,
    _COMPARATORS[">"]: operator.gt,
    _COMPARATORS[">="]: operator.ge,
}
"""Comparisons that, against a number, are true only for a number in the same relation."""

# ----------------------------------------------------------------------------------------------- parser


@dataclass
class _Operand:
    """A path relative to ``@`` or ``$``, or a constant."""

    relative_to: str | None  # "@", "$" or None for a constant
    steps: tuple[Step, ...] = ()
    value: Any = None


@dataclass(frozen=True)
class Comparison:
    """A comparison of a path with a constant inside a filter, kept so that :mod:`mixers.checks` can look at
    the values it meets (a list or a string compared with a number is false for every document)."""

    context: tuple[Step, ...] | None
    """The static steps of the filtered node for ``@`` paths (``None`` after a wildcard); ``()`` for ``$``."""
    relative_to: str
    steps: tuple[Step, ...]
    operator: str
    constant: Any


@dataclass
class Path:
    """A compiled top-level JSONPath: ``select(doc)`` returns the selected nodes."""

    select: Callable[[Any], list[Any]]
    matches: Callable[[Any], bool]
    """Whether ``select`` would select anything; specialised for the usual shapes (no lists built)."""
    attribute_names: set[str] = field(default_factory=set)
    reads_all_attributes: bool = False
    comparisons: list[Comparison] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, compat: str | None = None) -> None:
        self.text = text
        self.comparators = _DOLMA_COMPARATORS if compat == DOLMA_1_2 else _COMPARATORS
        self.tokens = _lex(text)
        self.pos = 0
        self.attribute_names: set[str] = set()
        self.reads_all_attributes = False
        self.comparisons: list[Comparison] = []

    # token helpers
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek().kind == "op" and self.peek().text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> _Token:
        token = self.peek()
        if token.kind != "op" or token.text != text:
            found = repr(token.text) if token.text else "the end"
            raise ExpressionError(f"expected {text!r} but found {found}", token.column)
        return self.take()

    def fail(self, message: str) -> None:
        raise ExpressionError(message, self.peek().column)

    # grammar
    def parse_document_path(self) -> Path:
        """``$`` (or dolma's ``$@``) followed by steps and filters; the whole text must be consumed."""
        self.expect("$")
        self.accept("@")
        segments: list[Callable[[list[Any], Any], list[Any]]] = []
        keys: list[Step] = []  # static keys seen so far, to learn which attribute a filter reads
        static = True
        prefix: tuple[Step, ...] | None = None  # the static steps before a final filter
        last_filter: Predicate | None = None
        while self.peek().kind != "end":
            last_filter = None
            if self.accept("."):
                token = self.take()
                if token.kind == "name":
                    segments.append(_key_segment(token.text))
                    keys.append(token.text)
                elif token.kind == "op" and token.text == "*":
                    segments.append(_wildcard_segment)
                    self._note_wildcard(keys, static)
                    static = False
                elif token.kind == "op" and token.text == ".":
                    raise ExpressionError("recursive descent '..' is not supported", token.column)
                else:
                    raise ExpressionError("expected a field name after '.'", token.column)
            elif self.accept("["):
                if self.accept("?"):
                    has_paren = self.accept("(")
                    context = tuple(keys) if static else None
                    predicate = self.parse_or(context)
                    if has_paren:
                        self.expect(")")
                    self.expect("]")
                    segments.append(_filter_segment(predicate))
                    if static:
                        prefix, last_filter = tuple(keys), predicate
                    static = False
                elif self.accept("*"):
                    self.expect("]")
                    segments.append(_wildcard_segment)
                    self._note_wildcard(keys, static)
                    static = False
                else:
                    step = self.parse_bracket_step()
                    segments.append(_key_segment(step) if type(step) is str else _index_segment(step))  # type: ignore[arg-type]
                    keys.append(step)
            else:
                token = self.peek()
                raise ExpressionError(f"unexpected {token.text!r}", token.column)
            if static:
                self._note_attribute(tuple(keys))
        select = _chain(segments)
        if static:
            matches = _exists(tuple(keys))
        elif last_filter is not None and prefix is not None:
            matches = _filtered(prefix, last_filter)
        else:
            matches = lambda doc: len(select(doc)) > 0  # noqa: E731
        return Path(select, matches, self.attribute_names, self.reads_all_attributes, self.comparisons)

    def parse_bracket_step(self) -> Step:
        """After ``[``: an integer index or a quoted key, then ``]``."""
        token = self.take()
        if token.kind == "number" and re.fullmatch(r"-?\d+", token.text):
            self.expect("]")
            return int(token.text)
        if token.kind == "string":
            self.expect("]")
            return _unquote(token)
        raise ExpressionError("expected an integer index, a quoted key, '*' or '?(' after '['", token.column)

    def parse_or(self, context: tuple[Step, ...] | None) -> Predicate:
        terms = [self.parse_and(context)]
        while self.accept("||"):
            terms.append(self.parse_and(context))
        if len(terms) == 1:
            return terms[0]
        return lambda cur, root: any(term(cur, root) for term in terms)

    def parse_and(self, context: tuple[Step, ...] | None) -> Predicate:
        terms = [self.parse_unary(context)]
        while self.accept("&&"):
            terms.append(self.parse_unary(context))
        if len(terms) == 1:
            return terms[0]
        if len(terms) == 2:
            first, second = terms
            return lambda cur, root: first(cur, root) and second(cur, root)
        return lambda cur, root: all(term(cur, root) for term in terms)

    def parse_unary(self, context: tuple[Step, ...] | None) -> Predicate:
        if self.accept("!"):
            inner = self.parse_unary(context)
            return lambda cur, root: not inner(cur, root)
        if self.accept("("):
            inner = self.parse_or(context)
            self.expect(")")
            return inner
        return self.parse_comparison(context)

    def parse_comparison(self, context: tuple[Step, ...] | None) -> Predicate:
        left = self.parse_operand(context)
        token = self.peek()
        if token.kind == "op" and token.text in self.comparators:
            self.take()
            right = self.parse_operand(context)
            self._note_comparison(context, left, token.text, right)
            return _compare(left, self.comparators[token.text], right)
        if left.relative_to is None:
            constant = left.value is True
            return lambda cur, root: constant
        getter = _getter(left)
        return lambda cur, root: getter(cur, root) is not MISSING

    def parse_operand(self, context: tuple[Step, ...] | None) -> _Operand:
        token = self.take()
        if token.kind == "number":
            number = float(token.text)
            is_int = re.fullmatch(r"-?\d+", token.text) is not None
            return _Operand(None, value=int(token.text) if is_int else number)
        if token.kind == "string":
            return _Operand(None, value=_unquote(token))
        if token.kind == "name" and token.text in ("true", "false", "null"):
            return _Operand(None, value={"true": True, "false": False, "null": None}[token.text])
        if token.kind == "op" and token.text in ("@", "$"):
            steps = self.parse_relative_steps()
            if token.text == "$":
                self._note_attribute(steps)
            elif context is not None:
                self._note_attribute(context + steps)
            return _Operand(token.text, steps=steps)
        found = repr(token.text) if token.text else "the end"
        raise ExpressionError(f"expected a value, '@' or '$' but found {found}", token.column)

    def parse_relative_steps(self) -> tuple[Step, ...]:
        steps: list[Step] = []
        while True:
            if self.accept("."):
                token = self.take()
                if token.kind != "name":
                    raise ExpressionError("expected a field name after '.'", token.column)
                steps.append(token.text)
            elif self.peek().kind == "op" and self.peek().text == "[":
                self.take()
                steps.append(self.parse_bracket_step())
            else:
                return tuple(steps)

    # attribute bookkeeping for up-front validation
    def _note_attribute(self, keys: tuple[Step, ...]) -> None:
        if len(keys) >= 2 and keys[0] == "attributes" and type(keys[1]) is str:
            self.attribute_names.add(keys[1])

    def _note_comparison(self, context: tuple[Step, ...] | None, left: _Operand, op: str, right: _Operand) -> None:
        if left.relative_to is None and right.relative_to is not None:
            left, right, op = right, left, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if left.relative_to is not None and right.relative_to is None:
            where = () if left.relative_to == "$" else context
            self.comparisons.append(Comparison(where, left.relative_to, left.steps, op, right.value))

    def _note_wildcard(self, keys: list[Step], static: bool) -> None:
        if static and keys == ["attributes"]:
            self.reads_all_attributes = True


def _compare(left: _Operand, compare: Callable[[Any, Any], bool], right: _Operand) -> Predicate:
    if right.relative_to is None and left.relative_to == "@":
        constant = right.value
        get = make_getter(left.steps)
        numeric = _NUMERIC_OPS.get(compare)
        if numeric is not None and _is_number(constant):
            # the hot case, `@.k[0][2] >= 0.5`: follow the path, check the type, compare
            def number_test(cur: Any, root: Any) -> bool:
                value = get(cur)
                kind = type(value)
                return (kind is int or kind is float) and numeric(value, constant)

            return number_test
        return lambda cur, root: compare(get(cur), constant)
    get_left, get_right = _getter(left), _getter(right)
    return lambda cur, root: compare(get_left(cur, root), get_right(cur, root))


def _getter(operand: _Operand) -> Callable[[Any, Any], Any]:
    if operand.relative_to is None:
        value = operand.value
        return lambda cur, root: value
    get = make_getter(operand.steps)
    if operand.relative_to == "@":
        return lambda cur, root: get(cur)
    return lambda cur, root: get(root)


Segment = Callable[[list[Any], Any], list[Any]]


def _key_segment(key: str) -> Segment:
    def select(nodes: list[Any], root: Any) -> list[Any]:
        return [node[key] for node in nodes if type(node) is dict and key in node]

    return select


def _index_segment(index: int) -> Segment:
    def select(nodes: list[Any], root: Any) -> list[Any]:
        return [node[index] for node in nodes if type(node) is list and -len(node) <= index < len(node)]

    return select


def _wildcard_segment(nodes: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    for node in nodes:
        if type(node) is dict:
            out.extend(node.values())
        elif type(node) is list:
            out.extend(node)
    return out


def _filter_segment(predicate: Predicate) -> Segment:
    def select(nodes: list[Any], root: Any) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if type(node) is list:
                out.extend(item for item in node if predicate(item, root))
            elif predicate(node, root):
                out.append(node)
        return out

    return select


def _exists(steps: tuple[Step, ...]) -> Callable[[Any], bool]:
    get = make_getter(steps)
    return lambda doc: get(doc) is not MISSING


def _filtered(steps: tuple[Step, ...], predicate: Predicate) -> Callable[[Any], bool]:
    """``$.a.b[?(pred)]``: test the predicate on the node, or on each element of a list node."""

    get = make_getter(steps)

    def matches(doc: Any) -> bool:
        node = get(doc)
        if node is MISSING:
            return False
        if type(node) is list:
            return any(predicate(item, doc) for item in node)
        return predicate(node, doc)

    return matches


def _chain(segments: list[Segment]) -> Callable[[Any], list[Any]]:
    def select(doc: Any) -> list[Any]:
        nodes = [doc]
        for segment in segments:
            nodes = segment(nodes, doc)
            if not nodes:
                return nodes
        return nodes

    return select


def compile_path(text: str, compat: str | None = None) -> Path:
    """Parse a JSONPath expression once; errors say what was expected and at which column. ``compat`` is
    None (numbers compare by value) or ``dolma-1.2`` (as allenai/dolma 1.2.1 compares them)."""
    parser = _Parser(text.strip(), compat)
    if not parser.text:
        raise ExpressionError("empty expression", 1)
    return parser.parse_document_path()


# --------------------------------------------------------------------------------------------------- jq

_JQ_ATTRIBUTE = re.compile(r"\.attributes\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*\"([^\"]+)\"\s*\])")


JQ_SANDBOX = "def env: {}; {} as $ENV | "
"""Prefixed to every jq program: ``env`` and ``$ENV`` would read the process environment (AWS keys: an
``error(env.AWS_SECRET_ACCESS_KEY)`` printed the secret); here both are empty. ``import``/``include``
(which read files) cannot follow the prefix, so they no longer compile."""
JQ_TIME_LIMIT = 10.0
"""Seconds a jq filter may spend on one document, checked between its results (``repeat``, ``range``...)."""
JQ_HARD_LIMIT = 30
"""Seconds after which a filter stuck inside libjq without yielding (Python cannot interrupt it) ends the
process with SIGALRM; the run then fails naming the shard, and a rerun resumes."""


def _compile_jq(text: str) -> Any:
    import jq

    try:
        return jq.compile(f"{JQ_SANDBOX}({text}\n)")
    except ValueError as exc:
        message = str(exc).replace("\n", " ")
        raise ConfigError(f"jq expression does not compile: {message}") from None


def _jq_results(program: Any, text: str, doc: dict[str, Any]) -> list[Any]:
    """Every result of ``program`` on ``doc``, within :data:`JQ_TIME_LIMIT`; a jq runtime error or the time
    limit is a :class:`FilterError` naming the filter and the document."""
    deadline = time.monotonic() + JQ_TIME_LIMIT
    hard = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL  # else the alarm is someone else's (a test's)
    if hard:
        signal.setitimer(signal.ITIMER_REAL, JQ_HARD_LIMIT)  # SIGALRM's default action ends the process
    try:
        results = []
        for value in program.input_value(doc):
            results.append(value)
            if time.monotonic() > deadline:
                raise FilterError(
                    f"jq filter {text!r} exceeded its time limit of {JQ_TIME_LIMIT:g} s on document {doc['id']!r}"
                )
        return results
    except ValueError as exc:
        message = str(exc).replace("\n", " ")[:200]
        raise FilterError(f"jq filter {text!r} failed on document {doc['id']!r}: {message}") from None
    finally:
        if hard:
            signal.setitimer(signal.ITIMER_REAL, 0)


def _jq_truthy(value: Any) -> bool:
    """dolma's reading of a jq result: null, false, 0, "" and empty arrays/objects are false."""
    if value is None or value is False:
        return False
    if _is_number(value):
        return bool(value != 0)
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def compile_jq_path(text: str) -> Path:
    """A jq program used as a span path (``span_replacement[].syntax: jq``), read as dolma reads it: no result
    selects nothing, one result is the node, several results are one node listing them."""
    program = _compile_jq(text)

    def select(doc: Any) -> list[Any]:
        results = program.input_value(doc).all()
        if not results:
            return []
        return [results[0]] if len(results) == 1 else [results]

    names = {a or b for a, b in _JQ_ATTRIBUTE.findall(text)}
    return Path(select, lambda doc: bool(select(doc)), names, True)


# ----------------------------------------------------------------------------------------- expressions


@dataclass
class Expression:
    """One include/exclude expression, ready to test documents (a dict with merged ``attributes``)."""

    text: str
    syntax: str
    attribute_names: set[str]
    reads_all_attributes: bool
    matches: Callable[[dict[str, Any]], bool]
    """As an include: for jq, every result is true (and there is at least one)."""
    matches_any: Callable[[dict[str, Any]], bool]
    """As an exclude: for jq, any result is true (dolma reads the two directions differently)."""
    comparisons: list[Comparison] = field(default_factory=list)
    """JSONPath comparisons with constants (none are recorded for jq)."""


def compile_expression(text: str, syntax: str, compat: str | None = None) -> Expression:
    if syntax == "jsonpath":
        path = compile_path(text, compat)
        return Expression(
            text, syntax, path.attribute_names, path.reads_all_attributes, path.matches, path.matches, path.comparisons
        )
    if syntax == "jq":
        program = _compile_jq(text)
        names = {a or b for a, b in _JQ_ATTRIBUTE.findall(text)}

        def every(doc: dict[str, Any]) -> bool:
            results = _jq_results(program, text, doc)
            return bool(results) and all(_jq_truthy(value) for value in results)

        def some(doc: dict[str, Any]) -> bool:
            return any(_jq_truthy(value) for value in _jq_results(program, text, doc))

        return Expression(text, syntax, names, True, every, some)
    raise ConfigError(f"unknown syntax {syntax!r}: use jsonpath or jq")


class DocumentFilter:
    """dolma's include/exclude logic: keep when any include matches (or there is none) and no exclude
    matches. :meth:`rule` returns ``None`` to keep, else the name of the rule that dropped the document."""

    def __init__(self, include: list[str], exclude: list[str], syntax: str, compat: str | None = None) -> None:
        self.include = [compile_expression(text, syntax, compat) for text in include]
        self.exclude = [compile_expression(text, syntax, compat) for text in exclude]
        self.exclude_rules = [f"filter.exclude[{i}]" for i in range(len(self.exclude))]

    def rule(self, doc: dict[str, Any]) -> str | None:
        if self.include and not any(expr.matches(doc) for expr in self.include):
            return "filter.include"
        for expr, name in zip(self.exclude, self.exclude_rules, strict=True):
            if expr.matches_any(doc):
                return name
        return None

    @property
    def expressions(self) -> list[Expression]:
        return self.include + self.exclude

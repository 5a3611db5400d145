"""Metric selector parsing for GET /api/v2/metrics/query (docs/reference/dynatrace-api.md 3.3):
`key(:transformation)*`, several selectors separated by top-level commas.
Syntax errors raise the real 400 "Metric selector parse error" envelope."""

import re

from dtsim_common import ApiError

AGGREGATIONS = ("avg", "sum", "min", "max", "count", "value", "median", "auto")
# Transformations the simulator implements.
IMPLEMENTED = set(AGGREGATIONS) | {"percentile", "splitBy", "merge", "fold", "toUnit", "default", "limit"}
# Transformations accepted and ignored, with a warning in the answer.
IGNORED = {"filter", "sort", "names", "parents", "last", "lastReal", "rollup", "smooth", "rate",
           "delta", "timeshift", "partition", "setUnit"}

_NAME = re.compile(r"^([A-Za-z]+)(?:\((.*)\))?$", re.S)


def parse_error():
    return ApiError(400, "Metric selector parse error")


def split_top(text, sep):
    """Splits at `sep` outside parentheses and double quotes; ValueError if unbalanced."""
    parts, depth, quoted, start = [], 0, False, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "~":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced ')'")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted or depth != 0:
        raise ValueError("unbalanced quote or '('")
    parts.append(text[start:])
    return parts


def _unquote(arg):
    arg = arg.strip()
    if len(arg) >= 2 and arg[0] == '"' and arg[-1] == '"':
        return arg[1:-1].replace('~"', '"').replace("~~", "~")
    return arg


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise parse_error()


class MetricQuery:
    """One parsed selector: the metric key and what to do with its series."""

    def __init__(self, text, key):
        self.text = text
        self.key = key
        self.aggregation = None      # avg, sum, ..., percentile(95); None = metric default
        self.collapse = False        # splitBy() / merge of the entity dimension
        self.split_keys = []         # dimension keys named by splitBy/merge
        self.fold = None             # None, or the aggregation to fold with ('' = current)
        self.to_unit = None          # (from, to)
        self.default = None          # value for null slots
        self.limit = None
        self.ignored = []            # transformation texts accepted and ignored

    def apply(self, token):
        match = _NAME.match(token.strip())
        if not match:
            raise parse_error()
        name, inner = match.group(1), match.group(2)
        try:
            args = [_unquote(a) for a in split_top(inner, ",")] if inner and inner.strip() else []
        except ValueError:
            raise parse_error()
        if name in IGNORED:
            self.ignored.append(":" + token.strip())
            return
        if name not in IMPLEMENTED:
            raise parse_error()
        getattr(self, "_t_" + name, self._t_aggregation)(name, args)

    def _t_aggregation(self, name, args):
        if args:
            raise parse_error()
        self.aggregation = name

    def _t_percentile(self, _name, args):
        if len(args) != 1:
            raise parse_error()
        value = _number(args[0])
        if not 0 <= value <= 100:
            raise parse_error()
        self.aggregation = "percentile(%s)" % (int(value) if value == int(value) else value)

    def _t_splitBy(self, _name, args):
        self.split_keys.extend(args)
        self.collapse = len(args) == 0

    def _t_merge(self, _name, args):
        if not args:
            raise parse_error()
        self.split_keys.extend(args)
        self.collapse = True

    def _t_fold(self, _name, args):
        if len(args) > 1 or (args and args[0] not in AGGREGATIONS and not args[0].startswith("percentile")):
            raise parse_error()
        self.fold = args[0] if args else ""

    def _t_toUnit(self, _name, args):
        if len(args) != 2 or not all(args):
            raise parse_error()
        self.to_unit = (args[0], args[1])

    def _t_default(self, _name, args):
        if len(args) != 1:
            raise parse_error()
        self.default = _number(args[0])

    def _t_limit(self, _name, args):
        if len(args) != 1 or not args[0].isdigit():
            raise parse_error()
        self.limit = int(args[0])


def _looks_like_transform(token):
    match = _NAME.match(token.strip())
    return bool(match) and (match.group(1) in IMPLEMENTED or match.group(1) in IGNORED)


def _split_key(tokens, known_keys):
    """Index where transformations start: prefer a key the scenario knows; after
    a known key every token must be a transformation."""
    for cut in range(len(tokens), 0, -1):
        if ":".join(tokens[:cut]) in known_keys:
            if not all(_looks_like_transform(t) for t in tokens[cut:]):
                raise parse_error()
            return cut
    for cut in range(1, len(tokens) + 1):
        if all(_looks_like_transform(t) for t in tokens[cut:]):
            return cut
    return len(tokens)


def parse_one(text, known_keys):
    text = text.strip()
    try:
        tokens = split_top(text, ":")
    except ValueError:
        raise parse_error()
    if not text or any(t.strip() == "" for t in tokens):
        raise parse_error()
    cut = _split_key(tokens, known_keys)
    key = ":".join(tokens[:cut])
    if not re.match(r"^[A-Za-z0-9_.\-:~]+$", key):
        raise parse_error()
    query = MetricQuery(text, key)
    for token in tokens[cut:]:
        query.apply(token)
    return query


def parse_metric_selector(text, known_keys):
    """A list of MetricQuery, one per comma-separated selector."""
    try:
        parts = split_top(text, ",")
    except ValueError:
        raise parse_error()
    return [parse_one(part, known_keys) for part in parts]

"""Tag strings and selector expressions: `[context]key:value` tags (v1 `tag=`),
entitySelector, problemSelector and eventSelector (docs/reference/dynatrace-api.md 5 and 6).
Selectors are comma-separated conditions `name(arg,...)`; values may be quoted
with double quotes, `~` escapes a quote or a tilde inside quotes."""

from dtsim_common import constraints, entity_type_of
from dtsim_metricsel import split_top


# ---- tags -------------------------------------------------------------------

def _split_unescaped(text, sep):
    """Splits at the first `sep` not preceded by a backslash; unescapes `\\x`."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            return "".join(out), text[i + 1:]
        out.append(ch)
        i += 1
    return "".join(out), None


def _unescape(text):
    return text.replace("\\:", ":").replace("\\\\", "\\") if text is not None else None


def parse_tag(text):
    """'[Environment]DEPLOYMENT_GROUP_NAME:Staging' -> ('Environment', key, value).
    Without brackets the context is CONTEXTLESS; without ':' the value is None."""
    context = "CONTEXTLESS"
    rest = text
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in tag '%s'" % text)
        context = text[1:end]
        rest = text[end + 1:]
    key, value = _split_unescaped(rest, ":")
    if key == "":
        raise ValueError("empty key in tag '%s'" % text)
    return context, key, _unescape(value)


def tag_matches(entity_tags, wanted):
    """True when one of the entity's {context,key,value} tags satisfies wanted.
    Contexts compare case-insensitively (the original sent [Environment])."""
    context, key, value = wanted
    for tag in entity_tags or []:
        if (tag.get("context") or "CONTEXTLESS").upper() != context.upper():
            continue
        if tag.get("key") != key:
            continue
        if value is None or tag.get("value") == value:
            return True
    return False


def tag_string(tag):
    """{context,key,value} -> stringRepresentation as the v2 API writes it."""
    def esc(text):
        return text.replace("\\", "\\\\").replace(":", "\\:")
    context = tag.get("context") or "CONTEXTLESS"
    text = "" if context == "CONTEXTLESS" else "[%s]" % context
    text += esc(tag["key"])
    if tag.get("value") is not None:
        text += ":" + esc(str(tag["value"]))
    return text


# ---- selector syntax ----------------------------------------------------------

def _split_top(text, param):
    """Splits at commas outside parentheses and quotes (the same scanner as
    metric selectors), with the entity selector's error envelope."""
    try:
        return [part.strip() for part in split_top(text, ",")]
    except ValueError as err:
        raise constraints(param, "Unbalanced or unterminated selector: %s" % err)


def unquote(value):
    """'"a~"b"' -> 'a"b'; unquoted values are trimmed."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner, out, i = value[1:-1], [], 0
        while i < len(inner):
            if inner[i] == "~" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
                continue
            out.append(inner[i])
            i += 1
        return "".join(out)
    return value


def parse_selector(text, param):
    """'type(SERVICE),tag("a:b")' -> [('type', ['SERVICE']), ('tag', ['"a:b"'])].
    Arguments stay raw (quoted) so nested selectors can be parsed again."""
    if text is None or text.strip() == "":
        raise constraints(param, "must not be empty")
    conditions = []
    for part in _split_top(text, param):
        open_at = part.find("(")
        if open_at <= 0 or not part.endswith(")"):
            raise constraints(param, "Invalid condition '%s': expected name(value)" % part)
        name = part[:open_at].strip()
        inner = part[open_at + 1:-1]
        args = _split_top(inner, param) if inner.strip() != "" else []
        conditions.append((name, args))
    return conditions


# ---- entity selector ----------------------------------------------------------

_NAME_MATCHERS = {
    "entityName": lambda name, arg: arg.lower() in name.lower(),
    "entityName.contains": lambda name, arg: arg.lower() in name.lower(),
    "entityName.equals": lambda name, arg: name == arg,
    "entityName.startsWith": lambda name, arg: name.lower().startswith(arg.lower()),
}


def _related(rel_map, rel):
    """Ids under relationship `rel`; v2 names extend the v1 ones (runsOn...)."""
    ids = []
    for name, values in (rel_map or {}).items():
        if name == rel or rel.startswith(name) or name.startswith(rel):
            ids.extend(values if isinstance(values, list) else [])
    return ids


class EntitySelector:
    """A parsed entitySelector that can test entities of the scenario."""

    def __init__(self, text, entities, param="entitySelector"):
        self.param = param
        self.entities = entities
        parsed = parse_selector(text, param)
        names = [name for name, _ in parsed]
        if "type" not in names and "entityId" not in names:
            raise constraints(param, "The entity selector must contain a type(...) or entityId(...) condition")
        self.conditions = [self._compile(name, args) for name, args in parsed]
        self.types = [unquote(a).upper() for name, args in parsed if name == "type" for a in args]

    def _compile(self, name, args):
        values = [unquote(a) for a in args]
        if not values and not name.startswith(("toRelationship", "fromRelationship")):
            raise constraints(self.param, "Condition %s() needs a value" % name)
        if name == "type":
            return lambda e: e["_type"] in [v.upper() for v in values]
        if name == "entityId":
            return lambda e: e["entityId"] in values
        if name == "tag":
            try:
                tags = [parse_tag(v) for v in values]
            except ValueError as err:
                raise constraints(self.param, str(err))
            return lambda e: any(tag_matches(e.get("tags"), t) for t in tags)
        if name == "mzId":
            return lambda e: any(str(z.get("id")) in values for z in e.get("managementZones") or [])
        if name == "mzName":
            return lambda e: any(z.get("name") in values for z in e.get("managementZones") or [])
        if name in _NAME_MATCHERS:
            test = _NAME_MATCHERS[name]
            return lambda e: any(test(e.get("displayName") or "", v) for v in values)
        if name == "releasesVersion":
            return lambda e: str(e.get("releasesVersion", (e.get("properties") or {}).get("releasesVersion"))) in values
        for prefix in ("toRelationship.", "toRelationships.", "fromRelationship.", "fromRelationships."):
            if name.startswith(prefix):
                return self._relationship(prefix.startswith("to"), name[len(prefix):], args)
        raise constraints(self.param, "Unknown condition '%s'" % name)

    def _relationship(self, incoming, rel, args):
        if len(args) == 0:
            raise constraints(self.param, "Relationship condition needs a nested selector")
        nested = EntitySelector(",".join(args), self.entities, self.param)

        def test(entity):
            own = "toRelationships" if incoming else "fromRelationships"
            other = "fromRelationships" if incoming else "toRelationships"
            for peer in self.entities.values():
                if not nested.matches(peer):
                    continue
                if peer["entityId"] in _related(entity.get(own), rel):
                    return True
                if entity["entityId"] in _related(peer.get(other), rel):
                    return True
            return False
        return test

    def matches(self, entity):
        return all(cond(entity) for cond in self.conditions)

    def select(self):
        """Matching entities in scenario order."""
        return [e for e in self.entities.values() if self.matches(e)]


def entity_type(entity):
    return entity.get("_type") or entity_type_of(entity["entityId"])


def zone_filter(text, param="mzSelector"):
    """A predicate on entities for mzSelector: mzId(...) and/or mzName(...)."""
    wanted = simple_selector(text, param, {"mzId": False, "mzName": False})

    def test(entity):
        zones = entity.get("managementZones") or []
        return all(any(str(z.get("id" if name == "mzId" else "name")) in values for z in zones)
                   for name, values in wanted.items())
    return test


# ---- problem and event selectors ------------------------------------------------

def simple_selector(text, param, allowed):
    """{'status': ['OPEN']} from 'status(open)'; names must be in `allowed`.
    Values are upper-cased for the enumerations in `allowed` marked True."""
    result = {}
    for name, args in parse_selector(text, param):
        if name not in allowed:
            raise constraints(param, "Unknown condition '%s'" % name)
        values = [unquote(a) for a in args]
        if allowed[name]:
            values = [v.upper() for v in values]
        result.setdefault(name, []).extend(values)
    return result

"""OpenAPI v3 validation of custom resources, the way kube-apiserver does it.

A real server validates every custom-resource write (create, update, patch of any type, /status) against the CRD's
structural schema with go-openapi's validator (apiextensions-apiserver/pkg/apiserver/validation) and then checks
`x-kubernetes-list-type` (pkg/apiserver/schema/listtype). This module reproduces both, with the messages those
packages produce, and the version-dependent parts:

* paths: go-openapi names array items `spec.tasks.0.name` (before 1.24; `spec.tasks[0].name` from 1.24 on);
  list-type errors always use `spec.tasks[1]` (they come from field.Path);
* cause reasons: before 1.24 everything but Required/Unsupported is `FieldValueInvalid`; from 1.24 on type errors
  are `FieldValueTypeInvalid`, maxLength `FieldValueTooLong`, maxItems `FieldValueTooMany`;
* nulls: 1.19 validates them (a null for a field that is not `nullable` is a type error); from 1.20 on they are
  pruned (or defaulted) before validation: see prune_nulls;
* kubernetes/kubernetes#99804 (servers built from 1.16-1.20 sources with Go >= 1.16, fixed in 1.21): go-openapi's
  type check mistook every `""` for a null, so an empty string in any typed, non-nullable field is refused with
  `Invalid value: "null": <f> in body must be of type string: "null"` (`reject_empty`, only before 1.21).

`validate()` returns causes as (reason, field, message) for kutil.invalid(). Not implemented: allOf/oneOf/anyOf/not
(the CRDs here use anyOf only beside x-kubernetes-int-or-string, whose type check covers it), multipleOf,
min/maxProperties, formats other than date-time and date (a real server does not range-check int32/int64 either:
go-openapi's format validators apply to strings only).
"""
import datetime
import json
import re

MODERN = (1, 24)       # first version with the TooLong/TooMany/TypeInvalid causes and [i] item paths (approximate)
PRUNES_NULLS = (1, 20)
EMPTY_STRING_FIXED = (1, 21)


class Validator:
    def __init__(self, ver=(1, 19), reject_empty=False):
        self.ver = tuple(ver)
        self.modern = self.ver >= MODERN
        self.reject_empty = bool(reject_empty) and self.ver < EMPTY_STRING_FIXED
        self.errs = []

    # --- results --------------------------------------------------------------------------------------
    def _add(self, reason, path, message):
        self.errs.append((reason, path, message))

    def _invalid(self, path, value, detail, modern_reason="FieldValueInvalid"):
        self._add(modern_reason if self.modern else "FieldValueInvalid", path,
                  "Invalid value: %s: %s" % (go_value(value), detail))

    # --- paths ----------------------------------------------------------------------------------------
    @staticmethod
    def _child(path, name):
        return path + "." + name if path else name

    def _item(self, path, i):
        return "%s[%d]" % (path, i) if self.modern else "%s.%d" % (path, i)

    # --- the go-openapi schema validator: type, string, format, number, slice, enum, object -------------
    def check(self, v, s, path):
        if not isinstance(s, dict):
            return
        types = schema_types(s)
        if v is None:
            if types and "null" not in types and not s.get("nullable"):
                self._type_error(path, types, "null")
            self._enum(v, s, path)
            return
        if isinstance(v, str) and v == "" and self.reject_empty and types and not s.get("nullable"):
            self._type_error(path, types, "null")      # kubernetes#99804: "" taken for a null
        elif types:
            t = json_type(v)
            ok = t in types or (t == "number" and "integer" in types and float(v).is_integer()) or \
                (t == "integer" and "number" in types)
            if not ok:
                self._type_error(path, types, t)
        if isinstance(v, str):
            self._string(v, s, path)
            self._format(v, s, path)
        if json_type(v) in ("integer", "number"):
            self._number(v, s, path)
        if isinstance(v, list):
            self._slice(v, s, path)
        self._enum(v, s, path)
        if isinstance(v, dict):
            self._object(v, s, path)

    def _type_error(self, path, types, given):
        self._invalid(path, given, '%s in body must be of type %s: "%s"' % (path, ",".join(types), given),
                      "FieldValueTypeInvalid")

    def _string(self, v, s, path):
        n = len(v)
        if "maxLength" in s and n > s["maxLength"]:
            if self.modern:
                self._add("FieldValueTooLong", path, "Too long: may not be longer than %d" % s["maxLength"])
            else:
                self._invalid(path, v, "%s in body should be at most %d chars long" % (path, s["maxLength"]))
        elif "minLength" in s and n < s["minLength"]:
            self._invalid(path, v, "%s in body should be at least %d chars long" % (path, s["minLength"]))
        elif s.get("pattern") and not _regex(s["pattern"]).search(v):
            self._invalid(path, v, "%s in body should match '%s'" % (path, s["pattern"]))

    def _format(self, v, s, path):
        f = s.get("format")
        check = FORMATS.get(f)
        if check and not check(v):
            self._invalid(path, v, '%s in body must be of type %s: %s' % (path, f, go_quote(v)), "FieldValueTypeInvalid")

    def _number(self, v, s, path):
        if "maximum" in s:
            m = s["maximum"]
            if s.get("exclusiveMaximum") and not v < m:
                return self._invalid(path, v, "%s in body should be less than %s" % (path, go_num(m)))
            if not s.get("exclusiveMaximum") and not v <= m:
                return self._invalid(path, v, "%s in body should be less than or equal to %s" % (path, go_num(m)))
        if "minimum" in s:
            m = s["minimum"]
            if s.get("exclusiveMinimum") and not v > m:
                return self._invalid(path, v, "%s in body should be greater than %s" % (path, go_num(m)))
            if not s.get("exclusiveMinimum") and not v >= m:
                return self._invalid(path, v, "%s in body should be greater than or equal to %s" % (path, go_num(m)))

    def _slice(self, v, s, path):
        items = s.get("items")
        if isinstance(items, dict):
            for i, x in enumerate(v):
                self.check(x, items, self._item(path, i))
        if "minItems" in s and len(v) < s["minItems"]:
            self._invalid(path, len(v), "%s in body should have at least %d items" % (path, s["minItems"]))
        if "maxItems" in s and len(v) > s["maxItems"]:
            if self.modern:
                self._add("FieldValueTooMany", path, "Too many: %d: must have at most %d items" % (len(v), s["maxItems"]))
            else:
                self._invalid(path, len(v), "%s in body should have at most %d items" % (path, s["maxItems"]))
        if s.get("uniqueItems") and len({json.dumps(x, sort_keys=True) for x in v}) < len(v):
            self._invalid(path, v, "%s in body shouldn't contain duplicates" % path)

    def _enum(self, v, s, path):
        enum = s.get("enum")
        if not isinstance(enum, list) or not enum or any(_same(v, e) for e in enum):
            return
        allowed = ", ".join(go_quote(e if isinstance(e, str) else json.dumps(e)) for e in enum)
        shown = go_quote("null") if v is None else go_value(v)
        self._add("FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s" % (shown, allowed))

    def _object(self, v, s, path):
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        for k, sub in props.items():
            if k in v:
                self.check(v[k], sub, self._child(path, k))
        if isinstance(addl, dict):
            for k in v:
                if k not in props:
                    self.check(v[k], addl, self._child(path, k))
        for k in s.get("required") or []:
            if k not in v:
                self._add("FieldValueRequired", self._child(path, k), "Required value")

    # --- x-kubernetes-list-type (listtype.ValidateListSetsAndMaps; field.Path syntax) ----------------------
    def list_types(self, v, s, path):
        if not isinstance(s, dict):
            return
        if isinstance(v, dict):
            props = s.get("properties") or {}
            addl = s.get("additionalProperties")
            for k, x in v.items():
                sub = props.get(k, addl if isinstance(addl, dict) else None)
                if sub is not None:
                    self.list_types(x, sub, self._child(path, k))
        elif isinstance(v, list):
            lt = s.get("x-kubernetes-list-type")
            if lt == "set":
                seen = set()
                for i, x in enumerate(v):
                    key = json.dumps(x, sort_keys=True)
                    if key in seen:
                        self._add("FieldValueDuplicate", "%s[%d]" % (path, i), "Duplicate value: %s" % go_value(x))
                    seen.add(key)
            elif lt == "map":
                keys = s.get("x-kubernetes-list-map-keys") or []
                item_props = ((s.get("items") or {}).get("properties")) or {}
                seen = set()
                for i, x in enumerate(v):
                    if not isinstance(x, dict):
                        continue
                    kv = {}
                    for k in keys:
                        if k in x:
                            kv[k] = x[k]
                        elif "default" in (item_props.get(k) or {}):
                            kv[k] = item_props[k]["default"]
                    key = json.dumps(kv, sort_keys=True)
                    if key in seen:
                        self._add("FieldValueDuplicate", "%s[%d]" % (path, i), "Duplicate value: %s" % go_value(kv))
                    seen.add(key)
            items = s.get("items")
            if isinstance(items, dict):
                for i, x in enumerate(v):
                    self.list_types(x, items, "%s[%d]" % (path, i))


def validate(obj, schema, ver=(1, 19), reject_empty=False):
    """Causes (reason, field, message) for a custom resource `obj` (whole object; metadata is not checked here)."""
    if not isinstance(schema, dict) or not isinstance(obj, dict):
        return []
    body = {k: v for k, v in obj.items() if k != "metadata"}
    val = Validator(ver, reject_empty)
    top = dict(schema)
    top["properties"] = {k: p for k, p in (schema.get("properties") or {}).items() if k != "metadata"}
    val.check(body, top, "")
    val.list_types(body, top, "")
    return val.errs


def prune_nulls(obj, schema, top=True):
    """From 1.20 on: a null for a field that is not `nullable` is dropped (or replaced by its `default`) before
    defaulting and validation. Only fields the schema declares; unknown fields kept by
    x-kubernetes-preserve-unknown-fields keep their nulls. Edits in place, returns obj."""
    if not isinstance(schema, dict):
        return obj
    if isinstance(obj, dict):
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k in list(obj.keys()):
            if top and k == "metadata":
                continue
            sub = props.get(k, addl if isinstance(addl, dict) else None)
            if not isinstance(sub, dict):
                continue
            if obj[k] is None and not sub.get("nullable"):
                if "default" in sub:
                    obj[k] = json.loads(json.dumps(sub["default"]))
                else:
                    del obj[k]
                    continue
            prune_nulls(obj[k], sub, False)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for x in obj:
            prune_nulls(x, schema["items"], False)
    return obj


# --- helpers -------------------------------------------------------------------------------------------
def schema_types(s):
    if s.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    t = s.get("type")
    if isinstance(t, list):
        return [str(x) for x in t]
    return [t] if t else []


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _same(a, b):
    """reflect.DeepEqual of decoded JSON values (numbers compare by value)."""
    ta, tb = json_type(a), json_type(b)
    if ta in ("integer", "number") and tb in ("integer", "number"):
        return a == b
    return ta == tb and a == b


_RX = {}


def _regex(p):
    rx = _RX.get(p)
    if rx is None:
        try:
            rx = re.compile(p)
        except re.error:
            rx = re.compile(r"(?!)")
        _RX[p] = rx
    return rx


_DATE_TIME_RX = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")


def is_date(s):
    try:
        datetime.datetime.strptime(s, "%Y-%m-%d")
        return len(s) == 10
    except ValueError:
        return False


def is_date_time(s):
    """strfmt.IsDateTime: a date, 't', then hh:mm:ss[.frac] and a zone (z or +hh:mm), case-insensitive."""
    if len(s) < 4:
        return False
    parts = s.lower().split("t")
    if len(parts) < 2 or not is_date(parts[0]):
        return False
    m = _DATE_TIME_RX.match(parts[1])
    return bool(m) and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


FORMATS = {"date-time": is_date_time, "datetime": is_date_time, "date": is_date}


def go_quote(s):
    """strconv.Quote, near enough (JSON escaping, \\x00-style control characters)."""
    out = json.dumps(s, ensure_ascii=False)
    return re.sub(r"\\u00([0-7][0-9a-f])", lambda m: "\\x" + m.group(1), out)


def go_num(n):
    """%v of a float64/int64."""
    if isinstance(n, bool):
        return "true" if n else "false"
    if isinstance(n, float):
        if n.is_integer() and abs(n) < 1e21:
            return str(int(n))
        return repr(n)
    return str(n)


def go_value(v):
    """How field.Error.ErrorBody prints a bad value: %q for strings, %v for numbers and booleans, %#v otherwise."""
    if v is None:
        return go_quote("null")
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, (bool, int, float)):
        return go_num(v)
    return go_sharp(v)


def go_sharp(v):
    """%#v of decoded JSON (map[string]interface {} / []interface {})."""
    if v is None:
        return "interface {}(nil)"
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, (bool, int, float)):
        return go_num(v)
    if isinstance(v, list):
        return "[]interface {}{%s}" % ", ".join(go_sharp(x) for x in v)
    return "map[string]interface {}{%s}" % ", ".join("%s:%s" % (go_quote(k), go_sharp(v[k])) for k in sorted(v))

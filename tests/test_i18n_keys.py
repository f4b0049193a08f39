"""Every text key the WebUI asks for exists in English and 中文, dynamic ones included.

The webui sources are parsed; each key given to `t(key, ...)` or `ctx.relabel(component, key)`
is resolved to the values it can take: a literal; both sides of `a if c else b`; a loop
variable over a literal or a module constant (`for key, text in (("a", "x"), ...)`, `SWITCH`
keys, `list(COLUMNS)`); a lambda default bound to one of those; the values named by a guard
`key if key in ("user", ...)`. An f-string whose part cannot be resolved that way
(`t(f"tab_{name}")`) must be listed in DYNAMIC with the set its part comes from, or, where the
set is open by design, be guarded by `if <key> in TEXT` (its fallback is the plain name)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

from core.config import GROUPS
from core.evaluate.compare import TRAINING
from core.runs.alarms import EVAL_CHECKS, TRAIN_CHECKS
from core.runs.progress import PHASES, UNITS
from core.runs.rundir import STATES
from webui import i18n, tabs
from webui.tabs import chat_settings

# f-string keys whose part comes from elsewhere: pattern -> every value of the part, or None
# for an open set whose lookup must be guarded by `in TEXT`.
DYNAMIC = {
    "tab_{}": tabs.TABS,
    "group_{}": tuple(GROUPS),
    "state_{}": STATES,
    "gen_{}": tuple(chat_settings.FIELDS),
    "gen_{}_info": None,  # a hint for some generation settings only
    "metric_{}": None,  # any metric key; unknown ones show their own label
    "alarm_{}": tuple(check[0] for check in TRAIN_CHECKS + EVAL_CHECKS),  # every alarm's title
    "summary_{}": tuple(key for key, _ in TRAINING),  # core.evaluate.compare's training rows
    "phase_{}": tuple(PHASES),  # a run's set-up phases before its first step
    "phase_count_{}": (*UNITS.values(), "items"),  # what a phase counts (render.phase_text)
}
# Functions whose key parameter is checked where they are called.
PASSTHROUGH = {("context.py", "relabel")}
SCOPES = (ast.FunctionDef, ast.Lambda)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class Unresolved(Exception):
    pass


class Source:
    """One webui module and the values its key expressions can take."""

    def __init__(self, path: Path, code: str | None = None):
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8") if code is None else code)
        self.parent = {c: p for p in ast.walk(self.tree) for c in ast.iter_child_nodes(p)}

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{node.lineno}"

    # --- key expressions -------------------------------------------------------------------
    def values(self, expr: ast.AST, at: ast.AST | None = None) -> set[str]:
        """Every string `expr` can be where it stands (`at`: the node it is evaluated in)."""
        at = at or expr
        if isinstance(expr, ast.JoinedStr):
            return self.fstring(expr, at)
        guard = self.guard(expr, at)
        if guard is not None:
            return guard
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            return self.values(expr.body, at) | self.values(expr.orelse, at)
        if isinstance(expr, ast.Name):
            return self.name(expr.id, at)
        raise Unresolved(f"{self.where(expr)}: cannot tell the values of {ast.unparse(expr)}")

    def fstring(self, expr: ast.JoinedStr, at: ast.AST) -> set[str]:
        """Its part resolved where it stands, else the DYNAMIC set (checked in full even when
        the lookup is guarded), else, for an open set, nothing when guarded by `in TEXT`."""
        parts = [p for p in expr.values if isinstance(p, ast.FormattedValue)]
        pattern = "".join("{}" if isinstance(p, ast.FormattedValue) else p.value
                          for p in expr.values)
        if len(parts) == 1:
            try:
                return {pattern.format(v) for v in self.values(parts[0].value, at)}
            except Unresolved:
                pass
        if DYNAMIC.get(pattern) is not None:
            return {pattern.format(v) for v in DYNAMIC[pattern]}
        guard = self.guard(expr, at)
        if guard is not None:
            return guard
        if pattern in DYNAMIC:
            raise Unresolved(f"{self.where(expr)}: {pattern!r} takes open values; guard it "
                             "with `if <key> in TEXT`")
        raise Unresolved(f"{self.where(expr)}: f-string key {pattern!r}; list the values of "
                         f"its part in DYNAMIC ({__file__})")

    def guard(self, expr: ast.AST, at: ast.AST) -> set[str] | None:
        """The values allowed by an enclosing `... if <expr> in <collection> else ...`."""
        node = at
        while node in self.parent:
            parent = self.parent[node]
            if isinstance(parent, ast.IfExp) and node is parent.body:
                test = parent.test
                if (isinstance(test, ast.Compare) and len(test.ops) == 1
                        and isinstance(test.ops[0], ast.In)
                        and ast.dump(test.left) == ast.dump(expr)):
                    collection = test.comparators[0]
                    if isinstance(collection, ast.Name) and collection.id == "TEXT":
                        return set()  # only keys that exist are looked up
                    return {v for v in self.items(collection, parent) if isinstance(v, str)}
            node = parent
        return None

    def name(self, name: str, at: ast.AST) -> set[str]:
        node = at
        while node in self.parent:
            parent = self.parent[node]
            if isinstance(parent, COMPREHENSIONS):
                for gen in parent.generators:
                    if name in _names(gen.target):
                        return _pick(gen.target, name, self.items(gen.iter, parent))
            if isinstance(parent, ast.For) and node is not parent.iter \
                    and name in _names(parent.target):
                return _pick(parent.target, name, self.items(parent.iter, parent))
            if isinstance(parent, SCOPES):
                found = self.parameter(parent, name)
                if found is not None:
                    return found
                if isinstance(parent, ast.FunctionDef) and self.assigned(parent, name):
                    return self.from_assignments(parent, name)
            node = parent
        if self.assigned(self.tree, name):
            return self.from_assignments(self.tree, name)
        raise Unresolved(f"{self.where(at)}: cannot tell the values of {name}")

    def parameter(self, scope: ast.AST, name: str) -> set[str] | None:
        args = scope.args
        positional = args.posonlyargs + args.args
        defaults = dict(zip([a.arg for a in positional][::-1], args.defaults[::-1]))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d})
        if name in defaults:
            return self.values(defaults[name], scope)
        if name in {a.arg for a in positional + args.kwonlyargs}:
            if (self.path.name, getattr(scope, "name", None)) in PASSTHROUGH:
                return set()
            raise Unresolved(f"{self.where(scope)}: key parameter {name}; check its callers "
                             "(add the function to PASSTHROUGH)")
        return None

    # --- collections -----------------------------------------------------------------------
    def items(self, expr: ast.AST, at: ast.AST, seen: frozenset = frozenset()) -> list:
        """The items a loop over `expr` yields: strings, tuples of them, None where unknown."""
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return [_constant(e) for e in expr.elts]
        if isinstance(expr, ast.Dict):
            return [_constant(k) for k in expr.keys]
        if isinstance(expr, ast.Subscript):
            return self.items(expr.value, at, seen)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                and expr.func.attr == "items":
            mapping = self.collection(expr.func.value, at, seen)
            if isinstance(mapping, ast.Dict):
                return [(_constant(k), _constant(v)) for k, v in zip(mapping.keys, mapping.values)]
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) \
                and expr.func.id in ("list", "tuple", "sorted", "set") and expr.args:
            return self.items(expr.args[0], at, seen)
        if isinstance(expr, ast.Name) and expr.id not in seen:
            return self.items(self.collection(expr, at, seen), at, seen | {expr.id})
        raise Unresolved(f"{self.where(expr)}: cannot tell the items of {ast.unparse(expr)}")

    def collection(self, expr: ast.AST, at: ast.AST, seen: frozenset) -> ast.AST:
        """The literal a name is assigned (in the enclosing function, else the module)."""
        if not isinstance(expr, ast.Name):
            return expr
        node = at
        while node in self.parent and not isinstance(node, ast.FunctionDef):
            node = self.parent[node]
        for scope in (node, self.tree):
            for value in self.assignments(scope, expr.id):
                if not (isinstance(value, ast.Subscript) and ast.unparse(value.value) == expr.id):
                    return value  # the first assignment that is not a slice of itself
        raise Unresolved(f"{self.where(expr)}: {expr.id} is not assigned a literal")

    def assigned(self, scope: ast.AST, name: str) -> bool:
        return bool(self.assignments(scope, name))

    def assignments(self, scope: ast.AST, name: str) -> list[ast.AST]:
        """Values assigned to `name` directly in `scope` (not in nested functions)."""
        out = []
        for node in _walk_scope(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        out.append(node.value)
                    elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        out += [v for tg, v in zip(target.elts, node.value.elts)
                                if isinstance(tg, ast.Name) and tg.id == name]
        return out

    def from_assignments(self, scope: ast.AST, name: str) -> set[str]:
        out = set()
        for value in self.assignments(scope, name):
            out |= self.values(value, value)
        return out


def _walk_scope(scope: ast.AST):
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, SCOPES):
            yield from _walk_scope(child)


def _names(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _constant(node: ast.AST):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_constant(e) for e in node.elts)
    return None  # a component, a colour, ...: not a key


def _pick(target: ast.AST, name: str, items: list) -> set[str]:
    if isinstance(target, ast.Name):
        picked = items
    else:
        index = [e.id if isinstance(e, ast.Name) else None for e in target.elts].index(name)
        picked = [item[index] if isinstance(item, tuple) else None for item in items]
    if not all(isinstance(v, str) for v in picked):
        raise Unresolved(f"loop variable {name} takes non-literal values: {picked}")
    return set(picked)


def key_uses() -> list[tuple[Source, ast.Call, ast.AST]]:
    """(source, call, key expression) for every t(...) and ctx.relabel(..., key) call."""
    out = []
    for path in sorted((ROOT / "webui").rglob("*.py")):
        src = Source(path)
        for node in ast.walk(src.tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            owner = getattr(getattr(func, "value", None), "id", None)
            if called == "t" and node.args and owner in (None, "i18n"):
                out.append((src, node, node.args[0]))
            elif called == "relabel" and owner == "ctx" and len(node.args) >= 2:
                out.append((src, node, node.args[1]))
    return out


USES = key_uses()


def test_every_entry_has_both_languages():
    for table in (i18n.TEXT, i18n.LABELS):
        for key, entry in table.items():
            assert set(entry) == set(i18n.LANGS) and all(v.strip() for v in entry.values()), key


def test_every_key_used_exists_dynamic_ones_included():
    assert len(USES) > 100
    missing, unresolved, dynamic = [], [], 0
    for src, call, expr in USES:
        try:
            keys = src.values(expr, call)
        except Unresolved as e:
            unresolved.append(str(e))
            continue
        dynamic += not isinstance(expr, ast.Constant)
        missing += [f"{src.where(call)}: {k}" for k in sorted(keys) if k not in i18n.TEXT]
    assert not unresolved, "\n".join(unresolved)
    assert not missing, "\n".join(missing)
    assert dynamic > 20  # the f-string and loop keys were followed, not skipped


@pytest.mark.parametrize("code, expected", [
    ('t(f"tab_{name}")', {f"tab_{n}" for n in tabs.TABS}),
    ('for key, text in ((1, "a"), (2, "b")):\n    t(text)', {"a", "b"}),
    ('K = ("x", "y")\n[t(k) for k in list(K)]', {"x", "y"}),
    ('for k in ("p", "q"):\n    f(lambda lang, k=k: t(f"eval_{k}_info", lang))',
     {"eval_p_info", "eval_q_info"}),
    ('t(role) if role in ("user", "system") else role', {"user", "system"}),
    ('t("ok" if good else "bad")', {"ok", "bad"}),
])
def test_the_resolver_follows_keys(code, expected):
    assert probe(code) == expected


@pytest.mark.parametrize("code", ['t(f"new_{thing}")', 't(f"metric_{m}")', "t(key)",
                                  'def f(k):\n    t(k)', 'for k in names():\n    t(k)'])
def test_keys_it_cannot_follow_fail(code):
    with pytest.raises(Unresolved):
        probe(code)


def probe(code: str) -> set[str]:
    """The values of the key of the one t(...) call in `code`."""
    src = Source(ROOT / "webui" / "probe.py", code)
    (call,) = [n for n in ast.walk(src.tree) if isinstance(n, ast.Call)
               and getattr(n.func, "id", None) == "t"]
    return src.values(call.args[0], call)

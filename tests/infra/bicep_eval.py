"""A small evaluator of the Bicep in infra/, for checks that depend on parameter values.

It reads tree-sitter-bicep's syntax tree (pycep's tree cannot tell a string from a name and groups
`a && b ? c : d` as `a && (b ? c : d)`), evaluates main.bicep for given parameter values and follows
modules into their files, so a test can ask what a resource's body is with VNET_ENABLED or
PRIVATE_BACKEND on or off. What it cannot know before deployment (resource ids, tenant, outputs of
resources, `for` expressions, functions it does not model) becomes a `Symbol` that carries its text,
so two references to the same thing still compare equal. A Bicep `null` property is what ARM
receives as "not set": `deployed()` leaves such properties out of the body it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from infra_helpers import INFRA, strip_extensions


@dataclass(frozen=True)
class Symbol:
    """A value known only at deployment, named by its text (`vnet.id`, `${vnet.id}/subnets/apim`)."""

    text: str
    # An interpolated string with literal text in it is not empty, whatever its references hold.
    nonempty: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=None)
def _tree(path: Path):
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    return parser.parse(strip_extensions(path.read_text(encoding="utf-8")).encode("utf-8"))


def _named(node) -> list:
    return [c for c in node.children if c.is_named and c.type != "comment"]


def _text(node) -> str:
    return node.text.decode("utf-8")


@dataclass
class Declarations:
    params: dict = field(default_factory=dict)  # name -> (default node or None, decorators node or None)
    variables: dict = field(default_factory=dict)  # name -> node
    resources: dict = field(default_factory=dict)  # symbol -> (type@version, condition node, body node, existing)
    modules: dict = field(default_factory=dict)  # symbol -> (relative path, condition node, body node)
    outputs: dict = field(default_factory=dict)  # name -> node


@lru_cache(maxsize=None)
def declarations(path: Path) -> Declarations:
    decls = Declarations()
    decorators = None
    for node in _named(_tree(path).root_node):
        if node.type == "decorators":
            decorators = node
            continue
        parts = _named(node)
        if node.type == "parameter_declaration":
            default = parts[2] if len(parts) > 2 else None
            decls.params[_text(parts[0])] = (default, decorators)
        elif node.type == "variable_declaration":
            decls.variables[_text(parts[0])] = parts[-1]
        elif node.type == "output_declaration":
            decls.outputs[_text(parts[0])] = parts[-1]
        elif node.type in ("resource_declaration", "module_declaration"):
            symbol, target, value = _text(parts[0]), _string_literal(parts[1]), parts[-1]
            condition = None
            if value.type == "if_statement":
                condition, value = _named(value)
            if node.type == "module_declaration":
                decls.modules[symbol] = (target, condition, value)
            else:
                existing = any(c.type == "existing" for c in node.children)
                decls.resources[symbol] = (target, condition, value, existing)
        decorators = None
    return decls


def _string_literal(node) -> str:
    return "".join(_text(c) for c in node.children if c.type == "string_content")


def allowed_values(path: Path, param: str) -> list | None:
    """The @allowed list of a parameter, or None."""
    _, decorators = declarations(path).params[param]
    if decorators is None:
        return None
    for decorator in _named(decorators):
        call = _named(decorator)[0]
        function, arguments = _named(call)
        if _text(function) == "allowed":
            return Context(path, {}).eval(_named(arguments)[0])
    return None


class Context:
    """One file evaluated with given parameter values; modules become child contexts."""

    def __init__(self, path: Path, params: dict, parent: Context | None = None):
        self.path = path
        self.decls = declarations(path)
        self.params = params
        self.parent = parent
        self.locals: dict = {}
        self._vars: dict = {}
        self._modules: dict = {}

    # --- names -----------------------------------------------------------------------------------

    def lookup(self, name: str):
        if name in self.locals:
            return self.locals[name]
        if name in self.params:
            return self.params[name]
        if name in self.decls.params:
            default, _ = self.decls.params[name]
            if default is None:
                raise KeyError(f"{self.path.name}: parameter {name} has no value and no default")
            return self.eval(default)
        if name in self.decls.variables:
            if name not in self._vars:
                self._vars[name] = self.eval(self.decls.variables[name])
            return self._vars[name]
        if name in self.decls.modules:
            return ModuleRef(self, name)
        if name in self.decls.resources:
            return Symbol(name)
        return Symbol(name)  # resourceGroup, subscription, tenant, environment, ...

    def module(self, symbol: str) -> Context:
        if symbol not in self._modules:
            target, _, body = self.decls.modules[symbol]
            config = self.eval(body)
            params = config.get("params", {}) if isinstance(config, dict) else {}
            self._modules[symbol] = Context((self.path.parent / target).resolve(), params, self)
        return self._modules[symbol]

    def deployed(self, kind: str, symbol: str) -> bool:
        table = self.decls.modules if kind == "module" else self.decls.resources
        condition = table[symbol][1]
        if condition is None:
            return True
        value = self.eval(condition)
        if isinstance(value, Symbol):
            raise ValueError(f"{self.path.name}: condition of {symbol} unknown before deployment: {value}")
        return bool(value)

    def resource(self, symbol: str) -> dict:
        """The body of a resource as ARM receives it: null properties left out."""
        _, _, body, _ = self.decls.resources[symbol]
        return _without_nulls(self.eval(body))

    def output(self, name: str):
        return self.eval(self.decls.outputs[name])

    # --- expressions -----------------------------------------------------------------------------

    def eval(self, node):
        kind = node.type
        parts = _named(node)
        if kind == "string":
            return self._string(node)
        if kind == "number":
            return int(_text(node))
        if kind == "boolean":
            return _text(node) == "true"
        if kind == "null":
            return None
        if kind == "identifier":
            return self.lookup(_text(node))
        if kind == "parenthesized_expression":
            return self.eval(parts[0])
        if kind == "object":
            out = {}
            for prop in parts:
                if prop.type != "object_property":
                    continue
                key_node, value_node = _named(prop)[0], _named(prop)[-1]
                key = _string_literal(key_node) if key_node.type == "string" else _text(key_node)
                out[key] = self.eval(value_node)
            return out
        if kind == "array":
            return [self.eval(p) for p in parts]
        if kind == "ternary_expression":
            condition = self.eval(node.child_by_field_name("condition"))
            if isinstance(condition, Symbol):
                raise ValueError(f"{self.path.name}: condition unknown before deployment: {_text(node)}")
            return self.eval(node.child_by_field_name("consequence" if condition else "alternative"))
        if kind == "unary_expression":
            operator, operand = node.children[0].type, self.eval(parts[-1])
            if operator == "!":
                return _not(operand, node)
            return Symbol(_text(node))
        if kind == "binary_expression":
            return self._binary(node)
        if kind == "member_expression":
            return self._member(node)
        if kind == "subscript_expression":
            obj, index = self.eval(node.child_by_field_name("object")), self.eval(node.child_by_field_name("index"))
            if isinstance(obj, (dict, list)) and not isinstance(index, Symbol):
                return obj[index]
            return Symbol(_text(node))
        if kind == "call_expression":
            return self._call(node)
        return Symbol(_text(node))  # for expressions, lambdas, ...

    def _string(self, node):
        pieces, known, literal = [], True, False
        for child in node.children:
            if child.type == "string_content":
                pieces.append(_text(child))
                literal = literal or bool(_text(child))
            elif child.type == "escape_sequence":
                pieces.append({"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\t": "\t", "\\$": "$"}.get(_text(child), _text(child)))
            elif child.type == "interpolation":
                value = self.eval(_named(child)[0])
                if isinstance(value, Symbol):
                    known = False
                    pieces.append("${" + value.text + "}")
                else:
                    pieces.append(str(value).lower() if isinstance(value, bool) else str(value))
        text = "".join(pieces)
        return text if known else Symbol(text, nonempty=literal)

    def _binary(self, node):
        left_node, right_node = node.child_by_field_name("left"), node.child_by_field_name("right")
        operator = _text(node.child_by_field_name("operator"))
        left = self.eval(left_node)
        if operator == "&&":
            return bool(_truth(left, node)) and bool(_truth(self.eval(right_node), node))
        if operator == "||":
            return bool(_truth(left, node)) or bool(_truth(self.eval(right_node), node))
        if operator == "??":
            return self.eval(right_node) if left is None else left
        right = self.eval(right_node)
        if isinstance(left, Symbol) or isinstance(right, Symbol):
            if operator in ("==", "!=") and isinstance(left, Symbol) and isinstance(right, Symbol):
                return (left == right) == (operator == "==")
            return Symbol(_text(node))
        if operator == "==":
            return left == right
        if operator == "!=":
            return left != right
        if operator == "=~":
            return str(left).lower() == str(right).lower()
        if operator in ("<", "<=", ">", ">="):
            return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[operator]
        if operator == "+":
            return left + right
        return Symbol(_text(node))

    def _member(self, node):
        obj_node, prop = node.child_by_field_name("object"), _text(node.child_by_field_name("property"))
        obj = self.eval(obj_node)
        if isinstance(obj, ModuleRef):
            return obj.member(prop)
        if isinstance(obj, ModuleOutputs):
            return obj.context.output(prop)
        if isinstance(obj, dict):
            return obj.get(prop)
        return Symbol(f"{obj}.{prop}" if isinstance(obj, Symbol) else _text(node))

    def _call(self, node):
        function, arguments = node.child_by_field_name("function"), node.child_by_field_name("arguments")
        name = _text(function)
        args = [self.eval(a) for a in _named(arguments)]
        if any(isinstance(a, Symbol) for a in args) and name not in ("union", "concat", "empty"):
            return Symbol(_text(node))
        if name == "empty":
            (value,) = args
            if isinstance(value, Symbol):
                return False if value.nonempty else Symbol(_text(node))
            return value is None or len(value) == 0
        if name == "union" and all(isinstance(a, dict) for a in args):
            out: dict = {}
            for a in args:
                out.update(a)
            return out
        if name == "concat" and all(isinstance(a, list) for a in args):
            return [x for a in args for x in a]
        if name == "contains":
            return args[1] in args[0]
        if name == "endsWith":
            return args[0].endswith(args[1])
        if name == "startsWith":
            return args[0].startswith(args[1])
        if name == "toLower":
            return args[0].lower()
        if name == "string":
            return str(args[0])
        if name == "length":
            return len(args[0])
        return Symbol(_text(node))


@dataclass(frozen=True)
class ModuleRef:
    context: Context
    symbol: str

    def member(self, prop: str):
        if prop == "outputs":
            return ModuleOutputs(self.context.module(self.symbol))
        return Symbol(f"{self.symbol}.{prop}")


@dataclass(frozen=True)
class ModuleOutputs:
    context: Context


def _truth(value, node):
    if isinstance(value, Symbol):
        raise ValueError(f"unknown before deployment: {_text(node)}")
    return value


def _not(value, node):
    return not _truth(value, node)


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def main(**params) -> Context:
    """main.bicep with the given parameter values (the required ones get stand-ins)."""
    values = {"environmentName": "dev", "location": "eastus", "sessionTokenEncKey": Symbol("enc"), "sessionTokenMacKey": Symbol("mac")}
    values.update(params)
    return Context(INFRA / "main.bicep", values)

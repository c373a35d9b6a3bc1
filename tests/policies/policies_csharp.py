"""The policy expressions as the local runner finds and compiles them (one compiler for the
runner and these tests: `mono local-apim.exe --compile-expressions`, through devstack/csharp.py),
and drivers that run them under Mono against the APIM context model in local/runner/Model/."""

import dataclasses
import functools
import json
import re
import subprocess

from devstack import csharp

from policies_support import HERE, POLICIES

MODEL = csharp.MODEL
ALLOWED_TYPES_FILE = HERE / "apim_allowed_types.txt"
# Test stand-ins for named values; the key values are valid 32-byte base64 keys.
DEFAULT_NAMED_VALUES = {
    "McpEntraClientId": "00000000-0000-0000-0000-00000000c11d",
    "EntraTenantId": "00000000-0000-0000-0000-0000000be7a7",
    "ApimIdentityClientId": "00000000-0000-0000-0000-0000000a91d0",
    "ApimGatewayUrl": "https://apim-snippets.azure-api.net",
    "OAuthScopes": "openid profile offline_access User.Read",
    "SessionTokenEncKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "SessionTokenMacKey": "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
    # No rotation in progress: what the vault holds then (docs/session-token.md, "Rotation").
    "SessionTokenPreviousEncKey": "none",
    "SessionTokenPreviousMacKey": "none",
    "SessionTokenPreviousUntil": "0",
    "McpFunctionKey": "test-function-key",
    "RegistrationStoreUrl": "https://stsnippets.blob.core.windows.net/registrations",
}
ExpressionsError = csharp.ExpressionsError


@dataclasses.dataclass(frozen=True)
class Expression:
    file: str  # relative to infra/policies
    where: str  # element and attribute (or "text")
    code: str  # including the leading @( or @{, named values substituted
    name: str = ""  # the element's name attribute (e.g. the variable a set-variable sets)
    cls: str = ""  # the class the runner compiles it to (Apim.Expressions.<cls>, assembly Expressions)
    line: int = 0

    @property
    def multi_statement(self):
        return self.code.startswith("@{")

    @property
    def label(self):
        named = f" [{self.name}]" if self.name else ""
        return f"{self.file}:{self.line} <{self.where}>{named}"


def have_mono():
    return csharp.have_mono()


def _expressions(index):
    return [Expression(e["file"], e["where"], e["code"], e["name"], e["class"], e["line"]) for e in index]


def compile_expressions(workdir, named_values=None, policies_dir=POLICIES):
    """Compiles every expression with the runner into workdir/Expressions.dll; returns the
    expressions in the runner's order. Raises ExpressionsError with the runner's message."""
    index = csharp.compile_expressions(policies_dir, dict(named_values or DEFAULT_NAMED_VALUES), workdir / "Expressions.dll")
    return _expressions(index)


@functools.lru_cache(maxsize=1)
def _listed():
    return tuple(_expressions(csharp.compile_expressions(POLICIES, DEFAULT_NAMED_VALUES, None)))


def all_expressions():
    """Every expression the runner finds in the rendered policies (found, not compiled)."""
    return list(_listed())


def extract(path):
    """The expressions of one rendered policy file, in document order."""
    rel = path.relative_to(POLICIES).as_posix()
    return [e for e in all_expressions() if e.file == rel]


def build_driver(workdir, source, name):
    """Compiles a test driver (ExpressionRunner.cs, TokenVectors.cs) against the runner (the
    context model) and the expressions in workdir/Expressions.dll."""
    exe = workdir / f"{name}.exe"
    ok, out = csharp.compile([source], exe, target="exe", references=[csharp.build_runner(), workdir / "Expressions.dll"])
    if not ok:
        raise AssertionError(out)
    return exe


def run_driver(exe, *args, stdin=None):
    return subprocess.run(
        ["mono", str(exe), *map(str, args)], input=stdin, capture_output=True, encoding="utf-8",
        env=csharp.mono_env(exe.parent), timeout=120,
    )  # fmt: skip


def strip_literals(code):
    """Removes strings, chars and comments so identifiers can be scanned."""
    pattern = r'@"(?:[^"]|"")*"|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|//[^\n]*|/\*.*?\*/'
    return re.sub(pattern, " ", code, flags=re.S)


def allowed_types():
    return [
        line.strip()
        for line in ALLOWED_TYPES_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


# Names an expression may use unqualified besides the allowed types: the context model and
# C# keywords-as-types.
CONTEXT_NAMES = {"IProxyRequestContext", "IResponse", "IRequest", "IMessageBody", "IUrl"}


def disallowed_identifiers(code):
    """Approximate static check: every type-looking identifier chain (a capitalised name not
    reached through a member access) must be an allowed type, possibly fully qualified.
    Lambda parameters, locals and members are lowercase or follow a dot, so they pass."""
    allowed = allowed_types()
    simple = {t.rsplit(".", 1)[1] for t in allowed} | CONTEXT_NAMES
    bad = set()
    text = strip_literals(code)
    for m in re.finditer(r"(?<![.\w])([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)", text):
        chain = re.sub(r"\s+", "", m.group(1)).split(".")
        head = chain[0]
        if head in ("System", "Newtonsoft"):
            qualified = ".".join(chain)
            if not any(qualified == t or qualified.startswith(t + ".") for t in allowed):
                bad.add(qualified)
        elif head[0].isupper() and head not in simple:
            bad.add(head)
    return sorted(bad)


class Evaluator:
    """Compiles every policy expression once (the runner's compiler) and evaluates chosen ones
    in given contexts."""

    def __init__(self, workdir, named_values=None):
        self.expressions = compile_expressions(workdir, named_values)
        self.exe = build_driver(workdir, HERE / "ExpressionRunner.cs", "ExpressionRunner")

    def find(self, file, name=None, where=None, nth=None):
        """The class of the expression in `file` whose element has `name` (and `where`); when
        several match, `nth` picks one in document order."""
        hits = [
            e.cls
            for e in self.expressions
            if e.file == file and (name is None or e.name == name) and (where is None or e.where == where)
        ]
        if nth is not None:
            return hits[nth]
        assert len(hits) == 1, f"{file} {name} {where}: {len(hits)} matches"
        return hits[0]

    def run(self, cases):
        run = run_driver(self.exe, stdin=json.dumps(cases))
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def eval(self, file, name=None, where=None, nth=None, **spec):
        result = self.run([dict(spec, **{"class": self.find(file, name, where, nth)})])[0]
        assert "exception" not in result, result["exception"]
        return result["value"]

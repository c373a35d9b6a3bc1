"""Extracts APIM policy expressions from the rendered XML and compiles them with Mono's mcs
against the C# model of APIM's context API in apim_model/."""

import dataclasses
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

from policies_support import HERE, POLICIES

MODEL = HERE / "apim_model" / "ApimContext.cs"
ALLOWED_TYPES_FILE = HERE / "apim_allowed_types.txt"
NEWTONSOFT_CANDIDATES = [
    "/usr/lib/cli/Newtonsoft.Json-5.0/Newtonsoft.Json.dll",
    "/usr/lib/cli/Newtonsoft.Json/Newtonsoft.Json.dll",
]
# Namespaces APIM's own examples use unqualified (Regex, Encoding, JObject, Convert, ...).
USINGS = [
    "System",
    "System.Collections.Generic",
    "System.Linq",
    "System.Text",
    "System.Text.RegularExpressions",
    "System.Xml.Linq",
    "Newtonsoft.Json",
    "Newtonsoft.Json.Linq",
    "Apim.Model",
]
# Test stand-ins for named values; the key values are valid 32-byte base64 keys.
DEFAULT_NAMED_VALUES = {
    "McpEntraClientId": "00000000-0000-0000-0000-00000000c11d",
    "EntraTenantId": "00000000-0000-0000-0000-0000000be7a7",
    "ApimIdentityClientId": "00000000-0000-0000-0000-0000000a91d0",
    "ApimGatewayUrl": "https://apim-snippets.azure-api.net",
    "OAuthScopes": "openid profile offline_access User.Read",
    "SessionTokenEncKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "SessionTokenMacKey": "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
    "McpFunctionKey": "test-function-key",
    "RegistrationStoreUrl": "https://stsnippets.blob.core.windows.net/registrations",
}


@dataclasses.dataclass
class Expression:
    file: str  # relative to infra/policies
    where: str  # element and attribute (or "text")
    code: str  # including the leading @( or @{
    name: str = ""  # the element's name attribute (e.g. the variable a set-variable sets)

    @property
    def multi_statement(self):
        return self.code.startswith("@{")

    @property
    def label(self):
        named = f" [{self.name}]" if self.name else ""
        return f"{self.file} <{self.where}>{named}"


def newtonsoft_dll():
    for candidate in NEWTONSOFT_CANDIDATES:
        if pathlib.Path(candidate).exists():
            return candidate
    return None


def have_mono():
    return shutil.which("mcs") is not None and newtonsoft_dll() is not None


def extract(path):
    """Every expression in one rendered policy file, in document order."""
    rel = path.relative_to(POLICIES).as_posix()
    found = []
    root = ET.parse(path).getroot()
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in root.iter():
        # A <value> is named by its set-header (the header it sets).
        owner = parents.get(element) if element.tag == "value" else element
        name = owner.get("name", "") if owner is not None else ""
        for attribute, value in element.attrib.items():
            if value.strip().startswith(("@(", "@{")):
                found.append(Expression(rel, f"{element.tag} {attribute}=", value.strip(), name))
        if element.text and element.text.strip().startswith(("@(", "@{")):
            found.append(Expression(rel, f"{element.tag} text", element.text.strip(), name))
    return found


def all_expressions():
    out = []
    for path in sorted(POLICIES.rglob("*.xml")):
        out.extend(extract(path))
    return out


def substitute(code, named_values):
    return re.sub(r"\{\{([A-Za-z0-9_.-]+)\}\}", lambda m: named_values[m.group(1)], code)


def method_body(expr, named_values):
    code = substitute(expr.code, named_values)
    inner = code[2:-1]
    return inner if expr.multi_statement else f"return ({inner});"


def class_source(class_name, expr, named_values):
    """One static class whose Eval method is the expression; #line maps errors to the policy."""
    label = expr.label.replace('"', "'")
    return (
        f"public static class {class_name}\n{{\n"
        f"    public static object Eval(IProxyRequestContext context)\n    {{\n"
        f'#line 1 "{label}"\n'
        f"{method_body(expr, named_values)}\n"
        f"#line default\n"
        f"    }}\n}}\n"
    )


def source_file(classes):
    usings = "".join(f"using {u};\n" for u in USINGS)
    return usings + "\nnamespace Apim.Expressions\n{\n" + "\n".join(classes) + "}\n"


def compile_cs(sources, out, target="library", references=()):
    """Compiles C# files with mcs; returns (ok, diagnostics)."""
    cmd = [
        "mcs",
        f"-target:{target}",
        "-langversion:7",
        "-nowarn:618",  # RNGCryptoServiceProvider is obsolete in .NET 6, yet it is what APIM allows
        f"-r:{newtonsoft_dll()}",
        "-r:System.Xml.Linq.dll",
        "-r:System.Core.dll",
        "-r:System.Numerics.dll",
        *[f"-r:{r}" for r in references],
        f"-out:{out}",
        *[str(s) for s in sources],
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    return result.returncode == 0, result.stdout + result.stderr


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
    """Compiles every policy expression once and evaluates chosen ones in given contexts."""

    def __init__(self, workdir, named_values=None):
        self.named_values = dict(named_values or DEFAULT_NAMED_VALUES)
        self.expressions = all_expressions()
        classes = [class_source(f"E{i}", e, self.named_values) for i, e in enumerate(self.expressions)]
        generated = workdir / "AllExpressions.cs"
        generated.write_text(source_file(classes))
        self.exe = workdir / "ExpressionRunner.exe"
        ok, out = compile_cs([MODEL, generated, HERE / "ExpressionRunner.cs"], self.exe, target="exe")
        if not ok:
            raise AssertionError(out)

    def find(self, file, name=None, where=None, nth=None):
        """The class of the expression in `file` whose element has `name` (and `where`); when
        several match, `nth` picks one in document order."""
        hits = [
            f"E{i}"
            for i, e in enumerate(self.expressions)
            if e.file == file and (name is None or e.name == name) and (where is None or e.where == where)
        ]
        if nth is not None:
            return hits[nth]
        assert len(hits) == 1, f"{file} {name} {where}: {len(hits)} matches"
        return hits[0]

    def run(self, cases):
        import json

        run = subprocess.run(
            ["mono", str(self.exe)],
            input=json.dumps(cases),
            capture_output=True,
            encoding="utf-8",
            env={"MONO_PATH": str(pathlib.Path(newtonsoft_dll()).parent), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def eval(self, file, name=None, where=None, nth=None, **spec):
        result = self.run([dict(spec, **{"class": self.find(file, name, where, nth)})])[0]
        assert "exception" not in result, result["exception"]
        return result["value"]

#!/usr/bin/env bash
# Compiles the C# sketch from docs/session-token.md with Mono's mcs and runs it against the
# v1 test vectors. Needs the Debian packages mono-mcs and libnewtonsoft-json-cil-dev.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

newtonsoft="$(ls /usr/lib/cli/Newtonsoft.Json-*/Newtonsoft.Json.dll 2>/dev/null | head -n1 || true)"
if ! command -v mcs >/dev/null || [ -z "$newtonsoft" ]; then
  echo "check.sh: needs mcs and Newtonsoft.Json (apt-get install -y mono-mcs libnewtonsoft-json-cil-dev)" >&2
  exit 2
fi

# The first ```csharp block of the doc is the sketch.
{
  echo 'using System; using System.Security.Cryptography; using System.Text; using Newtonsoft.Json.Linq;'
  echo 'public static partial class SessionToken {'
  # Methods in the doc are bare `static`; make them visible to the checker.
  awk '/^```csharp$/ {on=1; next} on && /^```$/ {exit} on {sub(/^static /, "internal static "); print}' "$root/docs/session-token.md"
  echo '}'
} > "$work/Sketch.cs"
grep -q 'static JObject Open(' "$work/Sketch.cs" || { echo "check.sh: sketch not found in docs/session-token.md" >&2; exit 1; }

mcs -nologo -warnaserror+ -out:"$work/check.exe" -r:"$newtonsoft" \
  "$work/Sketch.cs" "$here/ApimShim.cs" "$here/SeamForTests.cs" "$here/VectorCheck.cs"
MONO_PATH="$(dirname "$newtonsoft")" mono "$work/check.exe" "$root/crates/session-token/vectors/v1.json"

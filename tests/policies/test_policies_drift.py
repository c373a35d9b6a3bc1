"""The committed infra/policies/ files are exactly what the templates render."""

import subprocess

from policies_support import REPO


def test_rendered_policies_match_templates():
    result = subprocess.run(
        ["cargo", "run", "-q", "-p", "policies", "--bin", "render-policies", "--", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "infra/policies drifted from crates/policies/templates:\n" + result.stderr
    )

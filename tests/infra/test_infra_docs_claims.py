"""Claims in the deployment docs that the code or the tools' sources contradict once held."""

from __future__ import annotations

import re

from infra_helpers import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_binary_is_not_called_static():
    # scripts/package.sh builds for x86_64-unknown-linux-gnu: glibc, linked dynamically.
    assert "RUST_TARGET=x86_64-unknown-linux-gnu" in (REPO_ROOT / "scripts/package.sh").read_text(encoding="utf-8")
    assert not re.search(r"\bstatic(ally linked)? (Linux )?binary", text("architecture.md"), re.I)
    assert "dynamically linked against the image's glibc" in text("architecture.md")


def test_no_long_streamable_http_get_streams():
    # GET /mcp answers 405 (docs/server.md): only legacy SSE holds a stream open.
    assert "answer 405" in text("server.md")
    deploy = text("deploy.md")
    assert "Streamable HTTP `GET`" not in deploy and "`GET /mcp` stream" not in deploy
    assert "`GET /mcp` with 405" in deploy


def test_troubleshooting_uses_the_azure_cli_and_the_graph_extensions_bicep_minimum():
    doc = text("troubleshooting.md")
    assert not re.search(r"\bGet-Az\w+|\bNew-Az\w+|\bSet-Az\w+", doc), "the Azure CLI is the stated prerequisite"
    assert "az functionapp list-flexconsumption-runtimes" in doc
    assert "0.30+" not in doc and "Bicep 0.36.1 or newer" in doc

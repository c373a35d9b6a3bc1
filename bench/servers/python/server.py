"""Comparison server: the official Python MCP SDK (MCPServer, formerly FastMCP) with azure-storage-blob (aio).

Same tools, reply text, container and blob layout as snippets-mcp. One process, one uvicorn worker,
stateless Streamable HTTP with JSON responses at /mcp, legacy SSE at /sse (+ /messages/), GET / readiness.
Usage: python server.py --port N
Storage, chosen from the same settings snippets-mcp reads: `AzureWebJobsStorage` (a connection string: Shared
Key) or `AzureWebJobsStorage__blobServiceUri` (managed identity: `ManagedIdentityCredential`, which reads
IDENTITY_ENDPOINT / IDENTITY_HEADER as on Azure Functions). HTTPS trust comes from SSL_CERT_FILE.
"""

import argparse
import os

import uvicorn
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.identity.aio import ManagedIdentityCredential
from azure.storage.blob.aio import BlobServiceClient
from mcp.server.mcpserver import MCPServer
from starlette.responses import PlainTextResponse
from starlette.routing import Route

HELLO = "Hello I am MCPTool!"
CONTAINER = "snippets"
API_VERSION = "2025-01-05"  # the x-ms-version snippets-mcp pins

mcp = MCPServer("snippets-mcp-python", log_level="WARNING")
_container = None
_created = False


def container():
    global _container
    if _container is None:
        conn = os.environ.get("AzureWebJobsStorage")
        if conn:
            service = BlobServiceClient.from_connection_string(conn, api_version=API_VERSION)
        else:
            service = BlobServiceClient(
                os.environ["AzureWebJobsStorage__blobServiceUri"],
                credential=ManagedIdentityCredential(),
                api_version=API_VERSION,
            )
        _container = service.get_container_client(CONTAINER)
    return _container


@mcp.tool()
async def hello_mcp() -> str:
    """Say hello: a quick check that the server is reachable and the session works."""
    return HELLO


@mcp.tool()
async def save_snippet(snippetname: str, snippet: str) -> dict:
    """Save a code snippet under a name, replacing any snippet of that name."""
    global _created
    c = container()
    if not _created:
        try:
            await c.create_container()
        except ResourceExistsError:
            pass
        _created = True
    await c.upload_blob(f"{snippetname}.json", snippet.encode(), overwrite=True)
    return {"name": snippetname, "bytes": len(snippet.encode())}


@mcp.tool()
async def get_snippet(snippetname: str) -> str:
    """Get the text of a saved snippet, exactly as it was saved."""
    try:
        stream = await container().download_blob(f"{snippetname}.json")
    except ResourceNotFoundError:
        raise ValueError(f"snippet not found: {snippetname}")
    return (await stream.readall()).decode()


async def ready(_request):
    return PlainTextResponse("ok")


def build_app():
    app = mcp.streamable_http_app(stateless_http=True, json_response=True)
    sse = mcp.sse_app()
    app.router.routes.extend(sse.routes)
    app.router.routes.append(Route("/", ready, methods=["GET", "HEAD"]))
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build_app(),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )

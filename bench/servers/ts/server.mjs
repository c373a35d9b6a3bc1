// Comparison server: the official TypeScript MCP SDK (@modelcontextprotocol/sdk) with @azure/storage-blob.
// Same tools, reply text, container and blob layout as snippets-mcp. One Node process, plain node:http
// (lighter than the express app of the SDK's examples, so this favours the peer), stateless Streamable HTTP
// with JSON responses at /mcp (a fresh McpServer + transport per request, the SDK's stateless pattern),
// legacy SSE at /sse + /message (SSEServerTransport), GET / readiness.
// Usage: node server.mjs --port N
// Storage, chosen from the same settings snippets-mcp reads: `AzureWebJobsStorage` (a connection string: Shared
// Key) or `AzureWebJobsStorage__blobServiceUri` (managed identity: `ManagedIdentityCredential`, which reads
// IDENTITY_ENDPOINT / IDENTITY_HEADER as on Azure Functions). HTTPS trust comes from NODE_EXTRA_CA_CERTS.
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { BlobServiceClient } from '@azure/storage-blob';
import { ManagedIdentityCredential } from '@azure/identity';
import { z } from 'zod';

const HELLO = 'Hello I am MCPTool!';
const CONTAINER = 'snippets';
const portIdx = process.argv.indexOf('--port');
const port = Number(portIdx > 0 ? process.argv[portIdx + 1] : process.env.FUNCTIONS_CUSTOMHANDLER_PORT || 7071);

let containerClient;
let created = false;
function container() {
  if (!containerClient) {
    const conn = process.env.AzureWebJobsStorage;
    const service = conn
      ? BlobServiceClient.fromConnectionString(conn)
      : new BlobServiceClient(process.env.AzureWebJobsStorage__blobServiceUri, new ManagedIdentityCredential());
    containerClient = service.getContainerClient(CONTAINER);
  }
  return containerClient;
}

function getServer() {
  const server = new McpServer({ name: 'snippets-mcp-ts', version: '0.1.0' });
  server.registerTool('hello_mcp', {
    description: 'Say hello: a quick check that the server is reachable and the session works.',
  }, async () => ({ content: [{ type: 'text', text: HELLO }] }));
  server.registerTool('save_snippet', {
    description: 'Save a code snippet under a name, replacing any snippet of that name.',
    inputSchema: { snippetname: z.string(), snippet: z.string() },
  }, async ({ snippetname, snippet }) => {
    const c = container();
    if (!created) { await c.createIfNotExists(); created = true; }
    const body = Buffer.from(snippet, 'utf8');
    await c.getBlockBlobClient(`${snippetname}.json`).upload(body, body.length);
    const result = { name: snippetname, bytes: body.length };
    return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
  });
  server.registerTool('get_snippet', {
    description: 'Get the text of a saved snippet, exactly as it was saved.',
    inputSchema: { snippetname: z.string() },
  }, async ({ snippetname }) => {
    try {
      const buf = await container().getBlockBlobClient(`${snippetname}.json`).downloadToBuffer();
      return { content: [{ type: 'text', text: buf.toString('utf8') }] };
    } catch (e) {
      if (e.statusCode === 404) return { content: [{ type: 'text', text: `snippet not found: ${snippetname}` }], isError: true };
      throw e;
    }
  });
  return server;
}

const sseTransports = new Map();

const httpServer = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (url.pathname === '/mcp' && req.method === 'POST') {
      const server = getServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => { transport.close(); server.close(); });
      await server.connect(transport);
      await transport.handleRequest(req, res);
    } else if (url.pathname === '/sse' && req.method === 'GET') {
      const transport = new SSEServerTransport('/message', res);
      sseTransports.set(transport.sessionId, transport);
      res.on('close', () => { sseTransports.delete(transport.sessionId); });
      await getServer().connect(transport);
    } else if (url.pathname === '/message' && req.method === 'POST') {
      const transport = sseTransports.get(url.searchParams.get('sessionId'));
      if (!transport) { res.writeHead(404).end('unknown session'); return; }
      await transport.handlePostMessage(req, res);
    } else {
      res.writeHead(404).end();
    }
  } catch (e) {
    if (!res.headersSent) res.writeHead(500).end(String(e));
  }
});
httpServer.listen(port, '127.0.0.1');
process.on('SIGTERM', () => httpServer.close(() => process.exit(0)));

-- wrk script for every load point of bench/run.sh. Arguments after `--`:
--   mode   hello | save | get | rawput | rawget
--   path   request path (MCP: /mcp; raw: /devstoreaccount1/snippets)
--   sas    query string for raw blob requests (without '?'), may be empty
--   token  bearer token for raw blob requests (sent as `Authorization: Bearer`), may be empty
-- Every response is checked: MCP replies must be HTTP 200 with a JSON-RPC "result" that is not an
-- isError tool result; raw PUT must answer 201, raw GET 200. Failures are counted and reported.
-- done() prints one line "BENCHJSON {...}" that the harness parses.

local SNIPPET = string.rep("fn main() { println!(\"hello, snippets\"); }\n", 24)  -- 1,032 bytes
local SEEDS = 256
-- Saves and raw PUTs cycle over this many names per wrk thread, so after the first window every write
-- overwrites a blob and Azurite holds the same number of blobs for the rest of a run: its in-memory store
-- slows down as it grows, which made latency drift upwards within a phase when every write was a new blob.
local WRITE_NAMES = 512
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function json_string(s)
  return '"' .. s:gsub('\\', '\\\\'):gsub('"', '\\"'):gsub('\n', '\\n') .. '"'
end

local SNIPPET_JSON = json_string(SNIPPET)
local MCP_HEADERS = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json, text/event-stream",
  ["MCP-Protocol-Version"] = "2025-06-18",
}

function init(args)
  mode = args[1]
  path = args[2]
  sas = args[3] or ""
  token = args[4] or ""
  query = sas ~= "" and ("?" .. sas) or ""
  bad = 0
  bad_sample = ""
  if mode == "hello" then
    wrk.method = "POST"
    wrk.path = path
    for k, v in pairs(MCP_HEADERS) do wrk.headers[k] = v end  -- keep wrk's Host header
    wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello_mcp","arguments":{}}}'
    expect = 200
  elseif mode == "save" or mode == "get" then
    expect = 200
  elseif mode == "rawput" then
    expect = 201
  elseif mode == "rawget" then
    expect = 200
  else
    error("unknown mode " .. tostring(mode))
  end
end

function request()
  counter = counter + 1
  if mode == "hello" then
    return wrk.format()
  elseif mode == "save" then
    local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/call","params":{"name":"save_snippet","arguments":{"snippetname":"w' .. tid .. '-' .. (counter % WRITE_NAMES) .. '","snippet":' .. SNIPPET_JSON .. '}}}'
    return wrk.format("POST", path, MCP_HEADERS, body)
  elseif mode == "get" then
    local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"tools/call","params":{"name":"get_snippet","arguments":{"snippetname":"seed-' .. (counter % SEEDS) .. '"}}}'
    return wrk.format("POST", path, MCP_HEADERS, body)
  elseif mode == "rawput" then
    local headers = {["x-ms-blob-type"] = "BlockBlob", ["x-ms-version"] = "2025-01-05", ["Content-Type"] = "application/octet-stream"}
    if token ~= "" then headers["Authorization"] = "Bearer " .. token end
    return wrk.format("PUT", path .. "/r" .. tid .. "-" .. (counter % WRITE_NAMES) .. ".json" .. query, headers, SNIPPET)
  else -- rawget
    local headers = {["x-ms-version"] = "2025-01-05"}
    if token ~= "" then headers["Authorization"] = "Bearer " .. token end
    return wrk.format("GET", path .. "/seed-" .. (counter % SEEDS) .. ".json" .. query, headers)
  end
end

function response(status, headers, body)
  local ok = status == expect
  if ok and (mode == "hello" or mode == "save" or mode == "get") then
    ok = body ~= nil and body:find('"result"', 1, true) ~= nil and body:find('"isError":true', 1, true) == nil
  end
  if ok and mode == "rawget" then
    ok = body ~= nil and #body == #SNIPPET
  end
  if not ok then
    bad = bad + 1
    if bad_sample == "" then bad_sample = tostring(status) .. " " .. tostring(body):sub(1, 200) end
  end
end

function done(summary, latency, requests)
  local nbad, sample = 0, ""
  for _, t in ipairs(threads) do
    nbad = nbad + (t:get("bad") or 0)
    local s = t:get("bad_sample")
    if sample == "" and s ~= nil then sample = s end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"bad":%d,"bad_sample":%s,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_max_us":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, nbad, json_string(sample),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency:percentile(99.9)))
end

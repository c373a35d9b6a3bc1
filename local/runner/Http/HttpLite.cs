// Minimal HTTP/1.1 server and client on raw sockets, so the local gateway controls every header
// line (two Set-Cookie headers stay two headers) and relays streamed bodies (SSE) chunk by chunk.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LocalApim
{
    /// Ordered, case-insensitive header list (names keep their first spelling).
    public sealed class HeaderList
    {
        public readonly List<KeyValuePair<string, string>> Items = new List<KeyValuePair<string, string>>();

        public void Add(string name, string value) { Items.Add(new KeyValuePair<string, string>(name, value)); }

        public string Get(string name)
        {
            var values = GetAll(name);
            return values.Length == 0 ? null : string.Join(",", values);
        }

        public string[] GetAll(string name)
        {
            return Items.Where(i => string.Equals(i.Key, name, StringComparison.OrdinalIgnoreCase)).Select(i => i.Value).ToArray();
        }

        public bool Has(string name) { return Items.Any(i => string.Equals(i.Key, name, StringComparison.OrdinalIgnoreCase)); }

        public void Remove(string name) { Items.RemoveAll(i => string.Equals(i.Key, name, StringComparison.OrdinalIgnoreCase)); }

        public void Set(string name, IEnumerable<string> values)
        {
            Remove(name);
            foreach (var v in values) Add(name, v);
        }

        /// The view policy expressions see: one entry per name, every value kept.
        public Dictionary<string, string[]> ToDictionary()
        {
            var d = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
            foreach (var i in Items)
            {
                string[] existing;
                d[i.Key] = d.TryGetValue(i.Key, out existing) ? existing.Concat(new[] { i.Value }).ToArray() : new[] { i.Value };
            }
            return d;
        }

        public static readonly HashSet<string> HopByHop = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        {
            "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
            "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host",
        };
    }

    /// Buffered reader over a socket stream: lines, exact byte counts, chunked bodies.
    public sealed class WireReader
    {
        private readonly Stream stream;
        private readonly byte[] buffer = new byte[16384];
        private int start, end;

        public WireReader(Stream stream) { this.stream = stream; }

        private bool Fill()
        {
            if (start < end) return true;
            start = 0;
            end = stream.Read(buffer, 0, buffer.Length);
            return end > 0;
        }

        /// A CRLF-terminated line as Latin-1 (null at end of stream). Lines are capped at 64 KiB.
        public string ReadLine()
        {
            var sb = new StringBuilder();
            while (true)
            {
                if (!Fill()) return sb.Length == 0 ? null : sb.ToString();
                byte b = buffer[start++];
                if (b == (byte)'\n')
                {
                    if (sb.Length > 0 && sb[sb.Length - 1] == '\r') sb.Length--;
                    return sb.ToString();
                }
                sb.Append((char)b);
                if (sb.Length > 65536) throw new IOException("header line too long");
            }
        }

        /// Up to max bytes already buffered or read with one socket read (0 at end of stream).
        public int ReadSome(byte[] target, int max)
        {
            if (!Fill()) return 0;
            int n = Math.Min(max, end - start);
            Buffer.BlockCopy(buffer, start, target, 0, n);
            start += n;
            return n;
        }

        public byte[] ReadExact(long length)
        {
            if (length > 64L * 1024 * 1024) throw new IOException("body too large");
            var result = new byte[length];
            int got = 0;
            while (got < length)
            {
                if (!Fill()) throw new IOException("connection closed inside a body");
                int n = (int)Math.Min(length - got, end - start);
                Buffer.BlockCopy(buffer, start, result, got, n);
                start += n;
                got += n;
            }
            return result;
        }

        public HeaderList ReadHeaders()
        {
            var headers = new HeaderList();
            while (true)
            {
                var line = ReadLine();
                if (line == null) throw new IOException("connection closed inside headers");
                if (line.Length == 0) return headers;
                int colon = line.IndexOf(':');
                if (colon <= 0) throw new IOException("malformed header line");
                headers.Add(line.Substring(0, colon).Trim(), line.Substring(colon + 1).Trim());
                if (headers.Items.Count > 200) throw new IOException("too many headers");
            }
        }

        /// One chunk of a chunked body (null after the last chunk and its trailers).
        public byte[] ReadChunk()
        {
            var sizeLine = ReadLine();
            if (sizeLine == null) throw new IOException("connection closed inside a chunked body");
            int semi = sizeLine.IndexOf(';');
            long size = Convert.ToInt64((semi >= 0 ? sizeLine.Substring(0, semi) : sizeLine).Trim(), 16);
            if (size == 0)
            {
                ReadHeaders();
                return null;
            }
            var data = ReadExact(size);
            ReadLine();
            return data;
        }

        /// Reads a whole body framed by the headers (Content-Length, chunked, or until close when allowed).
        public byte[] ReadBody(HeaderList headers, bool untilCloseAllowed)
        {
            var te = headers.Get("Transfer-Encoding");
            if (te != null && te.IndexOf("chunked", StringComparison.OrdinalIgnoreCase) >= 0)
            {
                var ms = new MemoryStream();
                byte[] chunk;
                while ((chunk = ReadChunk()) != null) ms.Write(chunk, 0, chunk.Length);
                return ms.ToArray();
            }
            var cl = headers.Get("Content-Length");
            if (cl != null) return ReadExact(long.Parse(cl.Split(',')[0].Trim()));
            if (!untilCloseAllowed) return new byte[0];
            var all = new MemoryStream();
            var tmp = new byte[16384];
            int read;
            while ((read = ReadSome(tmp, tmp.Length)) > 0) all.Write(tmp, 0, read);
            return all.ToArray();
        }
    }

    /// A response from an upstream HTTP server; the body is either buffered or pulled chunk by chunk.
    public sealed class UpstreamResponse : IDisposable
    {
        public int Status;
        public string Reason;
        public HeaderList Headers;
        public byte[] Body;          // buffered body, or null when streaming
        internal WireReader Reader;  // streaming source
        internal TcpClient Client;
        internal bool Chunked;
        internal long Remaining = -1; // Content-Length left, -1 = until close
        private readonly byte[] scratch = new byte[16384];

        /// Next piece of the streamed body (null at the end).
        public byte[] NextPiece()
        {
            if (Body != null)
            {
                var b = Body;
                Body = null;
                return b.Length == 0 ? null : b;
            }
            if (Reader == null) return null;
            if (Chunked) return Reader.ReadChunk();
            if (Remaining == 0) return null;
            int max = Remaining < 0 ? scratch.Length : (int)Math.Min(scratch.Length, Remaining);
            int n = Reader.ReadSome(scratch, max);
            if (n == 0) return null;
            if (Remaining > 0) Remaining -= n;
            var piece = new byte[n];
            Buffer.BlockCopy(scratch, 0, piece, 0, n);
            return piece;
        }

        public void Dispose()
        {
            if (Client != null) Client.Close();
            Client = null;
        }
    }

    public static class HttpClientLite
    {
        /// Sends one request over a fresh connection (Connection: close). `timeoutSeconds` bounds
        /// connecting and waiting for the response headers; with `stream` the body is not read.
        /// With `relay`, the body is the client's, copied from its connection as it arrives
        /// (forward-request of a body no policy read) instead of `body`.
        public static UpstreamResponse Send(string method, string url, HeaderList headers, byte[] body, int timeoutSeconds, bool stream, IncomingBody relay = null)
        {
            var uri = new Uri(url);
            if (relay != null && uri.Scheme != "http") body = relay.ReadAll(ApimLimits.BufferedPayloadBytes);
            if (uri.Scheme == "https") return SendTls(method, uri, headers, body, timeoutSeconds);
            if (uri.Scheme != "http") throw new InvalidOperationException("unsupported URL scheme " + uri.Scheme);
            var client = new TcpClient();
            try
            {
                var connect = client.ConnectAsync(uri.Host, uri.Port);
                if (!connect.Wait(TimeSpan.FromSeconds(timeoutSeconds))) throw new TimeoutException("connect timeout to " + uri.Authority);
                client.NoDelay = true;
                var ns = client.GetStream();
                ns.ReadTimeout = timeoutSeconds * 1000;
                var sb = new StringBuilder();
                sb.Append(method).Append(' ').Append(uri.PathAndQuery).Append(" HTTP/1.1\r\n");
                sb.Append("Host: ").Append(uri.Authority).Append("\r\n");
                foreach (var h in headers.Items)
                {
                    if (HeaderList.HopByHop.Contains(h.Key)) continue;
                    sb.Append(h.Key).Append(": ").Append(h.Value).Append("\r\n");
                }
                if (relay != null)
                    sb.Append(relay.Chunked ? "Transfer-Encoding: chunked" : "Content-Length: " + relay.Declared).Append("\r\n");
                else if (body != null && (body.Length > 0 || method != "GET" && method != "HEAD" && method != "DELETE" && method != "OPTIONS"))
                    sb.Append("Content-Length: ").Append(body.Length).Append("\r\n");
                sb.Append("Connection: close\r\n\r\n");
                var head = Encoding.UTF8.GetBytes(sb.ToString());
                ns.Write(head, 0, head.Length);
                if (relay != null) Relay(relay, ns);
                else if (body != null && body.Length > 0) ns.Write(body, 0, body.Length);
                ns.Flush();
                var reader = new WireReader(ns);
                string statusLine;
                HeaderList responseHeaders;
                do
                {
                    statusLine = reader.ReadLine();
                    if (statusLine == null) throw new IOException("upstream closed the connection without a response");
                    responseHeaders = reader.ReadHeaders();
                } while (statusLine.Split(' ')[1] == "100");
                var parts = statusLine.Split(new[] { ' ' }, 3);
                var result = new UpstreamResponse
                {
                    Status = int.Parse(parts[1]),
                    Reason = parts.Length > 2 ? parts[2] : "",
                    Headers = responseHeaders,
                };
                bool noBody = method == "HEAD" || result.Status == 204 || result.Status == 304;
                if (!stream || noBody)
                {
                    result.Body = noBody ? new byte[0] : reader.ReadBody(responseHeaders, true);
                    client.Close();
                    return result;
                }
                ns.ReadTimeout = System.Threading.Timeout.Infinite;
                result.Reader = reader;
                result.Client = client;
                var te = responseHeaders.Get("Transfer-Encoding");
                result.Chunked = te != null && te.IndexOf("chunked", StringComparison.OrdinalIgnoreCase) >= 0;
                var cl = responseHeaders.Get("Content-Length");
                if (!result.Chunked && cl != null) result.Remaining = long.Parse(cl.Split(',')[0].Trim());
                return result;
            }
            catch
            {
                client.Close();
                throw;
            }
        }

        /// Copies the client's body to the upstream connection piece by piece, in its own
        /// framing; past APIM's request payload limit the request fails.
        private static void Relay(IncomingBody body, Stream upstream)
        {
            var piece = new byte[16384];
            int n;
            while ((n = body.Read(piece)) > 0)
            {
                if (body.BytesRead > ApimLimits.RequestPayloadBytes) throw new RequestBodyTooLarge("request body exceeds " + ApimLimits.RequestPayloadBytes + " bytes");
                if (body.Chunked)
                {
                    var size = Encoding.ASCII.GetBytes(n.ToString("x") + "\r\n");
                    upstream.Write(size, 0, size.Length);
                }
                upstream.Write(piece, 0, n);
                if (body.Chunked) upstream.Write(new byte[] { 13, 10 }, 0, 2);
            }
            if (body.Chunked)
            {
                var last = Encoding.ASCII.GetBytes("0\r\n\r\n");
                upstream.Write(last, 0, last.Length);
            }
        }

        /// https (only Client ID Metadata Documents on the public internet use it): buffered, via HttpClient.
        private static UpstreamResponse SendTls(string method, Uri uri, HeaderList headers, byte[] body, int timeoutSeconds)
        {
            using (var http = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(timeoutSeconds) })
            {
                var request = new System.Net.Http.HttpRequestMessage(new System.Net.Http.HttpMethod(method), uri);
                if (body != null && body.Length > 0) request.Content = new System.Net.Http.ByteArrayContent(body);
                foreach (var h in headers.Items)
                {
                    if (HeaderList.HopByHop.Contains(h.Key)) continue;
                    if (!request.Headers.TryAddWithoutValidation(h.Key, h.Value) && request.Content != null)
                        request.Content.Headers.TryAddWithoutValidation(h.Key, h.Value);
                }
                var response = http.SendAsync(request).Result;
                var result = new UpstreamResponse { Status = (int)response.StatusCode, Reason = response.ReasonPhrase ?? "", Headers = new HeaderList() };
                foreach (var h in response.Headers) foreach (var v in h.Value) result.Headers.Add(h.Key, v);
                foreach (var h in response.Content.Headers) foreach (var v in h.Value) result.Headers.Add(h.Key, v);
                result.Body = response.Content.ReadAsByteArrayAsync().Result;
                return result;
            }
        }
    }

    /// An incoming request as read off the wire: the request line and headers; the body is
    /// still on the connection.
    public sealed class IncomingRequest
    {
        public string Method;
        public string Target;   // path and query as sent
        public string Version;
        public HeaderList Headers;
        public IncomingBody Body;
        public string RemoteIp;
    }

    /// A request whose framing headers cannot be read (a Content-Length that is not one
    /// number): answered 400 by the server before any policy, as HTTP servers do.
    public sealed class MalformedRequest : Exception
    {
        public MalformedRequest(string message) : base(message) { }
    }

    /// API Management's own request size limits, from the service limits table
    /// (learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits,
    /// "API Management limits"): for the v2 tiers and Consumption, a request payload of at most
    /// 1 GiB and a buffered payload (a body a policy reads) of at most 2 MiB; the classic tiers
    /// name no fixed limit. The runner applies the v2 figures, the tighter ones.
    public static class ApimLimits
    {
        public const long RequestPayloadBytes = 1L << 30;
        public const long BufferedPayloadBytes = 2L << 20;
    }

    /// A request body larger than what the reader was asked to buffer.
    public sealed class RequestBodyTooLarge : IOException
    {
        public RequestBodyTooLarge(string message) : base(message) { }
    }

    /// A request body still on the client's connection. Nothing reads it until something needs
    /// it (a policy expression, forward-request, send-request mode="copy"), as APIM streams a
    /// body and buffers it only when a policy reads it; so a request the policies refuse on its
    /// headers costs no memory for its body. Reads go through one 16 KiB buffer: a body being
    /// relayed or discarded is never held whole.
    public sealed class IncomingBody
    {
        private readonly WireReader reader;
        private readonly Stream stream;
        private readonly byte[] scratch = new byte[16384];
        private bool waitsForContinue; // Expect: 100-continue, and no 100 sent yet
        private long remaining;        // Content-Length bytes not read yet
        private long chunkLeft;        // bytes left in the current chunk
        private bool chunkedDone;

        /// The declared Content-Length, or -1 for a chunked body.
        public readonly long Declared;
        public readonly bool Chunked;
        public long BytesRead { get; private set; }
        public bool Complete { get { return Chunked ? chunkedDone : remaining == 0; } }

        public IncomingBody(WireReader reader, Stream stream, HeaderList headers)
        {
            this.reader = reader;
            this.stream = stream;
            var te = headers.Get("Transfer-Encoding");
            Chunked = te != null && te.IndexOf("chunked", StringComparison.OrdinalIgnoreCase) >= 0;
            var cl = headers.Get("Content-Length");
            if (Chunked) Declared = -1;
            else if (cl == null) Declared = 0; // RFC 9112 6.3: no framing headers, no body
            else
            {
                long n;
                // Several headers arrive comma-joined; they must agree (RFC 9110 8.6).
                var values = cl.Split(',').Select(v => v.Trim()).Distinct().ToArray();
                if (values.Length != 1 || values[0].Length == 0 || values[0].Length > 18 || !values[0].All(c => c >= '0' && c <= '9') || !long.TryParse(values[0], out n))
                    throw new MalformedRequest("Content-Length is not one number: " + cl);
                Declared = n;
            }
            remaining = Declared < 0 ? 0 : Declared;
            var expect = headers.Get("Expect");
            waitsForContinue = !Complete && expect != null && expect.Equals("100-continue", StringComparison.OrdinalIgnoreCase);
        }

        /// A client that sent Expect: 100-continue sends its body only once told to: told when
        /// the body is first needed, never for a body refused unread.
        private void Begin()
        {
            if (!waitsForContinue) return;
            waitsForContinue = false;
            var cont = Encoding.ASCII.GetBytes("HTTP/1.1 100 Continue\r\n\r\n");
            stream.Write(cont, 0, cont.Length);
            stream.Flush();
        }

        /// Reads the next piece of the body into `target` (at most its length); 0 at the end.
        public int Read(byte[] target)
        {
            if (Complete) return 0;
            Begin();
            int n;
            if (Chunked)
            {
                if (chunkLeft == 0)
                {
                    var sizeLine = reader.ReadLine();
                    if (sizeLine == null) throw new IOException("connection closed inside a chunked body");
                    int semi = sizeLine.IndexOf(';');
                    long size;
                    try { size = Convert.ToInt64((semi >= 0 ? sizeLine.Substring(0, semi) : sizeLine).Trim(), 16); }
                    catch (Exception e) when (e is FormatException || e is ArgumentException || e is OverflowException) { throw new IOException("malformed chunk size"); }
                    if (size < 0) throw new IOException("malformed chunk size");
                    if (size == 0)
                    {
                        reader.ReadHeaders(); // trailers
                        chunkedDone = true;
                        return 0;
                    }
                    chunkLeft = size;
                }
                n = reader.ReadSome(target, (int)Math.Min(target.Length, chunkLeft));
                if (n == 0) throw new IOException("connection closed inside a chunked body");
                chunkLeft -= n;
                if (chunkLeft == 0 && reader.ReadLine() == null) throw new IOException("connection closed inside a chunked body");
            }
            else
            {
                n = reader.ReadSome(target, (int)Math.Min(target.Length, remaining));
                if (n == 0) throw new IOException("connection closed inside a body");
                remaining -= n;
            }
            BytesRead += n;
            return n;
        }

        /// The whole body, when it is at most `limit` bytes. A larger declared body is refused
        /// without reading any of it, a larger chunked one once `limit` bytes are exceeded.
        public byte[] ReadAll(long limit)
        {
            if (Declared > limit) throw new RequestBodyTooLarge("request body of " + Declared + " bytes exceeds the " + limit + " bytes the gateway buffers");
            var ms = new MemoryStream(Declared > 0 ? (int)Declared : 0);
            int n;
            while ((n = Read(scratch)) > 0)
            {
                if (ms.Length + n > limit) throw new RequestBodyTooLarge("chunked request body exceeds the " + limit + " bytes the gateway buffers");
                ms.Write(scratch, 0, n);
            }
            return ms.ToArray();
        }

        /// Whether the rest of the body can be read off cheaply so the connection serves another
        /// request: a declared remainder of at most `limit` bytes that the client is sending.
        public bool CanFinish(long limit)
        {
            return Complete || !Chunked && !waitsForContinue && remaining <= limit;
        }

        /// Reads and discards the rest of the body (only after CanFinish).
        public void Discard()
        {
            while (Read(scratch) > 0) { }
        }
    }

    /// Writes a response: a fixed body with Content-Length, or a streamed body in chunks, each
    /// flushed to the socket as soon as it arrives.
    public sealed class ResponseWriter
    {
        private readonly Stream stream;
        public ResponseWriter(Stream stream) { this.stream = stream; }

        private void Head(int status, string reason, HeaderList headers, string framing, bool close)
        {
            var sb = new StringBuilder();
            sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(string.IsNullOrEmpty(reason) ? "Status" : reason).Append("\r\n");
            foreach (var h in headers.Items)
            {
                if (HeaderList.HopByHop.Contains(h.Key)) continue;
                sb.Append(h.Key).Append(": ").Append(h.Value.Replace("\r", " ").Replace("\n", " ")).Append("\r\n");
            }
            sb.Append(framing).Append("\r\n");
            if (close) sb.Append("Connection: close\r\n");
            sb.Append("\r\n");
            var bytes = Encoding.UTF8.GetBytes(sb.ToString());
            stream.Write(bytes, 0, bytes.Length);
        }

        public void WriteFixed(int status, string reason, HeaderList headers, byte[] body, bool close, bool headOnly)
        {
            Head(status, reason, headers, "Content-Length: " + body.Length, close);
            if (!headOnly && body.Length > 0) stream.Write(body, 0, body.Length);
            stream.Flush();
        }

        public void WriteStreamed(int status, string reason, HeaderList headers, Func<byte[]> next)
        {
            Head(status, reason, headers, "Transfer-Encoding: chunked", true);
            stream.Flush();
            byte[] piece;
            while ((piece = next()) != null)
            {
                if (piece.Length == 0) continue;
                var size = Encoding.ASCII.GetBytes(piece.Length.ToString("x") + "\r\n");
                stream.Write(size, 0, size.Length);
                stream.Write(piece, 0, piece.Length);
                stream.Write(new byte[] { 13, 10 }, 0, 2);
                stream.Flush();
            }
            var last = Encoding.ASCII.GetBytes("0\r\n\r\n");
            stream.Write(last, 0, last.Length);
            stream.Flush();
        }
    }

    public static class HttpServerLite
    {
        /// Accepts connections on 127.0.0.1:port; each connection gets a thread and keep-alive loop.
        public static void Serve(TcpListener listener, Func<IncomingRequest, ResponseWriter, bool> handle)
        {
            while (true)
            {
                var client = listener.AcceptTcpClient();
                var thread = new System.Threading.Thread(() => Connection(client, handle)) { IsBackground = true };
                thread.Start();
            }
        }

        /// A body the policies left unread is read off and dropped, to keep the connection,
        /// when at most this much of it is left; a larger one ends the connection.
        public const long DrainLimit = 64 * 1024;

        private static void Connection(TcpClient client, Func<IncomingRequest, ResponseWriter, bool> handle)
        {
            try
            {
                client.NoDelay = true;
                var ns = client.GetStream();
                var reader = new WireReader(ns);
                var writer = new ResponseWriter(ns);
                var remote = ((IPEndPoint)client.Client.RemoteEndPoint).Address.ToString();
                while (true)
                {
                    var line = reader.ReadLine();
                    if (line == null) return;
                    if (line.Length == 0) continue;
                    var parts = line.Split(' ');
                    if (parts.Length != 3) return;
                    var headers = reader.ReadHeaders();
                    var request = new IncomingRequest { Method = parts[0], Target = parts[1], Version = parts[2], Headers = headers, RemoteIp = remote };
                    try
                    {
                        request.Body = new IncomingBody(reader, ns, headers);
                    }
                    catch (MalformedRequest e)
                    {
                        Console.Error.WriteLine("local-apim: " + remote + " " + parts[0] + " " + parts[1].Split('?')[0] + ": " + e.Message);
                        var answer = new HeaderList();
                        answer.Add("Content-Type", "text/plain");
                        writer.WriteFixed(400, "Bad Request", answer, Encoding.ASCII.GetBytes("Bad Request"), true, false);
                        LingeringClose(client, ns);
                        return;
                    }
                    var connection = headers.Get("Connection") ?? "";
                    bool close = request.Version == "HTTP/1.0" || connection.IndexOf("close", StringComparison.OrdinalIgnoreCase) >= 0;
                    bool keep = handle(request, writer);
                    if (!request.Body.Complete)
                    {
                        if (keep && !close && request.Body.CanFinish(DrainLimit)) request.Body.Discard();
                        else
                        {
                            LingeringClose(client, ns);
                            return;
                        }
                    }
                    if (close || !keep) return;
                }
            }
            catch (IOException) { }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
            catch (Exception e)
            {
                // One bad request must never take the gateway down with it.
                Console.Error.WriteLine("local-apim: connection error: " + e);
            }
            finally
            {
                client.Close();
            }
        }

        /// Ends a connection whose request body was not read. Closing at once would make the
        /// kernel reset the connection while the client is still sending, and a client that
        /// writes its whole body before reading (most do) would lose the answer already sent.
        /// So the sending side is shut, and what the client still sends is read and dropped
        /// (16 KiB at a time, never kept) until it closes, goes quiet for 2 s, or 30 s pass.
        private static void LingeringClose(TcpClient client, NetworkStream ns)
        {
            try
            {
                ns.Flush();
                client.Client.Shutdown(SocketShutdown.Send);
                ns.ReadTimeout = 2000;
                var sink = new byte[16384];
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (DateTime.UtcNow < deadline && ns.Read(sink, 0, sink.Length) > 0) { }
            }
            catch (IOException) { }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }
    }
}

// The backend request: set-backend-service, rewrite-uri, forward-request (buffered, or a
// streamed body relayed chunk by chunk).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using LocalApim.Loading;
using LocalApim.Pipeline;

namespace LocalApim.Policies
{
    public sealed class SetBackendServicePolicy : Policy
    {
        public override string Name { get { return "set-backend-service"; } }
        public override string[] Sections { get { return new[] { "inbound", "backend" }; } }
        public override string[] Attributes { get { return new[] { "backend-id", "base-url" }; } }

        public override void Validate(XElement el, Validator v)
        {
            base.Validate(el, v);
            var id = (string)el.Attribute("backend-id");
            if (id != null && !v.Gateway.Config.Backends.ContainsKey(id)) throw new LoadError(Catalog.Where(el) + ": backend " + id + " has no local URL");
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var backendId = el.Attribute("backend-id");
            run.Ex.BackendBase = backendId != null ? run.Gateway.Config.Backends[backendId.Value] : run.Attr(el, "base-url");
            run.Ex.SyncUrl();
        }
    }

    public sealed class RewriteUriPolicy : Policy
    {
        public override string Name { get { return "rewrite-uri"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes { get { return new[] { "template", "copy-unmatched-params" }; } }

        public override void Execute(XElement el, PolicyRun run)
        {
            var ex = run.Ex;
            var template = run.Attr(el, "template");
            var copy = run.Attr(el, "copy-unmatched-params", "true") == "true";
            if (template.Contains("{")) throw new PolicyError(Catalog.Where(el), "NotImplemented", "rewrite-uri templates with parameters");
            int q = template.IndexOf('?');
            var path = q < 0 ? template : template.Substring(0, q);
            var query = q < 0 ? "" : template.Substring(q + 1);
            if (copy && ex.QueryString.Length > 1)
            {
                var own = new HashSet<string>(query.Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')[0]));
                var extra = ex.QueryString.Substring(1).Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries).Where(p => !own.Contains(p.Split('=')[0]));
                query = string.Join("&", new[] { query }.Concat(extra).Where(s => s != ""));
            }
            ex.PathSuffix = path.StartsWith("/") ? path : "/" + path;
            ex.QueryString = query == "" ? "" : "?" + query;
            ex.SyncUrl();
        }
    }

    public sealed class ForwardRequestPolicy : Policy
    {
        public override string Name { get { return "forward-request"; } }
        public override string[] Sections { get { return new[] { "backend" }; } }
        public override string[] Attributes { get { return new[] { "timeout", "buffer-response" }; } }

        public override void Execute(XElement el, PolicyRun run) { Forward(run.Ex, run.IntAttr(el, "timeout", "300"), run.Attr(el, "buffer-response", "true") == "true"); }

        /// Also APIM's default global backend policy (no element: 300 s, buffered).
        public static void Forward(Exchange ex, int timeout, bool buffer)
        {
            if (ex.BackendBase == null) throw new PolicyError("forward-request", "BackendConnectionFailure", "no backend service URL for API " + ex.Api.Name);
            var url = ex.BackendBase.TrimEnd('/') + ex.PathSuffix + ex.QueryString;
            var headers = new HeaderList();
            foreach (var h in ex.RequestHeaders.Items) headers.Add(h.Key, h.Value);
            UpstreamResponse r;
            try
            {
                // A body no policy read is relayed from the client as it arrives, never held.
                var relay = !ex.BodyBuffered && ex.Incoming != null && !ex.Incoming.Complete ? ex.Incoming : null;
                r = HttpClientLite.Send(ex.Method, url, headers, relay == null ? ex.RequestBody : null, timeout, true, relay);
            }
            catch (Exception e)
            {
                throw new PolicyError("forward-request", TimedOut(e) ? "Timeout" : "BackendConnectionFailure", e.Message);
            }
            var response = new Outgoing { Status = r.Status, Reason = r.Reason };
            foreach (var h in r.Headers.Items) if (!HeaderList.HopByHop.Contains(h.Key)) response.Headers.Add(h.Key, h.Value);
            if (buffer || (!r.Chunked && r.Remaining >= 0))
            {
                var ms = new MemoryStream();
                byte[] piece;
                using (r) while ((piece = r.NextPiece()) != null) ms.Write(piece, 0, piece.Length);
                response.Body = ms.ToArray();
            }
            else
            {
                response.Stream = r;
            }
            ex.SetResponse(response);
        }

        /// Only an expired connect or read timeout is a Timeout. A socket error of any other kind
        /// (the backend reset the connection, refused it, closed it unanswered) is a
        /// BackendConnectionFailure, as APIM reports a backend it cannot get an answer from.
        private static bool TimedOut(Exception e)
        {
            if (e is TimeoutException) return true;
            var socket = e.InnerException as System.Net.Sockets.SocketException;
            return e is IOException && socket != null
                && (socket.SocketErrorCode == System.Net.Sockets.SocketError.TimedOut || socket.SocketErrorCode == System.Net.Sockets.SocketError.WouldBlock);
        }
    }
}

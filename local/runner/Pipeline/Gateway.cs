// The gateway: loads and validates the catalog, then executes the policies for each request
// with APIM semantics: API/operation matching, scopes (global -> API -> operation, <base/>),
// sections inbound -> backend -> outbound, on-error, and the final response.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Expressions;
using LocalApim.Loading;
using LocalApim.Pipeline;
using LocalApim.Policies;
using LocalApim.Services;
using Newtonsoft.Json.Linq;

namespace LocalApim
{
    public sealed class Gateway
    {
        public readonly Config Config;
        public readonly Catalog Catalog;
        public readonly string GatewayUrl;
        public ExpressionSet Expressions { get; private set; }
        public ManagedIdentity Identity { get; private set; }
        public readonly ValueCache Cache = new ValueCache();
        public readonly RateLimiter Limiter = new RateLimiter();

        private Gateway(Config config, Catalog catalog, string gatewayUrl)
        {
            Config = config;
            Catalog = catalog;
            GatewayUrl = gatewayUrl;
        }

        // ------------------------------------------------------------------------------------
        // Loading
        // ------------------------------------------------------------------------------------

        public static Gateway Load(Config config)
        {
            var nv = JObject.Parse(File.ReadAllText(config.NamedValuesFile));
            var namedValues = nv.Properties().ToDictionary(p => p.Name, p => (string)p.Value);
            string url;
            if (!namedValues.TryGetValue("ApimGatewayUrl", out url)) throw new LoadError("named value ApimGatewayUrl is missing");
            Catalog catalog;
            try
            {
                catalog = Catalog.Load(config.PoliciesDir, namedValues);
            }
            catch (LoadError e) when (e.Message.Contains("has no local value"))
            {
                throw new LoadError(e.Message + " in " + config.NamedValuesFile);
            }
            foreach (var id in catalog.BackendIds)
                if (!config.Backends.ContainsKey(id)) throw new LoadError("backend " + id + " (manifest.json) has no local URL in the runner config");
            var gateway = new Gateway(config, catalog, url);
            gateway.Validate();
            Directory.CreateDirectory(config.WorkDir);
            gateway.Expressions = ExpressionCompiler.CompileAndLoad(ExpressionCompiler.Find(catalog), config.WorkDir);
            gateway.Identity = new ManagedIdentity(config, catalog.Constants.StorageApiVersion);
            return gateway;
        }

        /// Every element against what it implements, with its section and attributes.
        private void Validate()
        {
            foreach (var frag in Catalog.Fragments.Values) new Validator(this, "fragment").Children(frag.Elements(), "fragment");
            foreach (var doc in Catalog.Documents())
                foreach (var s in doc.Sections) new Validator(this, s.Key).Children(s.Value.Elements(), s.Key);
        }

        /// Creates the blob containers the policies write to (in Azure, Bicep creates them).
        public void Prepare()
        {
            foreach (var container in Config.CreateContainers)
            {
                var req = new OutgoingRequest { Method = "PUT", Url = Catalog.Substitute(container, "runner config") + "?restype=container", SignForStorage = true, Body = new byte[0] };
                req.Headers.Add("x-ms-version", Identity.StorageApiVersion);
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (true)
                {
                    try
                    {
                        var r = Send(req, 10);
                        if (r.Status == 201 || r.Status == 409) break;
                        throw new LoadError("creating container " + req.Url + ": HTTP " + r.Status + " " + Encoding.UTF8.GetString(r.Body ?? new byte[0]));
                    }
                    catch (Exception e) when (!(e is LoadError) && DateTime.UtcNow < deadline)
                    {
                        System.Threading.Thread.Sleep(200);
                    }
                }
            }
        }

        // ------------------------------------------------------------------------------------
        // One request
        // ------------------------------------------------------------------------------------

        public bool Handle(IncomingRequest incoming, ResponseWriter writer)
        {
            var started = DateTime.UtcNow;
            Outgoing response;
            Exchange ex = null;
            try
            {
                if (incoming.Body.Declared > ApimLimits.RequestPayloadBytes)
                {
                    // The documented limit comes with no documented answer: this one is the
                    // runner's, in APIM's error format.
                    response = Plain(413, "Content Too Large", "{\"statusCode\": 413, \"message\": \"The request body exceeds the maximum request payload size.\"}");
                }
                else
                {
                    ex = Route(incoming);
                    response = ex == null ? NotFound() : Run(ex);
                }
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("local-apim: internal error: " + e);
                response = Plain(500, "Internal Server Error", "{\"statusCode\": 500, \"message\": \"Internal server error\"}");
            }
            CorsPolicy.Decorate(ex, incoming.Headers, response);
            RewriteLocation(response);
            bool keep = true;
            long sent = 0; // response body bytes, for quota-by-key bandwidth
            try
            {
                if (response.Stream != null)
                {
                    keep = false;
                    var stream = response.Stream;
                    using (stream) writer.WriteStreamed(response.Status, response.Reason, response.Headers, () =>
                    {
                        var piece = stream.NextPiece();
                        if (piece != null) sent += piece.Length;
                        return piece;
                    });
                }
                else
                {
                    var body = response.Body ?? new byte[0];
                    // A large body left unread ends the connection (HttpServerLite): say so.
                    writer.WriteFixed(response.Status, response.Reason, response.Headers, body, !incoming.Body.CanFinish(HttpServerLite.DrainLimit), incoming.Method == "HEAD");
                    if (incoming.Method != "HEAD") sent = body.Length;
                }
            }
            finally
            {
                if (ex != null) foreach (var done in ex.AfterResponse) done(incoming.Body.BytesRead + sent);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0:O} {1} {2} {3} -> {4} {5}{6} ({7:0} ms)",
                    started, incoming.RemoteIp, incoming.Method, incoming.Target.Split('?')[0],
                    response.Status, ex != null ? ex.Api.Name + "/" + ex.Operation.Name : "-",
                    response.Stream != null ? " streamed" : "", (DateTime.UtcNow - started).TotalMilliseconds));
                if (ex != null && Config.Verbose) foreach (var t in ex.Trace) Console.WriteLine("  trace: " + t);
                Console.Out.Flush();
            }
            return keep;
        }

        public static Outgoing Plain(int status, string reason, string json)
        {
            var r = new Outgoing { Status = status, Reason = reason, Body = Encoding.UTF8.GetBytes(json) };
            r.Headers.Add("Content-Type", "application/json");
            return r;
        }

        /// APIM's answer when no API or operation matches the request.
        private static Outgoing NotFound()
        {
            return Plain(404, "Not Found", "{\"statusCode\": 404, \"message\": \"Resource not found\"}");
        }

        /// Matches the API (longest path prefix) and operation (method and URL template, `/*`
        /// as a fallback). A CORS preflight that matches no operation is answered by the API's
        /// cors policy alone (APIM); anything else that matches none is a 404.
        private Exchange Route(IncomingRequest incoming)
        {
            var target = incoming.Target;
            int q = target.IndexOf('?');
            var path = q < 0 ? target : target.Substring(0, q);
            var query = q < 0 ? "" : target.Substring(q);
            foreach (var api in Catalog.Apis)
            {
                string suffix;
                if (api.Path == "") suffix = path;
                else if (path.Equals("/" + api.Path, StringComparison.OrdinalIgnoreCase)) suffix = "";
                else if (path.StartsWith("/" + api.Path + "/", StringComparison.OrdinalIgnoreCase)) suffix = path.Substring(api.Path.Length + 1);
                else continue;
                var normalized = suffix == "" ? "/" : suffix;
                var op = api.Operations.FirstOrDefault(o => o.Method == incoming.Method && o.UrlTemplate != "/*" && string.Equals(o.UrlTemplate, normalized, StringComparison.OrdinalIgnoreCase))
                    ?? api.Operations.FirstOrDefault(o => o.Method == incoming.Method && o.UrlTemplate == "/*");
                bool preflightOnly = op == null && CorsPolicy.IsPreflight(incoming.Method, incoming.Headers);
                if (op == null && !preflightOnly) return null;
                if (preflightOnly) op = new Operation { Name = "(cors preflight)", Method = "OPTIONS", UrlTemplate = null, Policy = null };
                return NewExchange(incoming, api, op, suffix, path, query, preflightOnly);
            }
            return null;
        }

        private Exchange NewExchange(IncomingRequest incoming, Api api, Operation op, string suffix, string path, string query, bool preflightOnly)
        {
            var ex = new Exchange { Api = api, Operation = op, Method = incoming.Method, PathSuffix = suffix, QueryString = query, PreflightOnly = preflightOnly, GatewayUrl = GatewayUrl };
            foreach (var h in incoming.Headers.Items) ex.RequestHeaders.Add(h.Key, h.Value);
            ex.Incoming = incoming.Body;
            ex.Request = new Request
            {
                IpAddress = incoming.RemoteIp,
                OriginalUrl = new Url(GatewayUrl + path + query),
                Body = new RequestBodyOnDemand(ex),
            };
            ex.Context = new ProxyRequestContext
            {
                Request = ex.Request,
                Api = new ApiInfo { Id = api.Name, Name = api.Name, Path = api.Path },
                Operation = new OperationInfo { Id = op.Name, Name = op.Name, Method = op.Method, UrlTemplate = op.UrlTemplate },
                Deployment = new DeploymentInfo(),
                Response = null,
                Timestamp = DateTime.UtcNow,
            };
            ex.Levels = new[] { api.Policy, op.Policy }; // a preflight-only exchange has no operation policy (= <base/>)
            ex.SyncRequest();
            ex.SyncUrl();
            return ex;
        }

        private Outgoing Run(Exchange ex)
        {
            try
            {
                try
                {
                    ex.Section = "inbound";
                    RunSection(ex, 1, "inbound");
                    // A preflight no cors policy answered is never forwarded: APIM has no operation for it.
                    if (ex.PreflightOnly) return NotFound();
                    ex.Section = "backend";
                    RunSection(ex, 1, "backend");
                    if (ex.Response == null) throw new PolicyError("backend", "NoResponse", "the backend section produced no response");
                    ex.Section = "outbound";
                    RunSection(ex, 1, "outbound");
                    return ex.Response;
                }
                catch (ReturnResponse r)
                {
                    if (ex.Response != null && ex.Response.Stream != null && ex.Response != r.Response) ex.Response.Stream.Dispose();
                    return r.Response;
                }
            }
            catch (Exception e)
            {
                return OnError(ex, e);
            }
        }

        /// context.LastError set, APIM's answer to the error (its default 500 unless the policy
        /// has one of its own, e.g. a rate limit's 429), then the on-error sections (which may change it).
        private Outgoing OnError(Exchange ex, Exception e)
        {
            var pe = e as PolicyError;
            var error = new LastError
            {
                Source = pe != null ? pe.Origin : "runtime",
                Reason = pe != null ? pe.Reason : e.GetType().Name,
                Message = e.Message,
                Section = ex.Section,
                Scope = "operation",
                PolicyId = pe != null ? pe.PolicyId : null,
            };
            if (pe != null && pe.Response != null)
                Console.Error.WriteLine("local-apim: " + ex.Api.Name + "/" + ex.Operation.Name + " " + ex.Section + ": " + error.Source + " " + error.Reason + " (" + error.PolicyId + "): " + e.Message);
            else
                Console.Error.WriteLine("local-apim: " + ex.Api.Name + "/" + ex.Operation.Name + " " + ex.Section + ": " + error.Source + " " + error.Reason + ": " + e);
            ex.Context.LastError = error;
            if (ex.Response != null && ex.Response.Stream != null) ex.Response.Stream.Dispose();
            ex.SetResponse(pe != null && pe.Response != null ? pe.Response : Plain(500, "Internal Server Error", new JObject(
                new JProperty("statusCode", 500), new JProperty("message", "Internal server error"),
                new JProperty("activityId", ex.Context.RequestId.ToString())).ToString(Newtonsoft.Json.Formatting.None)));
            try
            {
                ex.Section = "on-error";
                RunSection(ex, 1, "on-error");
                return ex.Response;
            }
            catch (ReturnResponse r)
            {
                return r.Response;
            }
            catch (Exception e2)
            {
                Console.Error.WriteLine("local-apim: error inside on-error: " + e2);
                return ex.Response;
            }
        }

        /// Runs one section at a level; <base/> runs the same section one level up. Level -1 is
        /// the global scope, whose only policy is APIM's default forward-request in backend.
        public void RunSection(Exchange ex, int level, string section)
        {
            if (level < 0)
            {
                if (section == "backend") ForwardRequestPolicy.Forward(ex, 300, true);
                return;
            }
            var doc = ex.Levels[level];
            if (doc == null)
            {
                RunSection(ex, level - 1, section); // no policy document = <base/> only
                return;
            }
            XElement el;
            if (!doc.Sections.TryGetValue(section, out el)) return;
            new PolicyRun(this, ex, section, level, MessageTarget.ForSection(section)).Run(el.Elements());
        }

        // ------------------------------------------------------------------------------------
        // Outside calls
        // ------------------------------------------------------------------------------------

        /// The runner's own HTTP calls (send-request, container creation), host-mapped and signed.
        public UpstreamResponse Send(OutgoingRequest req, int timeout)
        {
            var url = MapHost(req.Url);
            if (req.SignForStorage) Identity.SignSharedKey(req.Method, url, req.Headers, req.Body);
            return HttpClientLite.Send(req.Method, url, req.Headers, req.Body, timeout, false);
        }

        /// The documented host mapping: URLs of hosts the machine cannot reach (Entra ID) go to
        /// their local stand-ins, both for the runner's own HTTP calls and for redirects it sends
        /// browsers to.
        private string MapHost(string url)
        {
            foreach (var m in Config.HostMap)
            {
                if (url.StartsWith(m.Key + "/", StringComparison.OrdinalIgnoreCase) || url.Equals(m.Key, StringComparison.OrdinalIgnoreCase))
                    return m.Value + url.Substring(m.Key.Length);
            }
            return url;
        }

        private void RewriteLocation(Outgoing response)
        {
            var location = response.Headers.Get("Location");
            if (location != null) response.Headers.Set("Location", new[] { MapHost(location) });
            // A page's CSP names where its form may send the browser (form-action, which
            // Chromium applies to every redirect after the POST); a mapped host there is mapped
            // like the redirects themselves, or the browser would refuse the stand-in.
            var csp = response.Headers.Get("Content-Security-Policy");
            if (csp == null) return;
            foreach (var m in Config.HostMap)
                csp = System.Text.RegularExpressions.Regex.Replace(csp,
                    "(?<=[ ;])" + System.Text.RegularExpressions.Regex.Escape(m.Key) + "(?=[ ;]|$)", m.Value.Replace("$", "$$"),
                    System.Text.RegularExpressions.RegexOptions.IgnoreCase);
            response.Headers.Set("Content-Security-Policy", new[] { csp });
        }
    }
}

// Executes the policies for one request with APIM semantics (docs/local-gateway.md).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Apim.Model;
using Newtonsoft.Json.Linq;

namespace LocalApim
{
    /// Everything about one request in flight.
    public sealed class Exchange
    {
        public ProxyRequestContext Context;
        public Request Request;
        public HeaderList RequestHeaders = new HeaderList();
        public byte[] RequestBody;
        public string Method;
        public Api Api;
        public Operation Operation;
        public PolicyDoc[] Levels; // [api, operation]
        public string BackendBase;  // set-backend-service
        public string PathSuffix;   // path after the API path, rewritten by rewrite-uri
        public string QueryString;  // including '?', or ""
        public Outgoing Response;   // set by forward-request (outbound) or errors (on-error)
        public XElement Cors;       // the cors policy that applied, for simple (non-preflight) responses
        public bool PreflightOnly;  // no operation matched a CORS preflight: only the API's cors may answer it
        public string Section;
        public readonly List<string> Trace = new List<string>();

        public void SyncRequest()
        {
            Request.Headers = RequestHeaders.ToDictionary();
            Request.Method = Method;
        }
    }

    public sealed partial class Gateway
    {
        // ------------------------------------------------------------------------------------
        // Entry point
        // ------------------------------------------------------------------------------------

        public bool Handle(IncomingRequest incoming, ResponseWriter writer)
        {
            var started = DateTime.UtcNow;
            Outgoing response;
            Exchange ex = null;
            try
            {
                ex = NewExchange(incoming);
                response = ex == null ? NotFound() : Run(ex);
            }
            catch (Exception e)
            {
                Console.Error.WriteLine("local-apim: internal error: " + e);
                response = Plain(500, "Internal Server Error", "{\"statusCode\": 500, \"message\": \"Internal server error\"}");
            }
            ApplyCors(ex, incoming, response);
            RewriteLocation(response);
            bool keep = true;
            try
            {
                if (response.Stream != null)
                {
                    keep = false;
                    using (response.Stream)
                    {
                        writer.WriteStreamed(response.Status, response.Reason, response.Headers, response.Stream.NextPiece);
                    }
                }
                else
                {
                    writer.WriteFixed(response.Status, response.Reason, response.Headers, response.Body ?? new byte[0], false, incoming.Method == "HEAD");
                }
            }
            finally
            {
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0:O} {1} {2} {3} -> {4} {5}{6} ({7:0} ms)",
                    started, incoming.RemoteIp, incoming.Method, incoming.Target.Split('?')[0],
                    response.Status, ex != null && ex.Operation != null ? ex.Api.Name + "/" + ex.Operation.Name : "-",
                    response.Stream != null ? " streamed" : "", (DateTime.UtcNow - started).TotalMilliseconds));
                if (ex != null && Config.Verbose) foreach (var t in ex.Trace) Console.WriteLine("  trace: " + t);
                Console.Out.Flush();
            }
            return keep;
        }

        /// APIM's answer when no API or operation matches the request.
        private static Outgoing NotFound()
        {
            return Plain(404, "Not Found", "{\"statusCode\": 404, \"message\": \"Resource not found\"}");
        }

        private static bool IsPreflight(string method, HeaderList headers)
        {
            return method == "OPTIONS" && headers.Get("Origin") != null && headers.Get("Access-Control-Request-Method") != null;
        }

        private static Outgoing Plain(int status, string reason, string json)
        {
            var r = new Outgoing { Status = status, Reason = reason, Body = Encoding.UTF8.GetBytes(json) };
            r.Headers.Add("Content-Type", "application/json");
            return r;
        }

        /// Matches the API (longest path prefix) and operation (method and URL template).
        private Exchange NewExchange(IncomingRequest incoming)
        {
            var target = incoming.Target;
            int q = target.IndexOf('?');
            var path = q < 0 ? target : target.Substring(0, q);
            var query = q < 0 ? "" : target.Substring(q);
            foreach (var api in apis)
            {
                string suffix;
                if (api.Path == "") suffix = path;
                else if (path.Equals("/" + api.Path, StringComparison.OrdinalIgnoreCase)) suffix = "";
                else if (path.StartsWith("/" + api.Path + "/", StringComparison.OrdinalIgnoreCase)) suffix = path.Substring(api.Path.Length + 1);
                else continue;
                var normalized = suffix == "" ? "/" : suffix;
                var op = api.Operations.FirstOrDefault(o => o.Method == incoming.Method && o.UrlTemplate != "/*" && string.Equals(o.UrlTemplate, normalized, StringComparison.OrdinalIgnoreCase))
                    ?? api.Operations.FirstOrDefault(o => o.Method == incoming.Method && o.UrlTemplate == "/*");
                // APIM answers a CORS preflight that matches no operation with the API's cors
                // policy; anything else that matches no operation is a 404.
                bool preflightOnly = op == null && IsPreflight(incoming.Method, incoming.Headers);
                if (op == null && !preflightOnly) return null;
                if (preflightOnly) op = new Operation { Name = "(cors preflight)", Method = "OPTIONS", UrlTemplate = null, Policy = null };
                var ex = new Exchange { Api = api, Operation = op, Method = incoming.Method, PathSuffix = suffix, QueryString = query, PreflightOnly = preflightOnly };
                foreach (var h in incoming.Headers.Items) ex.RequestHeaders.Add(h.Key, h.Value);
                ex.RequestBody = incoming.Body;
                ex.Request = new Request
                {
                    IpAddress = incoming.RemoteIp,
                    OriginalUrl = new Url(GatewayUrl + path + query),
                    Body = new MessageBody(incoming.Body),
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
                ex.Levels = new[] { api.Policy, op.Policy };  // a preflight-only exchange has no operation policy (= <base/>)
                ex.SyncRequest();
                SyncUrl(ex);
                return ex;
            }
            return null;
        }

        /// context.Request.Url: the backend URL the request would be forwarded to.
        private void SyncUrl(Exchange ex)
        {
            var baseUrl = ex.BackendBase ?? (GatewayUrl + (ex.Api.Path == "" ? "" : "/" + ex.Api.Path));
            ex.Request.Url = new Url(baseUrl.TrimEnd('/') + ex.PathSuffix + ex.QueryString);
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
                var pe = e as PolicyError;
                var error = new LastError
                {
                    Source = pe != null ? pe.Origin : "runtime",
                    Reason = pe != null ? pe.Reason : e.GetType().Name,
                    Message = e.Message,
                    Section = ex.Section,
                    Scope = "operation",
                };
                Console.Error.WriteLine("local-apim: " + ex.Api.Name + "/" + ex.Operation.Name + " " + ex.Section + ": " + error.Source + " " + error.Reason + ": " + e);
                ex.Context.LastError = error;
                if (ex.Response != null && ex.Response.Stream != null) ex.Response.Stream.Dispose();
                ex.Response = Plain(500, "Internal Server Error", new JObject(
                    new JProperty("statusCode", 500), new JProperty("message", "Internal server error"),
                    new JProperty("activityId", ex.Context.RequestId.ToString())).ToString(Newtonsoft.Json.Formatting.None));
                ex.Context.Response = ToModel(ex.Response);
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
        }

        /// Runs one section at a level; <base/> runs the same section one level up. Level -1 is
        /// the global scope, whose only policy is APIM's default forward-request in backend.
        private void RunSection(Exchange ex, int level, string section)
        {
            if (level < 0)
            {
                if (section == "backend") ForwardRequest(ex, null);
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
            Execute(ex, el.Elements(), section, level, null, null);
        }

        // ------------------------------------------------------------------------------------
        // Values
        // ------------------------------------------------------------------------------------

        private object Eval(Exchange ex, XObject node)
        {
            Func<IProxyRequestContext, object> f;
            if (!compiled.TryGetValue(node, out f)) throw new InvalidOperationException("no compiled expression");
            try
            {
                return f(ex.Context);
            }
            catch (Exception e)
            {
                throw new PolicyError(labels[node], "ExpressionValueEvaluationFailure", "Expression evaluation failed. " + e.GetType().Name + ": " + e.Message);
            }
        }

        /// The value of an attribute: the expression's result or the literal text (null when absent).
        private object AttrValue(Exchange ex, XElement el, string name)
        {
            var attr = el.Attribute(name);
            if (attr == null) return null;
            return compiled.ContainsKey(attr) ? Eval(ex, attr) : attr.Value;
        }

        private string Attr(Exchange ex, XElement el, string name, string fallback = null)
        {
            var v = AttrValue(ex, el, name);
            return v == null ? fallback : Stringify(v);
        }

        private object TextValue(Exchange ex, XElement el)
        {
            return compiled.ContainsKey(el) ? Eval(ex, el) : el.Value;
        }

        private static string Stringify(object v)
        {
            if (v == null) return "";
            if (v is string) return (string)v;
            if (v is bool) return (bool)v ? "true" : "false";
            if (v is IFormattable) return ((IFormattable)v).ToString(null, CultureInfo.InvariantCulture);
            return v.ToString();
        }

        private static bool Truthy(object v, string where)
        {
            if (v is bool) return (bool)v;
            throw new PolicyError(where, "ExpressionValueEvaluationFailure", "condition did not evaluate to a bool");
        }

        private static IResponse ToModel(Outgoing o)
        {
            return new Response { StatusCode = o.Status, StatusReason = o.Reason, Headers = o.Headers.ToDictionary(), Body = o.Stream == null ? new MessageBody(o.Body ?? new byte[0]) : null };
        }

        // ------------------------------------------------------------------------------------
        // Policies
        // ------------------------------------------------------------------------------------

        /// Executes policy elements. `section` is inbound/backend/outbound/on-error; `building`
        /// is the response of an enclosing return-response; `sending` the request of send-request.
        private void Execute(Exchange ex, IEnumerable<XElement> elements, string section, int level, Outgoing building, OutgoingRequest sending)
        {
            foreach (var el in elements)
            {
                var name = el.Name.LocalName;
                if (Config.Verbose) ex.Trace.Add(Where(el));
                switch (name)
                {
                    case "base":
                        RunSection(ex, level - 1, section);
                        break;
                    case "choose":
                        foreach (var branch in el.Elements())
                        {
                            if (branch.Name.LocalName == "otherwise" || Truthy(AttrValue(ex, branch, "condition"), Where(branch)))
                            {
                                Execute(ex, branch.Elements(), section, level, building, sending);
                                break;
                            }
                        }
                        break;
                    case "include-fragment":
                        Execute(ex, fragments[el.Attribute("fragment-id").Value].Elements(), section, level, building, sending);
                        break;
                    case "set-variable":
                        ex.Context.VariableStore[el.Attribute("name").Value] = AttrValue(ex, el, "value");
                        break;
                    case "trace":
                        var message = el.Element("message");
                        ex.Trace.Add("trace " + Attr(ex, el, "source", "") + ": " + (message == null ? "" : Stringify(TextValue(ex, message))));
                        break;
                    case "set-header":
                        SetHeader(ex, el, section, building, sending);
                        break;
                    case "set-body":
                        var body = Encoding.UTF8.GetBytes(Stringify(TextValue(ex, el)));
                        if (sending != null) sending.Body = body;
                        else if (building != null) building.Body = body;
                        else if (section == "inbound" || section == "backend")
                        {
                            ex.RequestBody = body;
                            ex.Request.Body = new MessageBody(body);
                        }
                        else
                        {
                            if (ex.Response.Stream != null) throw new PolicyError(Where(el), "BodyNotBuffered", "set-body on an unbuffered response");
                            ex.Response.Body = body;
                            ex.Context.Response = ToModel(ex.Response);
                        }
                        break;
                    case "set-status":
                        var target = building ?? ex.Response;
                        if (target == null) throw new PolicyError(Where(el), "NoResponse", "set-status without a response");
                        target.Status = int.Parse(Attr(ex, el, "code"), CultureInfo.InvariantCulture);
                        target.Reason = Attr(ex, el, "reason", "");
                        if (building == null) ex.Context.Response = ToModel(ex.Response);
                        break;
                    case "return-response":
                        ReturnResponsePolicy(ex, el, section, level);
                        break;
                    case "check-header":
                        CheckHeader(ex, el);
                        break;
                    case "cache-store-value":
                        cache.Store(Attr(ex, el, "key"), AttrValue(ex, el, "value"), double.Parse(Attr(ex, el, "duration"), CultureInfo.InvariantCulture));
                        break;
                    case "cache-lookup-value":
                        object cached;
                        var variable = el.Attribute("variable-name").Value;
                        if (cache.TryGet(Attr(ex, el, "key"), out cached)) ex.Context.VariableStore[variable] = cached;
                        else if (el.Attribute("default-value") != null) ex.Context.VariableStore[variable] = AttrValue(ex, el, "default-value");
                        break;
                    case "cache-remove-value":
                        cache.Remove(Attr(ex, el, "key"));
                        break;
                    case "send-request":
                        SendRequestPolicy(ex, el, section, level);
                        break;
                    case "authentication-managed-identity":
                        ManagedIdentity(ex, el, sending);
                        break;
                    case "set-url":
                        sending.Url = Stringify(TextValue(ex, el)).Trim();
                        break;
                    case "set-method":
                        var method = Stringify(TextValue(ex, el)).Trim().ToUpperInvariant();
                        if (sending != null) sending.Method = method;
                        else
                        {
                            ex.Method = method;
                            ex.SyncRequest();
                        }
                        break;
                    case "rewrite-uri":
                        RewriteUri(ex, el);
                        break;
                    case "set-backend-service":
                        var backendId = el.Attribute("backend-id");
                        ex.BackendBase = backendId != null ? Config.Backends[backendId.Value] : Attr(ex, el, "base-url");
                        SyncUrl(ex);
                        break;
                    case "forward-request":
                        ForwardRequest(ex, el);
                        break;
                    case "rate-limit-by-key":
                        RateLimit(ex, el);
                        break;
                    case "cors":
                        CorsPolicy(ex, el);
                        break;
                    default:
                        throw new PolicyError(Where(el), "NotImplemented", "policy <" + name + "> is not implemented");
                }
            }
        }

        private void SetHeader(Exchange ex, XElement el, string section, Outgoing building, OutgoingRequest sending)
        {
            HeaderList headers;
            if (sending != null) headers = sending.Headers;
            else if (building != null) headers = building.Headers;
            else if (section == "inbound" || section == "backend") headers = ex.RequestHeaders;
            else
            {
                if (ex.Response == null) throw new PolicyError(Where(el), "NoResponse", "set-header without a response");
                headers = ex.Response.Headers;
            }
            var name = Attr(ex, el, "name");
            var action = Attr(ex, el, "exists-action", "override");
            var values = el.Elements("value").Select(v => Stringify(TextValue(ex, v))).ToList();
            switch (action)
            {
                case "override": headers.Set(name, values); break;
                case "skip": if (!headers.Has(name)) headers.Set(name, values); break;
                case "append": foreach (var v in values) headers.Add(name, v); break;
                case "delete": headers.Remove(name); break;
                default: throw new PolicyError(Where(el), "InvalidAttribute", "exists-action " + action);
            }
            if (headers == ex.RequestHeaders) ex.SyncRequest();
            else if (ex.Response != null && headers == ex.Response.Headers) ex.Context.Response = ToModel(ex.Response);
        }

        private void ReturnResponsePolicy(Exchange ex, XElement el, string section, int level)
        {
            var response = new Outgoing();
            var variable = (string)el.Attribute("response-variable-name");
            if (variable != null)
            {
                var from = ex.Context.VariableStore[variable] as IResponse;
                if (from == null) throw new PolicyError(Where(el), "InvalidVariable", "variable " + variable + " holds no response");
                response.Status = from.StatusCode;
                response.Reason = from.StatusReason;
                foreach (var h in from.Headers) foreach (var v in h.Value) response.Headers.Add(h.Key, v);
                response.Body = from.Body == null ? new byte[0] : from.Body.As<byte[]>(true);
            }
            Execute(ex, el.Elements(), section, level, response, null);
            throw new ReturnResponse(response);
        }

        private void CheckHeader(Exchange ex, XElement el)
        {
            var name = Attr(ex, el, "name");
            var ignoreCase = Attr(ex, el, "ignore-case", "false") == "true";
            var allowed = el.Elements("value").Select(v => Stringify(TextValue(ex, v))).ToList();
            var present = ex.RequestHeaders.GetAll(name);
            bool ok = present.Length > 0 && (allowed.Count == 0 || present.Any(p => allowed.Any(a => string.Equals(a, p, ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))));
            if (ok) return;
            var code = int.Parse(Attr(ex, el, "failed-check-httpcode"), CultureInfo.InvariantCulture);
            throw new ReturnResponse(Plain(code, code == 401 ? "Unauthorized" : "Bad Request", new JObject(
                new JProperty("statusCode", code), new JProperty("message", Attr(ex, el, "failed-check-error-message", ""))).ToString(Newtonsoft.Json.Formatting.None)));
        }

        private void RewriteUri(Exchange ex, XElement el)
        {
            var template = Attr(ex, el, "template");
            var copy = Attr(ex, el, "copy-unmatched-params", "true") == "true";
            if (template.Contains("{")) throw new PolicyError(Where(el), "NotImplemented", "rewrite-uri templates with parameters");
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
            SyncUrl(ex);
        }

        private void RateLimit(Exchange ex, XElement el)
        {
            var calls = int.Parse(Attr(ex, el, "calls"), CultureInfo.InvariantCulture);
            var period = int.Parse(Attr(ex, el, "renewal-period"), CultureInfo.InvariantCulture);
            var key = Attr(ex, el, "counter-key");
            var increment = el.Attribute("increment-condition") == null || Truthy(AttrValue(ex, el, "increment-condition"), Where(el));
            var wait = limiter.Hit(ex.Api.Name + "\n" + key, calls, period, increment);
            if (wait == 0) return;
            var r = Plain(429, "Too Many Requests", new JObject(new JProperty("statusCode", 429),
                new JProperty("message", "Rate limit is exceeded. Try again in " + wait + " seconds.")).ToString(Newtonsoft.Json.Formatting.None));
            r.Headers.Add("Retry-After", wait.ToString(CultureInfo.InvariantCulture));
            throw new ReturnResponse(r);
        }

        // ------------------------------------------------------------------------------------
        // CORS
        // ------------------------------------------------------------------------------------

        private static List<string> CorsList(XElement cors, string group)
        {
            var g = cors.Element(group);
            return g == null ? new List<string>() : g.Elements().Select(e => e.Value.Trim()).ToList();
        }

        private void CorsPolicy(Exchange ex, XElement el)
        {
            ex.Cors = el;
            var origin = ex.RequestHeaders.Get("Origin");
            var requestedMethod = ex.RequestHeaders.Get("Access-Control-Request-Method");
            if (!IsPreflight(ex.Method, ex.RequestHeaders)) return;
            // APIM (cors policy reference, usage notes): a request that matches an explicit
            // OPTIONS operation is that operation's request; the cors policy does not answer it.
            if (!ex.PreflightOnly && ex.Operation.Method == "OPTIONS") return;
            // Preflight: answered here, never forwarded.
            var origins = CorsList(el, "allowed-origins");
            var methods = CorsList(el, "allowed-methods");
            var headers = CorsList(el, "allowed-headers");
            var r = new Outgoing { Status = 200, Reason = "OK" };
            bool originOk = origins.Contains("*") || origins.Contains(origin);
            bool methodOk = methods.Contains("*") || methods.Contains(requestedMethod, StringComparer.OrdinalIgnoreCase);
            var askedHeaders = (ex.RequestHeaders.Get("Access-Control-Request-Headers") ?? "").Split(',').Select(h => h.Trim()).Where(h => h != "").ToList();
            bool headersOk = headers.Contains("*") || askedHeaders.All(h => headers.Contains(h, StringComparer.OrdinalIgnoreCase));
            if (originOk && methodOk && headersOk)
            {
                r.Headers.Add("Access-Control-Allow-Origin", origins.Contains("*") && (string)el.Attribute("allow-credentials") != "true" ? "*" : origin);
                r.Headers.Add("Access-Control-Allow-Methods", string.Join(",", methods));
                if (askedHeaders.Count > 0) r.Headers.Add("Access-Control-Allow-Headers", headers.Contains("*") ? string.Join(",", askedHeaders) : string.Join(",", headers));
                if ((string)el.Attribute("allow-credentials") == "true") r.Headers.Add("Access-Control-Allow-Credentials", "true");
                ex.Cors = null; // already answered in full
            }
            else
            {
                ex.Cors = null;
                if ((string)el.Attribute("terminate-unmatched-request") == "false") return;
            }
            throw new ReturnResponse(r);
        }

        /// Simple cross-origin requests: the cors policy that ran decorates the final response.
        private static void ApplyCors(Exchange ex, IncomingRequest incoming, Outgoing response)
        {
            if (ex == null || ex.Cors == null) return;
            var origin = incoming.Headers.Get("Origin");
            if (origin == null) return;
            var origins = CorsList(ex.Cors, "allowed-origins");
            if (!origins.Contains("*") && !origins.Contains(origin)) return;
            bool credentials = (string)ex.Cors.Attribute("allow-credentials") == "true";
            response.Headers.Set("Access-Control-Allow-Origin", new[] { origins.Contains("*") && !credentials ? "*" : origin });
            var expose = CorsList(ex.Cors, "expose-headers");
            if (expose.Count > 0) response.Headers.Set("Access-Control-Expose-Headers", new[] { string.Join(",", expose) });
            if (credentials) response.Headers.Set("Access-Control-Allow-Credentials", new[] { "true" });
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
        }

        // ------------------------------------------------------------------------------------
        // send-request, forward-request, managed identity
        // ------------------------------------------------------------------------------------

        private void SendRequestPolicy(Exchange ex, XElement el, string section, int level)
        {
            var mode = Attr(ex, el, "mode", "new");
            var req = new OutgoingRequest();
            if (mode == "copy")
            {
                req.Method = ex.Method;
                req.Url = ex.Request.Url.Scheme + "://" + ex.Request.Url.Host + ":" + ex.Request.Url.Port + ex.Request.Url.Path + ex.Request.Url.QueryString;
                foreach (var h in ex.RequestHeaders.Items) req.Headers.Add(h.Key, h.Value);
                req.Body = ex.RequestBody;
            }
            else if (mode != "new") throw new PolicyError(Where(el), "InvalidAttribute", "send-request mode " + mode);
            var variable = Attr(ex, el, "response-variable-name");
            var timeout = int.Parse(Attr(ex, el, "timeout", "60"), CultureInfo.InvariantCulture);
            var ignoreError = Attr(ex, el, "ignore-error", "false") == "true";
            Execute(ex, el.Elements(), section, level, null, req);
            try
            {
                if (string.IsNullOrEmpty(req.Url)) throw new InvalidOperationException("send-request without a URL");
                var r = SendOutgoing(req, timeout, false);
                ex.Context.VariableStore[variable] = new Response
                {
                    StatusCode = r.Status,
                    StatusReason = r.Reason,
                    Headers = r.Headers.ToDictionary(),
                    Body = new MessageBody(r.Body ?? new byte[0]),
                };
                ex.Trace.Add("send-request " + req.Method + " " + req.Url + " -> " + r.Status);
            }
            catch (Exception e)
            {
                if (e is PolicyError) throw;
                Console.Error.WriteLine("local-apim: send-request " + req.Method + " " + req.Url + " failed: " + e.Message);
                if (!ignoreError) throw new PolicyError(Where(el), "SendRequestFailure", e.Message);
                ex.Context.VariableStore[variable] = null;
            }
        }

        private UpstreamResponse SendOutgoing(OutgoingRequest req, int timeout, bool stream)
        {
            var url = MapHost(req.Url);
            if (req.SignForStorage) SignSharedKey(req.Method, url, req.Headers, req.Body);
            return HttpClientLite.Send(req.Method, url, req.Headers, req.Body, timeout, stream);
        }

        private void ForwardRequest(Exchange ex, XElement el)
        {
            var timeout = el == null ? 300 : int.Parse(Attr(ex, el, "timeout", "300"), CultureInfo.InvariantCulture);
            var buffer = el == null || Attr(ex, el, "buffer-response", "true") == "true";
            if (ex.BackendBase == null) throw new PolicyError("forward-request", "BackendConnectionFailure", "no backend service URL for API " + ex.Api.Name);
            var url = ex.BackendBase.TrimEnd('/') + ex.PathSuffix + ex.QueryString;
            var headers = new HeaderList();
            foreach (var h in ex.RequestHeaders.Items) headers.Add(h.Key, h.Value);
            UpstreamResponse r;
            try
            {
                r = HttpClientLite.Send(ex.Method, url, headers, ex.RequestBody, timeout, true);
            }
            catch (Exception e)
            {
                throw new PolicyError("forward-request", e is TimeoutException || e is IOException && e.InnerException is System.Net.Sockets.SocketException ? "Timeout" : "BackendConnectionFailure", e.Message);
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
            ex.Response = response;
            ex.Context.Response = ToModel(response);
        }

        private void ManagedIdentity(Exchange ex, XElement el, OutgoingRequest sending)
        {
            var resource = Attr(ex, el, "resource");
            var clientId = Attr(ex, el, "client-id", "");
            var output = Attr(ex, el, "output-token-variable-name");
            if (resource.StartsWith("https://storage.azure.com"))
            {
                // Azurite accepts bearer tokens only over HTTPS; locally the identity's storage
                // access is the account key: the request is signed (SharedKey) when sent.
                if (output != null) throw new PolicyError(Where(el), "NotImplemented", "storage tokens into a variable are not available locally");
                if (sending != null) sending.SignForStorage = true;
                else throw new PolicyError(Where(el), "NotImplemented", "storage identity on the backend request");
                return;
            }
            var token = IssueFederationAssertion(resource, clientId);
            if (output != null) ex.Context.VariableStore[output] = token;
            else if (sending != null) sending.Headers.Set("Authorization", new[] { "Bearer " + token });
            else
            {
                ex.RequestHeaders.Set("Authorization", new[] { "Bearer " + token });
                ex.SyncRequest();
            }
        }

        /// The token Entra issues to a user-assigned managed identity for api://AzureADTokenExchange
        /// (workload identity federation): RS256, iss = the identity issuer, sub = the identity.
        private string IssueFederationAssertion(string audience, string clientId)
        {
            long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
            var header = new JObject(new JProperty("alg", "RS256"), new JProperty("typ", "JWT"), new JProperty("kid", miKeyId));
            var payload = new JObject(
                new JProperty("aud", audience),
                new JProperty("iss", Config.MiIssuer),
                new JProperty("sub", clientId),
                new JProperty("oid", clientId),
                new JProperty("appid", clientId),
                new JProperty("iat", now), new JProperty("nbf", now), new JProperty("exp", now + 3600),
                new JProperty("jti", Guid.NewGuid().ToString("N")));
            var signingInput = ToBase64Url(Encoding.UTF8.GetBytes(header.ToString(Newtonsoft.Json.Formatting.None))) + "." +
                ToBase64Url(Encoding.UTF8.GetBytes(payload.ToString(Newtonsoft.Json.Formatting.None)));
            using (var rsa = new RSACryptoServiceProvider())
            {
                rsa.ImportParameters(miKey);
                var sig = rsa.SignData(Encoding.ASCII.GetBytes(signingInput), CryptoConfig.MapNameToOID("SHA256"));
                return signingInput + "." + ToBase64Url(sig);
            }
        }

        /// Azure Storage Shared Key authorization (path-style Azurite URLs).
        private void SignSharedKey(string method, string url, HeaderList headers, byte[] body)
        {
            var uri = new Uri(url);
            headers.Set("x-ms-date", new[] { DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture) });
            if (!headers.Has("x-ms-version")) headers.Add("x-ms-version", "2023-11-03");
            long length = body == null ? 0 : body.Length;
            Func<string, string> h = n => headers.Get(n) ?? "";
            var sb = new StringBuilder();
            sb.Append(method).Append('\n')
              .Append(h("Content-Encoding")).Append('\n')
              .Append(h("Content-Language")).Append('\n')
              .Append(length == 0 ? "" : length.ToString(CultureInfo.InvariantCulture)).Append('\n')
              .Append(h("Content-MD5")).Append('\n')
              .Append(h("Content-Type")).Append('\n')
              .Append("").Append('\n')
              .Append(h("If-Modified-Since")).Append('\n')
              .Append(h("If-Match")).Append('\n')
              .Append(h("If-None-Match")).Append('\n')
              .Append(h("If-Unmodified-Since")).Append('\n')
              .Append(h("Range")).Append('\n');
            foreach (var x in headers.Items.Where(i => i.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
                .Select(i => new KeyValuePair<string, string>(i.Key.ToLowerInvariant(), i.Value.Trim()))
                .OrderBy(i => i.Key, StringComparer.Ordinal))
                sb.Append(x.Key).Append(':').Append(x.Value).Append('\n');
            sb.Append('/').Append(Config.StorageAccount).Append(uri.AbsolutePath);
            var query = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var pair in uri.Query.TrimStart('?').Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split(new[] { '=' }, 2);
                var k = Uri.UnescapeDataString(kv[0]).ToLowerInvariant();
                List<string> list;
                if (!query.TryGetValue(k, out list)) query[k] = list = new List<string>();
                list.Add(kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "");
            }
            foreach (var q in query) sb.Append('\n').Append(q.Key).Append(':').Append(string.Join(",", q.Value.OrderBy(v => v, StringComparer.Ordinal)));
            using (var hmac = new HMACSHA256(Convert.FromBase64String(Config.StorageKey)))
            {
                var sig = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(sb.ToString())));
                headers.Set("Authorization", new[] { "SharedKey " + Config.StorageAccount + ":" + sig });
            }
        }
    }
}

// Local Azure API Management policy runner (DESIGN.md decision 8, docs/local-gateway.md).
//
// Loads infra/policies/manifest.json and the generated policy XML, substitutes named values,
// compiles every C# policy expression with Mono's mcs against the APIM context model
// (tests/policies/apim_model/ApimContext.cs, compiled into this program), and serves the APIs
// of the manifest on loopback with APIM's execution semantics. Any policy element it does not
// implement is a load-time error.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Apim.Model;
using Newtonsoft.Json.Linq;

namespace LocalApim
{
    public sealed class LoadError : Exception
    {
        public LoadError(string message) : base(message) { }
    }

    /// An error raised while executing a policy: goes to on-error with context.LastError set.
    public sealed class PolicyError : Exception
    {
        public readonly string Origin, Reason;
        public PolicyError(string source, string reason, string message) : base(message) { Origin = source; Reason = reason; }
    }

    /// return-response (and the responses of cors, rate-limit-by-key, check-header) end the pipeline.
    public sealed class ReturnResponse : Exception
    {
        public readonly Outgoing Response;
        public ReturnResponse(Outgoing response) { Response = response; }
    }

    public sealed class LastError : ILastError
    {
        public string Source { get; set; }
        public string Reason { get; set; }
        public string Message { get; set; }
        public string Scope { get; set; }
        public string Section { get; set; }
        public string Path { get; set; }
        public string PolicyId { get; set; }
    }

    public sealed class ApiInfo : IApi
    {
        public string Id { get; set; }
        public string Name { get; set; }
        public string Path { get; set; }
        public IUrl ServiceUrl { get; set; }
    }

    public sealed class OperationInfo : IOperation
    {
        public string Id { get; set; }
        public string Method { get; set; }
        public string Name { get; set; }
        public string UrlTemplate { get; set; }
    }

    public sealed class DeploymentInfo : IDeployment
    {
        public string GatewayId { get { return "local"; } }
        public string Region { get { return "local"; } }
        public string ServiceName { get { return "local-apim"; } }
    }

    /// A response under construction (return-response, forward-request result, error response).
    public sealed class Outgoing
    {
        public int Status = 200;
        public string Reason = "OK";
        public HeaderList Headers = new HeaderList();
        public byte[] Body = new byte[0];
        public UpstreamResponse Stream; // unbuffered backend body, relayed as it arrives
    }

    /// A request under construction for send-request.
    public sealed class OutgoingRequest
    {
        public string Method = "GET";
        public string Url;
        public HeaderList Headers = new HeaderList();
        public byte[] Body;
        public bool SignForStorage;
    }

    public sealed class PolicyDoc
    {
        public string File;
        public readonly Dictionary<string, XElement> Sections = new Dictionary<string, XElement>();
    }

    public sealed class Operation
    {
        public string Name, Method, UrlTemplate;
        public PolicyDoc Policy;
    }

    public sealed class Api
    {
        public string Name, Path;
        public PolicyDoc Policy;
        public List<Operation> Operations = new List<Operation>();
    }

    /// In-memory cache with per-entry expiry (cache-store-value duration, in seconds).
    public sealed class Cache
    {
        private readonly Dictionary<string, KeyValuePair<DateTime, object>> entries = new Dictionary<string, KeyValuePair<DateTime, object>>();
        public void Store(string key, object value, double seconds)
        {
            lock (entries) entries[key] = new KeyValuePair<DateTime, object>(DateTime.UtcNow.AddSeconds(seconds), value);
        }
        public bool TryGet(string key, out object value)
        {
            lock (entries)
            {
                KeyValuePair<DateTime, object> e;
                if (entries.TryGetValue(key, out e))
                {
                    if (e.Key > DateTime.UtcNow) { value = e.Value; return true; }
                    entries.Remove(key);
                }
            }
            value = null;
            return false;
        }
        public void Remove(string key) { lock (entries) entries.Remove(key); }
    }

    /// Fixed-window counters for rate-limit-by-key.
    public sealed class RateLimiter
    {
        private readonly Dictionary<string, KeyValuePair<DateTime, int>> windows = new Dictionary<string, KeyValuePair<DateTime, int>>();
        /// Returns 0 when allowed, else the seconds until the window renews.
        public int Hit(string key, int calls, int period, bool increment)
        {
            lock (windows)
            {
                var now = DateTime.UtcNow;
                KeyValuePair<DateTime, int> w;
                if (!windows.TryGetValue(key, out w) || w.Key <= now) w = new KeyValuePair<DateTime, int>(now.AddSeconds(period), 0);
                if (w.Value >= calls) return Math.Max(1, (int)Math.Ceiling((w.Key - now).TotalSeconds));
                if (increment) w = new KeyValuePair<DateTime, int>(w.Key, w.Value + 1);
                windows[key] = w;
                return 0;
            }
        }
    }

    public sealed class Config
    {
        public int Port;
        public string PoliciesDir, NamedValuesFile, WorkDir;
        public Dictionary<string, string> Backends = new Dictionary<string, string>();
        public Dictionary<string, string> HostMap = new Dictionary<string, string>();
        public string MiSigningKeyFile, MiIssuer, StorageAccount, StorageKey;
        public List<string> CreateContainers = new List<string>();
        public bool Verbose;

        public static Config Load(string path)
        {
            var j = JObject.Parse(File.ReadAllText(path));
            var baseDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            Func<string, string> abs = p => p == null ? null : System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, p));
            var c = new Config
            {
                Port = (int)j["port"],
                PoliciesDir = abs((string)j["policiesDir"]),
                NamedValuesFile = abs((string)j["namedValuesFile"]),
                WorkDir = abs((string)j["workDir"]),
                MiSigningKeyFile = abs((string)j["managedIdentity"]["signingKeyFile"]),
                MiIssuer = (string)j["managedIdentity"]["issuer"],
                StorageAccount = (string)j["managedIdentity"]["storageAccount"],
                StorageKey = (string)j["managedIdentity"]["storageKey"],
                Verbose = (bool?)j["verbose"] ?? false,
            };
            foreach (var p in (JObject)j["backends"]) c.Backends[p.Key] = (string)p.Value;
            foreach (var p in (JObject)j["hostMap"] ?? new JObject()) c.HostMap[p.Key] = (string)p.Value;
            foreach (var u in (JArray)j["createContainers"] ?? new JArray()) c.CreateContainers.Add((string)u);
            return c;
        }
    }

    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length != 1)
            {
                Console.Error.WriteLine("usage: mono local-apim.exe <config.json>");
                return 2;
            }
            Gateway gateway;
            try
            {
                gateway = new Gateway(Config.Load(args[0]));
                gateway.Load();
                gateway.Prepare();
            }
            catch (LoadError e)
            {
                Console.Error.WriteLine("local-apim: load error: " + e.Message);
                return 3;
            }
            var listener = new TcpListener(IPAddress.Loopback, gateway.Config.Port);
            listener.Start(128);
            Console.WriteLine("local-apim: listening on " + gateway.GatewayUrl + " (" + gateway.ExpressionCount + " policy expressions compiled)");
            Console.Out.Flush();
            HttpServerLite.Serve(listener, gateway.Handle);
            return 0;
        }
    }

    public sealed partial class Gateway
    {
        public readonly Config Config;
        public Dictionary<string, string> NamedValues;
        public string GatewayUrl;
        public int ExpressionCount;
        private readonly List<Api> apis = new List<Api>();
        private readonly Dictionary<string, XElement> fragments = new Dictionary<string, XElement>();
        private readonly Dictionary<XObject, Func<IProxyRequestContext, object>> compiled = new Dictionary<XObject, Func<IProxyRequestContext, object>>();
        private readonly Dictionary<XObject, string> labels = new Dictionary<XObject, string>();
        private readonly Cache cache = new Cache();
        private readonly RateLimiter limiter = new RateLimiter();
        private RSAParameters miKey;
        private string miKeyId;

        public Gateway(Config config) { Config = config; }

        // ------------------------------------------------------------------------------------
        // Loading
        // ------------------------------------------------------------------------------------

        public void Load()
        {
            var nv = JObject.Parse(File.ReadAllText(Config.NamedValuesFile));
            NamedValues = nv.Properties().ToDictionary(p => p.Name, p => (string)p.Value);
            string url;
            if (!NamedValues.TryGetValue("ApimGatewayUrl", out url)) throw new LoadError("named value ApimGatewayUrl is missing");
            GatewayUrl = url;
            var manifest = JObject.Parse(File.ReadAllText(System.IO.Path.Combine(Config.PoliciesDir, "manifest.json")));
            foreach (var declared in (JArray)manifest["namedValues"])
            {
                if (!NamedValues.ContainsKey((string)declared["name"])) throw new LoadError("named value " + (string)declared["name"] + " (manifest.json) has no local value in " + Config.NamedValuesFile);
            }
            foreach (var b in (JArray)manifest["backends"] ?? new JArray())
            {
                if (!Config.Backends.ContainsKey((string)b["id"])) throw new LoadError("backend " + (string)b["id"] + " (manifest.json) has no local URL in the runner config");
            }
            foreach (var f in (JArray)manifest["fragments"])
            {
                var root = LoadXml((string)f["file"]);
                if (root.Name.LocalName != "fragment") throw new LoadError((string)f["file"] + ": root element must be <fragment>");
                fragments[(string)f["id"]] = root;
            }
            foreach (var a in (JArray)manifest["apis"])
            {
                var api = new Api { Name = (string)a["name"], Path = ((string)a["path"] ?? "").Trim('/'), Policy = LoadPolicy((string)a["policy"]) };
                foreach (var o in (JArray)a["operations"])
                {
                    api.Operations.Add(new Operation
                    {
                        Name = (string)o["name"],
                        Method = ((string)o["method"]).ToUpperInvariant(),
                        UrlTemplate = (string)o["urlTemplate"],
                        Policy = o["policy"] == null || o["policy"].Type == JTokenType.Null ? null : LoadPolicy((string)o["policy"]),
                    });
                    if (o["templateParameters"] != null && ((JArray)o["templateParameters"]).Count > 0)
                        throw new LoadError("operation " + (string)o["name"] + ": URL template parameters are not implemented by the local runner");
                }
                apis.Add(api);
            }
            // Longest API path first, so /mcp wins over the root API.
            apis.Sort((x, y) => y.Path.Length.CompareTo(x.Path.Length));
            foreach (var frag in fragments.Values) Validate(frag, "fragment", frag.Elements());
            foreach (var api in apis)
            {
                ValidateDoc(api.Policy);
                foreach (var op in api.Operations) if (op.Policy != null) ValidateDoc(op.Policy);
            }
            CompileExpressions();
            LoadManagedIdentityKey();
        }

        private XElement LoadXml(string relative)
        {
            var path = System.IO.Path.Combine(Config.PoliciesDir, relative);
            XDocument doc;
            try
            {
                doc = XDocument.Load(path, LoadOptions.SetLineInfo);
            }
            catch (Exception e)
            {
                throw new LoadError(relative + ": not well-formed XML: " + e.Message);
            }
            foreach (var el in doc.Root.DescendantsAndSelf())
            {
                el.AddAnnotation(relative);
                foreach (var attr in el.Attributes()) attr.Value = Substitute(attr.Value, relative);
                foreach (var text in el.Nodes().OfType<XText>()) text.Value = Substitute(text.Value, relative);
            }
            return doc.Root;
        }

        private string Substitute(string value, string file)
        {
            return Regex.Replace(value, @"\{\{([A-Za-z0-9_.-]+)\}\}", m =>
            {
                string v;
                if (!NamedValues.TryGetValue(m.Groups[1].Value, out v)) throw new LoadError(file + ": named value {{" + m.Groups[1].Value + "}} is not defined");
                return v;
            });
        }

        private PolicyDoc LoadPolicy(string relative)
        {
            var root = LoadXml(relative);
            if (root.Name.LocalName != "policies") throw new LoadError(relative + ": root element must be <policies>");
            var doc = new PolicyDoc { File = relative };
            var order = new[] { "inbound", "backend", "outbound", "on-error" };
            int last = -1;
            foreach (var section in root.Elements())
            {
                int i = Array.IndexOf(order, section.Name.LocalName);
                if (i < 0) throw new LoadError(relative + ": unknown section <" + section.Name.LocalName + ">");
                if (i <= last) throw new LoadError(relative + ": sections must appear once each, in the order inbound, backend, outbound, on-error");
                last = i;
                doc.Sections[section.Name.LocalName] = section;
            }
            return doc;
        }

        // Policies the runner executes, and where (section names; "send-request"/"return-response" for nested).
        private static readonly Dictionary<string, string[]> Supported = new Dictionary<string, string[]>
        {
            { "base", new[] { "inbound", "backend", "outbound", "on-error" } },
            { "choose", null }, { "set-variable", null }, { "trace", null }, { "include-fragment", null },
            { "set-header", null }, { "set-body", null }, { "return-response", null },
            { "set-status", new[] { "outbound", "on-error", "return-response", "backend" } },
            { "check-header", new[] { "inbound" } },
            { "cache-store-value", null }, { "cache-lookup-value", null }, { "cache-remove-value", null },
            { "send-request", null },
            { "authentication-managed-identity", new[] { "inbound", "send-request", "fragment" } },
            { "rewrite-uri", new[] { "inbound" } },
            { "set-method", new[] { "inbound", "send-request" } },
            { "set-url", new[] { "send-request" } },
            { "set-backend-service", new[] { "inbound", "backend" } },
            { "forward-request", new[] { "backend" } },
            { "rate-limit-by-key", new[] { "inbound" } },
            { "cors", new[] { "inbound" } },
        };

        private static readonly Dictionary<string, string[]> Attributes = new Dictionary<string, string[]>
        {
            { "base", new string[0] },
            { "choose", new string[0] },
            { "set-variable", new[] { "name", "value" } },
            { "trace", new[] { "source", "severity" } },
            { "include-fragment", new[] { "fragment-id" } },
            { "set-header", new[] { "name", "exists-action" } },
            { "set-body", new string[0] },
            { "return-response", new[] { "response-variable-name" } },
            { "set-status", new[] { "code", "reason" } },
            { "check-header", new[] { "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case" } },
            { "cache-store-value", new[] { "key", "value", "duration", "caching-type" } },
            { "cache-lookup-value", new[] { "key", "variable-name", "default-value", "caching-type" } },
            { "cache-remove-value", new[] { "key", "caching-type" } },
            { "send-request", new[] { "mode", "response-variable-name", "timeout", "ignore-error" } },
            { "authentication-managed-identity", new[] { "resource", "client-id", "output-token-variable-name", "ignore-error" } },
            { "rewrite-uri", new[] { "template", "copy-unmatched-params" } },
            { "set-method", new string[0] },
            { "set-url", new string[0] },
            { "set-backend-service", new[] { "backend-id", "base-url" } },
            { "forward-request", new[] { "timeout", "buffer-response" } },
            { "rate-limit-by-key", new[] { "calls", "renewal-period", "counter-key", "increment-condition" } },
            { "cors", new[] { "allow-credentials", "terminate-unmatched-request" } },
        };

        private void ValidateDoc(PolicyDoc doc)
        {
            foreach (var s in doc.Sections) Validate(s.Value, s.Key, s.Value.Elements());
        }

        private static string Where(XElement el)
        {
            var li = (System.Xml.IXmlLineInfo)el;
            return el.Annotation<string>() + ":" + li.LineNumber + " <" + el.Name.LocalName + ">";
        }

        private void Validate(XElement parent, string section, IEnumerable<XElement> elements)
        {
            foreach (var el in elements)
            {
                var name = el.Name.LocalName;
                string[] where;
                if (!Supported.TryGetValue(name, out where))
                    throw new LoadError(Where(el) + ": policy <" + name + "> is not implemented by the local runner");
                if (where != null && !where.Contains(section) && !(section == "fragment"))
                    throw new LoadError(Where(el) + ": <" + name + "> is not allowed in " + section);
                foreach (var attr in el.Attributes())
                {
                    if (!Attributes[name].Contains(attr.Name.LocalName))
                        throw new LoadError(Where(el) + ": attribute " + attr.Name.LocalName + " is not implemented by the local runner");
                }
                switch (name)
                {
                    case "choose":
                        foreach (var c in el.Elements())
                        {
                            if (c.Name.LocalName != "when" && c.Name.LocalName != "otherwise") throw new LoadError(Where(c) + ": <choose> holds only <when> and <otherwise>");
                            Validate(c, section, c.Elements());
                        }
                        break;
                    case "return-response":
                        Validate(el, "return-response", el.Elements());
                        foreach (var c in el.Elements())
                            if (!new[] { "set-status", "set-header", "set-body" }.Contains(c.Name.LocalName)) throw new LoadError(Where(c) + ": not allowed in <return-response>");
                        break;
                    case "send-request":
                        foreach (var c in el.Elements())
                        {
                            if (!new[] { "set-url", "set-method", "set-header", "set-body", "authentication-managed-identity" }.Contains(c.Name.LocalName))
                                throw new LoadError(Where(c) + ": <" + c.Name.LocalName + "> inside <send-request> is not implemented by the local runner");
                        }
                        Validate(el, "send-request", el.Elements());
                        break;
                    case "set-header":
                    case "check-header":
                        foreach (var c in el.Elements()) if (c.Name.LocalName != "value") throw new LoadError(Where(c) + ": only <value> is allowed here");
                        break;
                    case "trace":
                        foreach (var c in el.Elements()) if (c.Name.LocalName != "message" && c.Name.LocalName != "metadata") throw new LoadError(Where(c) + ": only <message> and <metadata> are allowed here");
                        break;
                    case "cors":
                        foreach (var c in el.Elements())
                        {
                            var inner = new Dictionary<string, string> { { "allowed-origins", "origin" }, { "allowed-methods", "method" }, { "allowed-headers", "header" }, { "expose-headers", "header" } };
                            string child;
                            if (!inner.TryGetValue(c.Name.LocalName, out child)) throw new LoadError(Where(c) + ": <" + c.Name.LocalName + "> in <cors> is not implemented");
                            foreach (var v in c.Elements()) if (v.Name.LocalName != child) throw new LoadError(Where(v) + ": expected <" + child + ">");
                        }
                        break;
                    case "include-fragment":
                        if (!fragments.ContainsKey(el.Attribute("fragment-id").Value)) throw new LoadError(Where(el) + ": unknown fragment " + el.Attribute("fragment-id").Value);
                        break;
                    case "authentication-managed-identity":
                        var resource = (string)el.Attribute("resource");
                        if (resource != "api://AzureADTokenExchange" && resource != "https://storage.azure.com/" && resource != "https://storage.azure.com")
                            throw new LoadError(Where(el) + ": managed identity tokens for " + resource + " are not available locally");
                        break;
                    case "set-backend-service":
                        var id = (string)el.Attribute("backend-id");
                        if (id != null && !Config.Backends.ContainsKey(id)) throw new LoadError(Where(el) + ": backend " + id + " has no local URL");
                        break;
                    default:
                        if (el.HasElements && name != "send-request") throw new LoadError(Where(el) + ": unexpected child elements");
                        break;
                }
            }
        }

        // ------------------------------------------------------------------------------------
        // Expressions
        // ------------------------------------------------------------------------------------

        private static readonly string[] Usings =
        {
            "System", "System.Collections.Generic", "System.Linq", "System.Text", "System.Text.RegularExpressions",
            "System.Xml.Linq", "Newtonsoft.Json", "Newtonsoft.Json.Linq", "Apim.Model",
        };

        private IEnumerable<XElement> AllRoots()
        {
            foreach (var f in fragments.Values) yield return f;
            var seen = new HashSet<XElement>();
            foreach (var api in apis)
            {
                foreach (var doc in new[] { api.Policy }.Concat(api.Operations.Select(o => o.Policy)))
                {
                    if (doc == null) continue;
                    foreach (var s in doc.Sections.Values) if (seen.Add(s)) yield return s;
                }
            }
        }

        private static bool IsExpression(string value)
        {
            var t = value.Trim();
            return t.StartsWith("@(") && t.EndsWith(")") || t.StartsWith("@{") && t.EndsWith("}");
        }

        private void CompileExpressions()
        {
            var found = new List<KeyValuePair<XObject, string>>();
            foreach (var root in AllRoots())
            {
                foreach (var el in root.DescendantsAndSelf())
                {
                    foreach (var attr in el.Attributes())
                        if (IsExpression(attr.Value)) found.Add(new KeyValuePair<XObject, string>(attr, attr.Value.Trim()));
                    var text = string.Concat(el.Nodes().OfType<XText>().Select(t => t.Value));
                    if (!el.HasElements && IsExpression(text)) found.Add(new KeyValuePair<XObject, string>(el, text.Trim()));
                    else if (!el.HasElements && text.Contains("@(") && text.Trim().StartsWith("@"))
                        throw new LoadError(Where(el) + ": text is not a single expression");
                }
            }
            var src = new StringBuilder();
            foreach (var u in Usings) src.Append("using ").Append(u).Append(";\n");
            src.Append("namespace Apim.Expressions {\n");
            for (int i = 0; i < found.Count; i++)
            {
                var code = found[i].Value;
                var el = found[i].Key as XElement ?? ((XAttribute)found[i].Key).Parent;
                var label = Where(el) + (found[i].Key is XAttribute ? " " + ((XAttribute)found[i].Key).Name.LocalName + "=" : " text");
                labels[found[i].Key] = label;
                var body = code.StartsWith("@{") ? code.Substring(2, code.Length - 3) : "return (" + code.Substring(2, code.Length - 3) + ");";
                src.Append("public static class E").Append(i).Append(" {\n public static object Eval(IProxyRequestContext context) {\n");
                src.Append("#line 1 \"").Append(label.Replace("\"", "'")).Append("\"\n");
                src.Append(body).Append("\n#line default\n }\n}\n");
            }
            src.Append("}\n");
            Directory.CreateDirectory(Config.WorkDir);
            var dir = System.IO.Path.Combine(Config.WorkDir, "expressions-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            var source = System.IO.Path.Combine(dir, "Expressions.cs");
            var output = System.IO.Path.Combine(dir, "Expressions.dll");
            try
            {
                // The source holds the secret named values: it lives only until compiled.
                File.WriteAllText(source, src.ToString());
                var self = Assembly.GetExecutingAssembly().Location;
                var newtonsoft = typeof(JObject).Assembly.Location;
                var psi = new ProcessStartInfo("mcs",
                    "-target:library -langversion:7 -nowarn:618 -nowarn:162 -nowarn:219"
                    + " -r:\"" + newtonsoft + "\" -r:System.Xml.Linq.dll -r:System.Core.dll -r:System.Numerics.dll"
                    + " -r:\"" + self + "\" -out:\"" + output + "\" \"" + source + "\"")
                { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                var p = Process.Start(psi);
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) throw new LoadError("policy expressions do not compile:\n" + stdout.Result + stderr);
                var bytes = File.ReadAllBytes(output);
                var assembly = Assembly.Load(bytes);
                for (int i = 0; i < found.Count; i++)
                {
                    var method = assembly.GetType("Apim.Expressions.E" + i, true).GetMethod("Eval");
                    compiled[found[i].Key] = (Func<IProxyRequestContext, object>)Delegate.CreateDelegate(typeof(Func<IProxyRequestContext, object>), method);
                }
                ExpressionCount = found.Count;
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        private void LoadManagedIdentityKey()
        {
            var jwk = JObject.Parse(File.ReadAllText(Config.MiSigningKeyFile));
            Func<string, byte[]> b = name => FromBase64Url((string)jwk[name]);
            miKey = new RSAParameters { Modulus = b("n"), Exponent = b("e"), D = b("d"), P = b("p"), Q = b("q"), DP = b("dp"), DQ = b("dq"), InverseQ = b("qi") };
            miKeyId = (string)jwk["kid"] ?? "local-managed-identity";
        }

        /// Creates the blob containers the policies write to (in Azure, Bicep creates them).
        public void Prepare()
        {
            foreach (var container in Config.CreateContainers)
            {
                var req = new OutgoingRequest { Method = "PUT", Url = Substitute(container, "runner config") + "?restype=container", SignForStorage = true, Body = new byte[0] };
                req.Headers.Add("x-ms-version", "2023-11-03");
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (true)
                {
                    try
                    {
                        var r = SendOutgoing(req, 10, false);
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

        private static byte[] FromBase64Url(string s)
        {
            var b64 = s.Replace('-', '+').Replace('_', '/');
            return Convert.FromBase64String(b64 + new string('=', (4 - b64.Length % 4) % 4));
        }

        private static string ToBase64Url(byte[] b)
        {
            return Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }
    }
}

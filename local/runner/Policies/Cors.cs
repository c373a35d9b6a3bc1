// cors: preflights answered in the policy; other requests from an allowed Origin get the
// Access-Control-* headers on the final response (Decorate, called by the gateway).
//
// APIM's rule (cors policy reference, usage notes): a request that matches an explicit OPTIONS
// operation is that operation's request, so cors does not answer it as a preflight. A preflight
// that matches no operation is answered by the API's cors (Gateway.Route).
using System;
using System.Collections.Generic;
using System.Linq;
using System.Xml.Linq;
using LocalApim.Loading;
using LocalApim.Pipeline;

namespace LocalApim.Policies
{
    public sealed class CorsPolicy : Policy
    {
        private static readonly Dictionary<string, string> Groups = new Dictionary<string, string>
        {
            { "allowed-origins", "origin" }, { "allowed-methods", "method" }, { "allowed-headers", "header" }, { "expose-headers", "header" },
        };

        public override string Name { get { return "cors"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes { get { return new[] { "allow-credentials", "terminate-unmatched-request" }; } }

        public override void Validate(XElement el, Validator v)
        {
            foreach (var c in el.Elements())
            {
                string child;
                if (!Groups.TryGetValue(c.Name.LocalName, out child)) throw new LoadError(Catalog.Where(c) + ": <" + c.Name.LocalName + "> in <cors> is not implemented");
                foreach (var e in c.Elements()) if (e.Name.LocalName != child) throw new LoadError(Catalog.Where(e) + ": expected <" + child + ">");
            }
        }

        public static bool IsPreflight(string method, HeaderList headers)
        {
            return method == "OPTIONS" && headers.Get("Origin") != null && headers.Get("Access-Control-Request-Method") != null;
        }

        private static List<string> List(XElement cors, string group)
        {
            var g = cors.Element(group);
            return g == null ? new List<string>() : g.Elements().Select(e => e.Value.Trim()).ToList();
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var ex = run.Ex;
            ex.Cors = el;
            if (!IsPreflight(ex.Method, ex.RequestHeaders)) return;
            if (!ex.PreflightOnly && ex.Operation.Method == "OPTIONS") return;
            // Preflight: answered here, never forwarded.
            var origin = ex.RequestHeaders.Get("Origin");
            var requestedMethod = ex.RequestHeaders.Get("Access-Control-Request-Method");
            var origins = List(el, "allowed-origins");
            var methods = List(el, "allowed-methods");
            var headers = List(el, "allowed-headers");
            var credentials = (string)el.Attribute("allow-credentials") == "true";
            var r = new Outgoing { Status = 200, Reason = "OK" };
            bool originOk = origins.Contains("*") || origins.Contains(origin);
            bool methodOk = methods.Contains("*") || methods.Contains(requestedMethod, StringComparer.OrdinalIgnoreCase);
            var asked = (ex.RequestHeaders.Get("Access-Control-Request-Headers") ?? "").Split(',').Select(h => h.Trim()).Where(h => h != "").ToList();
            bool headersOk = headers.Contains("*") || asked.All(h => headers.Contains(h, StringComparer.OrdinalIgnoreCase));
            ex.Cors = null; // answered in full, or not at all
            if (originOk && methodOk && headersOk)
            {
                r.Headers.Add("Access-Control-Allow-Origin", origins.Contains("*") && !credentials ? "*" : origin);
                r.Headers.Add("Access-Control-Allow-Methods", string.Join(",", methods));
                if (asked.Count > 0) r.Headers.Add("Access-Control-Allow-Headers", headers.Contains("*") ? string.Join(",", asked) : string.Join(",", headers));
                if (credentials) r.Headers.Add("Access-Control-Allow-Credentials", "true");
            }
            else if ((string)el.Attribute("terminate-unmatched-request") == "false")
            {
                return;
            }
            throw new ReturnResponse(r);
        }

        /// Simple cross-origin requests: the cors policy that ran decorates the final response.
        public static void Decorate(Exchange ex, HeaderList incoming, Outgoing response)
        {
            if (ex == null || ex.Cors == null) return;
            var origin = incoming.Get("Origin");
            if (origin == null) return;
            var origins = List(ex.Cors, "allowed-origins");
            if (!origins.Contains("*") && !origins.Contains(origin)) return;
            bool credentials = (string)ex.Cors.Attribute("allow-credentials") == "true";
            response.Headers.Set("Access-Control-Allow-Origin", new[] { origins.Contains("*") && !credentials ? "*" : origin });
            var expose = List(ex.Cors, "expose-headers");
            if (expose.Count > 0) response.Headers.Set("Access-Control-Expose-Headers", new[] { string.Join(",", expose) });
            if (credentials) response.Headers.Set("Access-Control-Allow-Credentials", "true".Split());
        }
    }
}

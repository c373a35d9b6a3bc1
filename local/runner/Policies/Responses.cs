// Elements that end the pipeline with a response: return-response (fresh 200 or a response
// variable, children applied) and check-header.
using System;
using System.Linq;
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Loading;
using LocalApim.Pipeline;
using Newtonsoft.Json.Linq;

namespace LocalApim.Policies
{
    public sealed class ReturnResponsePolicy : Policy
    {
        private static readonly string[] Children = { "set-status", "set-header", "set-body" };

        public override string Name { get { return "return-response"; } }
        public override string[] Attributes { get { return new[] { "response-variable-name" }; } }

        public override void Validate(XElement el, Validator v)
        {
            v.Children(el.Elements(), "return-response");
            foreach (var c in el.Elements())
                if (!Children.Contains(c.Name.LocalName)) throw new LoadError(Catalog.Where(c) + ": not allowed in <return-response>");
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var response = new Outgoing();
            var variable = (string)el.Attribute("response-variable-name");
            if (variable != null)
            {
                var from = run.Ex.Context.VariableStore[variable] as IResponse;
                if (from == null) throw new PolicyError(Catalog.Where(el), "InvalidVariable", "variable " + variable + " holds no response");
                response.Status = from.StatusCode;
                response.Reason = from.StatusReason;
                foreach (var h in from.Headers) foreach (var value in h.Value) response.Headers.Add(h.Key, value);
                response.Body = from.Body == null ? new byte[0] : from.Body.As<byte[]>(true);
            }
            run.With(new BuiltResponse(response)).Run(el.Elements());
            throw new ReturnResponse(response);
        }
    }

    public sealed class CheckHeaderPolicy : Policy
    {
        public override string Name { get { return "check-header"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes { get { return new[] { "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case" }; } }
        public override void Validate(XElement el, Validator v) { OnlyChildren(el, "value"); }

        public override void Execute(XElement el, PolicyRun run)
        {
            var ignoreCase = run.Attr(el, "ignore-case", "false") == "true";
            var allowed = el.Elements("value").Select(run.Text).ToList();
            var present = run.Ex.RequestHeaders.GetAll(run.Attr(el, "name"));
            var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (present.Length > 0 && (allowed.Count == 0 || present.Any(p => allowed.Any(a => string.Equals(a, p, comparison))))) return;
            var code = run.IntAttr(el, "failed-check-httpcode");
            throw new ReturnResponse(Gateway.Plain(code, code == 401 ? "Unauthorized" : "Bad Request", new JObject(
                new JProperty("statusCode", code), new JProperty("message", run.Attr(el, "failed-check-error-message", ""))).ToString(Newtonsoft.Json.Formatting.None)));
        }
    }
}

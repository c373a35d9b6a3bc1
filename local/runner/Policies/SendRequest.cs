// send-request (mode new/copy, real HTTP, timeout, ignore-error) and
// authentication-managed-identity (federation assertion, or Shared Key for storage).
using System;
using System.Linq;
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Loading;
using LocalApim.Pipeline;

namespace LocalApim.Policies
{
    public sealed class SendRequestPolicy : Policy
    {
        private static readonly string[] Children = { "set-url", "set-method", "set-header", "set-body", "authentication-managed-identity" };

        public override string Name { get { return "send-request"; } }
        public override string[] Attributes { get { return new[] { "mode", "response-variable-name", "timeout", "ignore-error" }; } }

        public override void Validate(XElement el, Validator v)
        {
            foreach (var c in el.Elements())
                if (!Children.Contains(c.Name.LocalName))
                    throw new LoadError(Catalog.Where(c) + ": <" + c.Name.LocalName + "> inside <send-request> is not implemented by the local runner");
            v.Children(el.Elements(), "send-request");
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var ex = run.Ex;
            var mode = run.Attr(el, "mode", "new");
            var req = new OutgoingRequest();
            if (mode == "copy")
            {
                req.Method = ex.Method;
                req.Url = ex.Request.Url.Scheme + "://" + ex.Request.Url.Host + ":" + ex.Request.Url.Port + ex.Request.Url.Path + ex.Request.Url.QueryString;
                foreach (var h in ex.RequestHeaders.Items) req.Headers.Add(h.Key, h.Value);
                req.Body = ex.RequestBody;
            }
            else if (mode != "new") throw new PolicyError(Catalog.Where(el), "InvalidAttribute", "send-request mode " + mode);
            var variable = run.Attr(el, "response-variable-name");
            var timeout = run.IntAttr(el, "timeout", "60");
            var ignoreError = run.Attr(el, "ignore-error", "false") == "true";
            run.With(new SentRequest(req)).Run(el.Elements());
            try
            {
                if (string.IsNullOrEmpty(req.Url)) throw new InvalidOperationException("send-request without a URL");
                var r = run.Gateway.Send(req, timeout);
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
                if (!ignoreError) throw new PolicyError(Catalog.Where(el), "SendRequestFailure", e.Message);
                ex.Context.VariableStore[variable] = null;
            }
        }
    }

    public sealed class ManagedIdentityPolicy : Policy
    {
        public override string Name { get { return "authentication-managed-identity"; } }
        public override string[] Sections { get { return new[] { "inbound", "send-request", "fragment" }; } }
        public override string[] Attributes { get { return new[] { "resource", "client-id", "output-token-variable-name", "ignore-error" }; } }

        private static bool IsStorage(string resource)
        {
            return resource == "https://storage.azure.com/" || resource == "https://storage.azure.com";
        }

        public override void Validate(XElement el, Validator v)
        {
            base.Validate(el, v);
            var resource = (string)el.Attribute("resource");
            if (resource != v.Gateway.Catalog.Constants.FederationAudience && !IsStorage(resource))
                throw new LoadError(Catalog.Where(el) + ": managed identity tokens for " + resource + " are not available locally");
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var resource = run.Attr(el, "resource");
            var output = run.Attr(el, "output-token-variable-name");
            var sending = run.Target as SentRequest;
            if (IsStorage(resource))
            {
                // Azurite accepts bearer tokens only over HTTPS; locally the identity's storage
                // access is the account key: the request is signed (SharedKey) when sent.
                if (output != null) throw new PolicyError(Catalog.Where(el), "NotImplemented", "storage tokens into a variable are not available locally");
                if (sending == null) throw new PolicyError(Catalog.Where(el), "NotImplemented", "storage identity on the backend request");
                sending.Request.SignForStorage = true;
                return;
            }
            var token = run.Gateway.Identity.FederationAssertion(resource, run.Attr(el, "client-id", ""));
            if (output != null)
            {
                run.Ex.Context.VariableStore[output] = token;
                return;
            }
            // On the request being sent, or else on the request being forwarded.
            var target = sending != null ? (MessageTarget)sending : ForwardedRequest.Instance;
            target.Headers(run.Ex, el).Set("Authorization", new[] { "Bearer " + token });
            target.Changed(run.Ex);
        }
    }
}

// The message a policy element edits, as an explicit case: the request being forwarded
// (inbound, backend), the response (outbound, on-error), the response a return-response is
// building, or the request a send-request is building. Elements ask their target; the target
// keeps the context model in step.
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Loading;

namespace LocalApim.Pipeline
{
    public abstract class MessageTarget
    {
        public abstract HeaderList Headers(Exchange ex, XElement el);
        public abstract void SetBody(Exchange ex, XElement el, byte[] body);

        public virtual void SetStatus(Exchange ex, XElement el, int code, string reason)
        {
            throw new PolicyError(Catalog.Where(el), "NoResponse", "set-status without a response");
        }

        public virtual void SetMethod(Exchange ex, XElement el, string method)
        {
            throw new PolicyError(Catalog.Where(el), "InvalidTarget", "set-method on a response");
        }

        public virtual void SetUrl(Exchange ex, XElement el, string url)
        {
            throw new PolicyError(Catalog.Where(el), "InvalidTarget", "set-url outside send-request");
        }

        /// Called after an edit of the headers, so expressions see them.
        public virtual void Changed(Exchange ex) { }

        public static MessageTarget ForSection(string section)
        {
            return section == "inbound" || section == "backend" ? (MessageTarget)ForwardedRequest.Instance : CurrentResponse.Instance;
        }
    }

    /// The incoming request as it will be forwarded to the backend.
    public sealed class ForwardedRequest : MessageTarget
    {
        public static readonly ForwardedRequest Instance = new ForwardedRequest();

        public override HeaderList Headers(Exchange ex, XElement el) { return ex.RequestHeaders; }

        public override void SetBody(Exchange ex, XElement el, byte[] body)
        {
            ex.RequestBody = body;
            ex.Request.Body = new MessageBody(body);
        }

        /// In backend, after forward-request, the response exists and set-status edits it.
        public override void SetStatus(Exchange ex, XElement el, int code, string reason)
        {
            if (ex.Response == null) base.SetStatus(ex, el, code, reason);
            CurrentResponse.Instance.SetStatus(ex, el, code, reason);
        }

        public override void SetMethod(Exchange ex, XElement el, string method)
        {
            ex.Method = method;
            ex.SyncRequest();
        }

        public override void Changed(Exchange ex) { ex.SyncRequest(); }
    }

    /// The response of the backend (outbound) or the error response (on-error).
    public sealed class CurrentResponse : MessageTarget
    {
        public static readonly CurrentResponse Instance = new CurrentResponse();

        private static Outgoing Need(Exchange ex, XElement el)
        {
            if (ex.Response == null) throw new PolicyError(Catalog.Where(el), "NoResponse", "<" + el.Name.LocalName + "> without a response");
            return ex.Response;
        }

        public override HeaderList Headers(Exchange ex, XElement el) { return Need(ex, el).Headers; }

        public override void SetBody(Exchange ex, XElement el, byte[] body)
        {
            var r = Need(ex, el);
            if (r.Stream != null) throw new PolicyError(Catalog.Where(el), "BodyNotBuffered", "set-body on an unbuffered response");
            r.Body = body;
            Changed(ex);
        }

        public override void SetStatus(Exchange ex, XElement el, int code, string reason)
        {
            var r = Need(ex, el);
            r.Status = code;
            r.Reason = reason;
            Changed(ex);
        }

        public override void SetMethod(Exchange ex, XElement el, string method) { ForwardedRequest.Instance.SetMethod(ex, el, method); }

        public override void Changed(Exchange ex) { if (ex.Response != null) ex.Context.Response = ex.Response.ToModel(); }
    }

    /// The response a return-response builds (not visible to expressions until returned).
    public sealed class BuiltResponse : MessageTarget
    {
        public readonly Outgoing Response;
        public BuiltResponse(Outgoing response) { Response = response; }

        public override HeaderList Headers(Exchange ex, XElement el) { return Response.Headers; }
        public override void SetBody(Exchange ex, XElement el, byte[] body) { Response.Body = body; }

        public override void SetStatus(Exchange ex, XElement el, int code, string reason)
        {
            Response.Status = code;
            Response.Reason = reason;
        }
    }

    /// The request a send-request builds.
    public sealed class SentRequest : MessageTarget
    {
        public readonly OutgoingRequest Request;
        public SentRequest(OutgoingRequest request) { Request = request; }

        public override HeaderList Headers(Exchange ex, XElement el) { return Request.Headers; }
        public override void SetBody(Exchange ex, XElement el, byte[] body) { Request.Body = body; }
        public override void SetMethod(Exchange ex, XElement el, string method) { Request.Method = method; }
        public override void SetUrl(Exchange ex, XElement el, string url) { Request.Url = url; }
    }
}

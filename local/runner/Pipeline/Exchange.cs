// One request in flight: the incoming request as policies edit it, the response once there is
// one, and the context model expressions see (kept in step after every edit).
using System.Collections.Generic;
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Loading;

namespace LocalApim.Pipeline
{
    /// A response under construction (return-response, forward-request result, error response).
    public sealed class Outgoing
    {
        public int Status = 200;
        public string Reason = "OK";
        public HeaderList Headers = new HeaderList();
        public byte[] Body = new byte[0];
        public UpstreamResponse Stream; // unbuffered backend body, relayed as it arrives

        public IResponse ToModel()
        {
            return new Response { StatusCode = Status, StatusReason = Reason, Headers = Headers.ToDictionary(), Body = Stream == null ? new MessageBody(Body ?? new byte[0]) : null };
        }
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

    public sealed class Exchange
    {
        public ProxyRequestContext Context;
        public Request Request;
        public HeaderList RequestHeaders = new HeaderList();
        public byte[] RequestBody;
        public string Method;
        public string GatewayUrl;
        public Api Api;
        public Operation Operation;
        public PolicyDoc[] Levels; // [api, operation]
        public bool PreflightOnly;  // no operation matched a CORS preflight: only the API's cors may answer it
        public string BackendBase;  // set-backend-service
        public string PathSuffix;   // path after the API path, rewritten by rewrite-uri
        public string QueryString;  // including '?', or ""
        public Outgoing Response;   // set by forward-request (outbound) or errors (on-error)
        public XElement Cors;       // the cors policy that applied, for simple (non-preflight) responses
        public string Section;
        public readonly List<string> Trace = new List<string>();
        /// Run once the response is written, with the request and response body bytes (a
        /// bandwidth quota charges them then).
        public readonly List<System.Action<long>> AfterResponse = new List<System.Action<long>>();
        /// quota-by-key counter keys this request has counted: a key counts once per request.
        public readonly HashSet<string> QuotaKeysCounted = new HashSet<string>();

        public void SyncRequest()
        {
            Request.Headers = RequestHeaders.ToDictionary();
            Request.Method = Method;
        }

        /// context.Request.Url: the backend URL the request would be forwarded to.
        public void SyncUrl()
        {
            var baseUrl = BackendBase ?? (GatewayUrl + (Api.Path == "" ? "" : "/" + Api.Path));
            Request.Url = new Url(baseUrl.TrimEnd('/') + PathSuffix + QueryString);
        }

        public void SetResponse(Outgoing response)
        {
            Response = response;
            Context.Response = response.ToModel();
        }
    }
}

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

    /// context.Request.Body. The body is read off the client's connection by the first
    /// As<T>(), when APIM buffers it too, and at most APIM's buffered payload limit of it:
    /// a policy that refuses a request on its headers never causes a read.
    public sealed class RequestBodyOnDemand : IMessageBody
    {
        private readonly Exchange ex;
        private MessageBody read;
        public RequestBodyOnDemand(Exchange ex) { this.ex = ex; }

        public T As<T>(bool preserveContent = false)
        {
            if (read == null) read = new MessageBody(ex.RequestBody);
            return read.As<T>(preserveContent);
        }
    }

    public sealed class Exchange
    {
        public ProxyRequestContext Context;
        public Request Request;
        public HeaderList RequestHeaders = new HeaderList();
        /// The client's body, on its connection until something reads it.
        public IncomingBody Incoming;
        private byte[] requestBody;
        /// Whether the request body is in memory: read for a policy, or replaced by set-body.
        /// Otherwise forward-request relays it from the client's connection.
        public bool BodyBuffered { get; private set; }

        /// The request body in memory, read off the connection on first use (at most
        /// ApimLimits.BufferedPayloadBytes; a larger one fails the policy that asked).
        public byte[] RequestBody
        {
            get
            {
                if (!BodyBuffered)
                {
                    requestBody = Incoming == null ? new byte[0] : Incoming.ReadAll(ApimLimits.BufferedPayloadBytes);
                    BodyBuffered = true;
                }
                return requestBody;
            }
            set
            {
                requestBody = value;
                BodyBuffered = true;
            }
        }
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

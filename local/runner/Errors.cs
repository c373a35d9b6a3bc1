// The three ways loading or executing a policy stops: a load error (refused at start), a policy
// error (goes to on-error), and a response that ends the pipeline.
using System;
using LocalApim.Pipeline;

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
        /// The answer APIM gives for this error when on-error leaves it alone (the throttling
        /// policies' 429 and 403); null: the default 500.
        public Outgoing Response { get; set; }
        /// The failing element's id attribute (context.LastError.PolicyId).
        public string PolicyId { get; set; }
        public PolicyError(string source, string reason, string message) : base(message) { Origin = source; Reason = reason; }
    }

    /// return-response (and the responses of cors and check-header) end the pipeline.
    public sealed class ReturnResponse : Exception
    {
        public readonly Outgoing Response;
        public ReturnResponse(Outgoing response) { Response = response; }
    }
}

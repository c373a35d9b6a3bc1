// The runner's implementations of the context members ApimContext.cs declares as interfaces
// (context.Api, context.Operation, context.Deployment, context.LastError).
using Apim.Model;

namespace LocalApim
{
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
}

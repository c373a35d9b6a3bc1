// A model of the Azure API Management policy expression runtime: the `context` object and the
// extension methods APIM adds. Source: learn.microsoft.com/azure/api-management/
// api-management-policy-expressions ("Context variable" table and extension method list).
// Members are real, runnable code so the same model can execute the policies locally.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Newtonsoft.Json.Linq;

namespace Apim.Model
{
    public interface IUrl
    {
        string Host { get; }
        string Path { get; }
        int Port { get; }
        IReadOnlyDictionary<string, string[]> Query { get; }
        string QueryString { get; }
        string Scheme { get; }
    }

    public interface IMessageBody
    {
        T As<T>(bool preserveContent = false);
    }

    public interface IRequest
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        string IpAddress { get; }
        IReadOnlyDictionary<string, string> MatchedParameters { get; }
        string Method { get; }
        IUrl OriginalUrl { get; }
        IUrl Url { get; }
    }

    public interface IResponse
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        int StatusCode { get; }
        string StatusReason { get; }
    }

    public interface IApi
    {
        string Id { get; }
        string Name { get; }
        string Path { get; }
        IUrl ServiceUrl { get; }
    }

    public interface IOperation
    {
        string Id { get; }
        string Method { get; }
        string Name { get; }
        string UrlTemplate { get; }
    }

    public interface IDeployment
    {
        string GatewayId { get; }
        string Region { get; }
        string ServiceName { get; }
    }

    public interface ILastError
    {
        string Source { get; }
        string Reason { get; }
        string Message { get; }
        string Scope { get; }
        string Section { get; }
        string Path { get; }
        string PolicyId { get; }
    }

    public interface ISubscription
    {
        string Id { get; }
        string Key { get; }
        string Name { get; }
    }

    public interface IUser
    {
        string Email { get; }
        string Id { get; }
    }

    public interface IProxyRequestContext
    {
        IApi Api { get; }
        IDeployment Deployment { get; }
        TimeSpan Elapsed { get; }
        ILastError LastError { get; }
        IOperation Operation { get; }
        IRequest Request { get; }
        Guid RequestId { get; }
        IResponse Response { get; }
        ISubscription Subscription { get; }
        DateTime Timestamp { get; }
        bool Tracing { get; }
        IUser User { get; }
        IReadOnlyDictionary<string, object> Variables { get; }
        void Trace(string message);
    }

    /// A message body held in memory. Reading without preserveContent consumes it, as in APIM.
    public sealed class MessageBody : IMessageBody
    {
        private byte[] content;
        public MessageBody(byte[] content) { this.content = content; }
        public MessageBody(string content) : this(Encoding.UTF8.GetBytes(content)) { }

        public T As<T>(bool preserveContent = false)
        {
            if (content == null) throw new InvalidOperationException("message body already consumed");
            var bytes = content;
            if (!preserveContent) content = null;
            var text = Encoding.UTF8.GetString(bytes);
            object result;
            if (typeof(T) == typeof(byte[])) result = bytes;
            else if (typeof(T) == typeof(string)) result = text;
            else if (typeof(T) == typeof(JObject)) result = JObject.Parse(text);
            else if (typeof(T) == typeof(JArray)) result = JArray.Parse(text);
            else if (typeof(T) == typeof(JToken)) result = JToken.Parse(text);
            else if (typeof(T) == typeof(XDocument)) result = XDocument.Parse(text);
            else if (typeof(T) == typeof(XElement) || typeof(T) == typeof(XNode)) result = XElement.Parse(text);
            else throw new NotSupportedException("As<" + typeof(T).Name + "> is not supported by APIM");
            return (T)result;
        }
    }

    public sealed class Url : IUrl
    {
        public Url(string absolute)
        {
            var uri = new Uri(absolute);
            Scheme = uri.Scheme;
            Host = uri.Host;
            Port = uri.Port;
            Path = uri.AbsolutePath;
            QueryString = uri.Query;
            var query = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var pair in uri.Query.TrimStart('?').Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split(new[] { '=' }, 2);
                var key = Uri.UnescapeDataString(kv[0].Replace('+', ' '));
                var value = kv.Length > 1 ? Uri.UnescapeDataString(kv[1].Replace('+', ' ')) : "";
                string[] existing;
                query[key] = query.TryGetValue(key, out existing) ? existing.Concat(new[] { value }).ToArray() : new[] { value };
            }
            Query = query;
        }
        public string Host { get; private set; }
        public string Path { get; private set; }
        public int Port { get; private set; }
        public IReadOnlyDictionary<string, string[]> Query { get; private set; }
        public string QueryString { get; private set; }
        public string Scheme { get; private set; }
    }

    public sealed class Request : IRequest
    {
        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; } = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        public string IpAddress { get; set; } = "127.0.0.1";
        public IReadOnlyDictionary<string, string> MatchedParameters { get; set; } = new Dictionary<string, string>();
        public string Method { get; set; } = "GET";
        public IUrl OriginalUrl { get; set; }
        public IUrl Url { get; set; }
    }

    public sealed class Response : IResponse
    {
        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; } = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        public int StatusCode { get; set; } = 200;
        public string StatusReason { get; set; } = "OK";
    }

    public sealed class ProxyRequestContext : IProxyRequestContext
    {
        public IApi Api { get; set; }
        public IDeployment Deployment { get; set; }
        public TimeSpan Elapsed { get { return DateTime.UtcNow - Timestamp; } }
        public ILastError LastError { get; set; }
        public IOperation Operation { get; set; }
        public IRequest Request { get; set; } = new Request();
        public Guid RequestId { get; set; } = Guid.NewGuid();
        public IResponse Response { get; set; } = new Response();
        public ISubscription Subscription { get; set; }
        public DateTime Timestamp { get; set; } = DateTime.UtcNow;
        public bool Tracing { get; set; }
        public IUser User { get; set; }
        /// Policies mutate variables through set-variable; expressions only read them.
        public Dictionary<string, object> VariableStore { get; } = new Dictionary<string, object>(StringComparer.Ordinal);
        public IReadOnlyDictionary<string, object> Variables { get { return VariableStore; } }
        public List<string> TraceLog { get; } = new List<string>();
        public void Trace(string message) { TraceLog.Add(message); }
    }

    public sealed class BasicAuthCredentials
    {
        public BasicAuthCredentials(string userId, string password) { UserId = userId; Password = password; }
        public string UserId { get; private set; }
        public string Password { get; private set; }
    }

    public sealed class Jwt
    {
        public string Algorithm { get; internal set; }
        public IEnumerable<string> Audiences { get; internal set; }
        public IReadOnlyDictionary<string, string[]> Claims { get; internal set; }
        public DateTime? ExpirationTime { get; internal set; }
        public string Id { get; internal set; }
        public string Issuer { get; internal set; }
        public DateTime? IssuedAt { get; internal set; }
        public DateTime? NotBefore { get; internal set; }
        public string Subject { get; internal set; }
        public string Type { get; internal set; }
    }
}

/// Extension methods APIM makes available to every expression (global namespace, no using needed).
public static class ApimExtensions
{
    /// Headers, query parameters and JWT claims: comma-joined values or the default.
    public static string GetValueOrDefault(this IReadOnlyDictionary<string, string[]> values, string name, string defaultValue = null)
    {
        string[] found;
        return values != null && values.TryGetValue(name, out found) && found != null ? string.Join(",", found) : defaultValue;
    }

    /// Variables: the value cast to T (throws on a type mismatch, as APIM does) or the default.
    public static T GetValueOrDefault<T>(this IReadOnlyDictionary<string, object> variables, string name, T defaultValue = default(T))
    {
        object found;
        return variables.TryGetValue(name, out found) ? (T)found : defaultValue;
    }

    private static SymmetricAlgorithm Algorithm(string alg)
    {
        var algorithm = SymmetricAlgorithm.Create(alg);
        if (algorithm == null) throw new ArgumentException("unknown symmetric algorithm " + alg);
        // The policies (and the session-token format) rely on APIM's documented defaults.
        if (algorithm.Mode != CipherMode.CBC || algorithm.Padding != PaddingMode.PKCS7)
            throw new InvalidOperationException(alg + " defaults are not CBC/PKCS7 on this runtime");
        return algorithm;
    }

    public static byte[] Encrypt(this byte[] input, string alg, byte[] key, byte[] iv)
    {
        using (var a = Algorithm(alg)) return Encrypt(input, a, key, iv);
    }

    public static byte[] Encrypt(this byte[] input, SymmetricAlgorithm alg)
    {
        using (var t = alg.CreateEncryptor()) return t.TransformFinalBlock(input, 0, input.Length);
    }

    public static byte[] Encrypt(this byte[] input, SymmetricAlgorithm alg, byte[] key, byte[] iv)
    {
        using (var t = alg.CreateEncryptor(key, iv)) return t.TransformFinalBlock(input, 0, input.Length);
    }

    public static byte[] Decrypt(this byte[] input, string alg, byte[] key, byte[] iv)
    {
        using (var a = Algorithm(alg)) return Decrypt(input, a, key, iv);
    }

    public static byte[] Decrypt(this byte[] input, SymmetricAlgorithm alg)
    {
        using (var t = alg.CreateDecryptor()) return t.TransformFinalBlock(input, 0, input.Length);
    }

    public static byte[] Decrypt(this byte[] input, SymmetricAlgorithm alg, byte[] key, byte[] iv)
    {
        using (var t = alg.CreateDecryptor(key, iv)) return t.TransformFinalBlock(input, 0, input.Length);
    }

    public static Apim.Model.BasicAuthCredentials AsBasic(this string input)
    {
        Apim.Model.BasicAuthCredentials result;
        return TryParseBasic(input, out result) ? result : null;
    }

    public static bool TryParseBasic(this string input, out Apim.Model.BasicAuthCredentials result)
    {
        result = null;
        if (input == null || !input.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(input.Substring(6).Trim()));
            var colon = decoded.IndexOf(':');
            if (colon < 0) return false;
            result = new Apim.Model.BasicAuthCredentials(decoded.Substring(0, colon), decoded.Substring(colon + 1));
            return true;
        }
        catch (FormatException) { return false; }
    }

    public static Apim.Model.Jwt AsJwt(this string input)
    {
        Apim.Model.Jwt result;
        return TryParseJwt(input, out result) ? result : null;
    }

    /// Parses without validating the signature, like APIM's AsJwt.
    public static bool TryParseJwt(this string input, out Apim.Model.Jwt result)
    {
        result = null;
        var parts = (input ?? "").Split('.');
        if (parts.Length != 3) return false;
        try
        {
            var header = JObject.Parse(Encoding.UTF8.GetString(FromBase64Url(parts[0])));
            var payload = JObject.Parse(Encoding.UTF8.GetString(FromBase64Url(parts[1])));
            var claims = new Dictionary<string, string[]>(StringComparer.Ordinal);
            foreach (var p in payload.Properties())
            {
                claims[p.Name] = p.Value.Type == JTokenType.Array
                    ? p.Value.Select(v => v.ToString()).ToArray()
                    : new[] { p.Value.Type == JTokenType.String ? (string)p.Value : p.Value.ToString(Newtonsoft.Json.Formatting.None) };
            }
            var epoch = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            Func<string, DateTime?> time = name => payload[name] != null ? epoch.AddSeconds((long)payload[name]) : (DateTime?)null;
            string[] aud;
            result = new Apim.Model.Jwt
            {
                Algorithm = (string)header["alg"],
                Type = (string)header["typ"],
                Claims = claims,
                Audiences = claims.TryGetValue("aud", out aud) ? aud : new string[0],
                ExpirationTime = time("exp"),
                IssuedAt = time("iat"),
                NotBefore = time("nbf"),
                Id = (string)payload["jti"],
                Issuer = (string)payload["iss"],
                Subject = (string)payload["sub"],
            };
            return true;
        }
        catch (Exception) { return false; }
    }

    private static byte[] FromBase64Url(string s)
    {
        var b64 = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b64 + new string('=', (4 - b64.Length % 4) % 4));
    }
}

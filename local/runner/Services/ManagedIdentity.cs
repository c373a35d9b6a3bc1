// The APIM instance's user-assigned managed identity, locally: RS256 federation assertions
// signed with the launcher's key (what Entra issues for api://AzureADTokenExchange), and
// Azure Storage Shared Key signing with Azurite's account key in place of storage tokens.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Newtonsoft.Json.Linq;

namespace LocalApim.Services
{
    public sealed class ManagedIdentity
    {
        private readonly RSAParameters key;
        private readonly string keyId, issuer, storageAccount, storageKey, storageApiVersion;

        public ManagedIdentity(Config config, string storageApiVersion)
        {
            var jwk = JObject.Parse(File.ReadAllText(config.MiSigningKeyFile));
            Func<string, byte[]> b = name => FromBase64Url((string)jwk[name]);
            key = new RSAParameters { Modulus = b("n"), Exponent = b("e"), D = b("d"), P = b("p"), Q = b("q"), DP = b("dp"), DQ = b("dq"), InverseQ = b("qi") };
            keyId = (string)jwk["kid"] ?? "local-managed-identity";
            issuer = config.MiIssuer;
            storageAccount = config.StorageAccount;
            storageKey = config.StorageKey;
            this.storageApiVersion = storageApiVersion;
        }

        public string StorageApiVersion { get { return storageApiVersion; } }

        /// iss = the identity issuer, sub = oid = appid = the identity's client id, 1 h.
        public string FederationAssertion(string audience, string clientId)
        {
            long now = (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
            var header = new JObject(new JProperty("alg", "RS256"), new JProperty("typ", "JWT"), new JProperty("kid", keyId));
            var payload = new JObject(
                new JProperty("aud", audience),
                new JProperty("iss", issuer),
                new JProperty("sub", clientId),
                new JProperty("oid", clientId),
                new JProperty("appid", clientId),
                new JProperty("iat", now), new JProperty("nbf", now), new JProperty("exp", now + 3600),
                new JProperty("jti", Guid.NewGuid().ToString("N")));
            var signingInput = ToBase64Url(Encoding.UTF8.GetBytes(header.ToString(Newtonsoft.Json.Formatting.None))) + "." +
                ToBase64Url(Encoding.UTF8.GetBytes(payload.ToString(Newtonsoft.Json.Formatting.None)));
            using (var rsa = new RSACryptoServiceProvider())
            {
                rsa.ImportParameters(key);
                var sig = rsa.SignData(Encoding.ASCII.GetBytes(signingInput), CryptoConfig.MapNameToOID("SHA256"));
                return signingInput + "." + ToBase64Url(sig);
            }
        }

        /// Azure Storage Shared Key authorization (path-style Azurite URLs).
        public void SignSharedKey(string method, string url, HeaderList headers, byte[] body)
        {
            var uri = new Uri(url);
            headers.Set("x-ms-date", new[] { DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture) });
            if (!headers.Has("x-ms-version")) headers.Add("x-ms-version", storageApiVersion);
            long length = body == null ? 0 : body.Length;
            Func<string, string> h = n => headers.Get(n) ?? "";
            var sb = new StringBuilder();
            sb.Append(method).Append('\n')
              .Append(h("Content-Encoding")).Append('\n')
              .Append(h("Content-Language")).Append('\n')
              .Append(length == 0 ? "" : length.ToString(CultureInfo.InvariantCulture)).Append('\n')
              .Append(h("Content-MD5")).Append('\n')
              .Append(h("Content-Type")).Append('\n')
              .Append("").Append('\n')
              .Append(h("If-Modified-Since")).Append('\n')
              .Append(h("If-Match")).Append('\n')
              .Append(h("If-None-Match")).Append('\n')
              .Append(h("If-Unmodified-Since")).Append('\n')
              .Append(h("Range")).Append('\n');
            foreach (var x in headers.Items.Where(i => i.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
                .Select(i => new KeyValuePair<string, string>(i.Key.ToLowerInvariant(), i.Value.Trim()))
                .OrderBy(i => i.Key, StringComparer.Ordinal))
                sb.Append(x.Key).Append(':').Append(x.Value).Append('\n');
            sb.Append('/').Append(storageAccount).Append(uri.AbsolutePath);
            var query = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var pair in uri.Query.TrimStart('?').Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split(new[] { '=' }, 2);
                var k = Uri.UnescapeDataString(kv[0]).ToLowerInvariant();
                List<string> list;
                if (!query.TryGetValue(k, out list)) query[k] = list = new List<string>();
                list.Add(kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "");
            }
            foreach (var q in query) sb.Append('\n').Append(q.Key).Append(':').Append(string.Join(",", q.Value.OrderBy(v => v, StringComparer.Ordinal)));
            using (var hmac = new HMACSHA256(Convert.FromBase64String(storageKey)))
            {
                var sig = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(sb.ToString())));
                headers.Set("Authorization", new[] { "SharedKey " + storageAccount + ":" + sig });
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

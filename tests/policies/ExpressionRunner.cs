// Evaluates compiled policy expressions (assembly Expressions, compiled by the local runner's
// --compile-expressions) against request contexts described in JSON, so tests can run policy
// C# with real inputs.
// Input (stdin): [{"class": "E3", "method": "GET", "url": "https://...", "headers": {...},
//   "body": "...", "variables": {...}, "now": 1767225600}, ...]
// Output (stdout, UTF-8): [{"value": <result as JSON>} | {"exception": "Type: message"}, ...]
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Apim.Model;
using Newtonsoft.Json.Linq;

public static class ExpressionRunner
{
    static object Variable(JToken value)
    {
        switch (value.Type)
        {
            case JTokenType.String: return (string)value;
            case JTokenType.Boolean: return (bool)value;
            case JTokenType.Integer: return (long)value;
            default: return value;
        }
    }

    static ProxyRequestContext Context(JObject spec)
    {
        var request = new Request();
        request.Method = (string)spec["method"] ?? "GET";
        request.Url = new Url((string)spec["url"] ?? "https://apim-snippets.azure-api.net/");
        request.OriginalUrl = request.Url;
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        foreach (var h in (JObject)spec["headers"] ?? new JObject())
        {
            headers[h.Key] = new[] { (string)h.Value };
        }
        request.Headers = headers;
        if (spec["body"] != null)
        {
            request.Body = new MessageBody((string)spec["body"]);
        }
        var context = new ProxyRequestContext { Request = request };
        context.Timestamp = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds((long?)spec["now"] ?? 1767225600);
        foreach (var v in (JObject)spec["variables"] ?? new JObject())
        {
            context.VariableStore[v.Key] = Variable(v.Value);
        }
        return context;
    }

    public static int Main()
    {
        var cases = JArray.Parse(Console.In.ReadToEnd());
        var results = new JArray();
        foreach (JObject spec in cases)
        {
            var type = Type.GetType("Apim.Expressions." + (string)spec["class"] + ", Expressions", true);
            try
            {
                var value = type.GetMethod("Eval").Invoke(null, new object[] { Context(spec) });
                results.Add(new JObject(new JProperty("value", value == null ? JValue.CreateNull() : value as JToken ?? new JValue(value))));
            }
            catch (System.Reflection.TargetInvocationException e)
            {
                results.Add(new JObject(new JProperty("exception", e.InnerException.GetType().Name + ": " + e.InnerException.Message)));
            }
        }
        var bytes = Encoding.UTF8.GetBytes(results.ToString(Newtonsoft.Json.Formatting.None));
        using (var stdout = Console.OpenStandardOutput())
        {
            stdout.Write(bytes, 0, bytes.Length);
        }
        return 0;
    }
}

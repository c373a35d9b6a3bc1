// Runs the session token C# of the rendered policy fragments against the shared test vectors
// (crates/session-token/vectors/v1.json). The expressions are compiled by the local runner
// (--compile-expressions, assembly Expressions); test_policies_token_vectors.py names the
// classes that open, seal and draw the IV; this file only drives them.
// Usage: mono TokenVectors.exe <vectors.json> <open class> <seal class> <iv class>  -> JSON on stdout.
using System;
using System.IO;
using Apim.Model;
using Newtonsoft.Json.Linq;

public static class TokenVectors
{
    static Func<ProxyRequestContext, object> openToken, sealToken, freshIv;

    static Func<ProxyRequestContext, object> Expression(string cls)
    {
        var method = Type.GetType("Apim.Expressions." + cls + ", Expressions", true).GetMethod("Eval");
        return context =>
        {
            try
            {
                return method.Invoke(null, new object[] { context });
            }
            catch (System.Reflection.TargetInvocationException e)
            {
                throw e.InnerException;
            }
        };
    }

    const string DefaultAudience = "https://apim-snippets.azure-api.net/mcp";

    static ProxyRequestContext Context(long now)
    {
        var context = new ProxyRequestContext();
        context.Timestamp = new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(now);
        return context;
    }

    static JToken Open(string token, string audience, long now)
    {
        var context = Context(now);
        context.VariableStore["sessionToken"] = token;
        context.VariableStore["sessionTokenAudience"] = audience;
        try
        {
            return (JObject)openToken(context);
        }
        catch (Exception e)
        {
            // An exception is a runtime error in APIM (a 500), never an acceptable rejection.
            return new JObject(new JProperty("exception", e.GetType().Name + ": " + e.Message));
        }
    }

    static string Seal(JObject claims, string iv, long now)
    {
        var context = Context(now);
        context.VariableStore["sessionClaims"] = claims;
        context.VariableStore["sessionTokenIv"] = iv;
        return (string)sealToken(context);
    }

    public static int Main(string[] args)
    {
        openToken = Expression(args[1]);
        sealToken = Expression(args[2]);
        freshIv = Expression(args[3]);
        var vectors = JObject.Parse(File.ReadAllText(args[0]));
        long now = (long)vectors["now"];
        var results = new JObject();
        var opened = new JObject();
        var sealedTokens = new JObject();
        foreach (JObject v in (JArray)vectors["valid"])
        {
            var audience = (string)v["expectedAudience"] ?? (string)v["claims"]["aud"];
            opened[(string)v["name"]] = Open((string)v["token"], audience, now);
            sealedTokens[(string)v["name"]] = Seal((JObject)v["claims"], (string)v["iv"], now);
        }
        foreach (JObject v in (JArray)vectors["invalid"])
        {
            var audience = (string)v["expectedAudience"] ?? DefaultAudience;
            opened[(string)v["name"]] = Open((string)v["token"], audience, now);
        }
        // The IV expression must produce 16 fresh random bytes.
        var ivs = new JArray();
        for (int i = 0; i < 2; i++)
        {
            ivs.Add((string)freshIv(Context(now)));
        }
        results["open"] = opened;
        results["seal"] = sealedTokens;
        results["ivs"] = ivs;
        // Raw UTF-8 bytes: Mono's console encoding depends on the locale of the test run.
        var bytes = System.Text.Encoding.UTF8.GetBytes(results.ToString(Newtonsoft.Json.Formatting.None));
        using (var stdout = Console.OpenStandardOutput())
        {
            stdout.Write(bytes, 0, bytes.Length);
        }
        return 0;
    }
}

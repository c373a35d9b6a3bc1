// Runs the C# sketch from docs/session-token.md (extracted into Sketch.cs by check.py)
// against crates/session-token/vectors/v1.json and, when given, vectors/rotation.json; exits
// non-zero when any vector disagrees.
using System;
using System.IO;
using System.Text;
using Newtonsoft.Json.Linq;

public static class VectorCheck
{
    public static int Main(string[] args)
    {
        JObject file = JObject.Parse(File.ReadAllText(args[0], Encoding.UTF8));
        byte[] enc = Convert.FromBase64String((string)file["keys"]["encKey"]);
        byte[] mac = Convert.FromBase64String((string)file["keys"]["macKey"]);
        long now = (long)file["now"];
        int failures = 0, passed = 0;

        foreach (JObject v in (JArray)file["valid"])
        {
            string name = (string)v["name"];
            string token = (string)v["token"];
            byte[] iv = Convert.FromBase64String((string)v["iv"]);
            string sealedToken = SessionToken.SealWithIv(enc, mac, (string)v["plaintext"], iv);
            if (sealedToken != token) { failures++; Console.WriteLine("FAIL seal: " + name); }
            JObject want = (JObject)v["claims"];
            string error;
            JObject got = SessionToken.Open(enc, mac, token, now, (string)want["aud"], out error);
            if (got == null || !JToken.DeepEquals(Project(got), want))
            {
                failures++;
                Console.WriteLine("FAIL open: " + name + " -> " + (error ?? "claims differ"));
            }
            else passed++;
            // A fresh-IV seal of the same plaintext must open to the same claims.
            string fresh = SessionToken.Seal(enc, mac, (string)v["plaintext"]);
            if (fresh == token || SessionToken.Open(enc, mac, fresh, now, null, out error) == null)
            {
                failures++;
                Console.WriteLine("FAIL fresh seal: " + name);
            }
        }

        foreach (JObject v in (JArray)file["invalid"])
        {
            string name = (string)v["name"];
            string error;
            JObject got;
            try
            {
                got = SessionToken.Open(enc, mac, (string)v["token"], now,
                                        (string)v["expectedAudience"], out error);
            }
            catch (Exception e)
            {
                failures++;
                Console.WriteLine("FAIL (exception escaped): " + name + ": " + e.GetType().Name);
                continue;
            }
            if (got != null || error != (string)v["error"])
            {
                failures++;
                Console.WriteLine("FAIL: " + name + ": got " + (error ?? "success")
                                  + ", want " + (string)v["error"]);
            }
            else passed++;
        }

        // The rotation vectors (vectors/rotation.json), when given: the same tokens opened by a
        // reader with and without the previous pair.
        if (args.Length > 1)
        {
            JObject rotation = JObject.Parse(File.ReadAllText(args[1], Encoding.UTF8));
            byte[] prevEnc = Convert.FromBase64String((string)rotation["previousKeys"]["encKey"]);
            byte[] prevMac = Convert.FromBase64String((string)rotation["previousKeys"]["macKey"]);
            long until = (long)rotation["previousUntil"];
            foreach (JObject c in (JArray)rotation["cases"])
            {
                string name = "rotation: " + (string)c["name"];
                bool withPrevious = (bool)c["previousConfigured"];
                string error;
                JObject got = SessionToken.OpenRotating(enc, mac, withPrevious ? prevEnc : null,
                    withPrevious ? prevMac : null, until, (string)c["token"], (long)c["now"],
                    (string)c["expectedAudience"], out error);
                bool ok = c["claims"] != null
                    ? got != null && JToken.DeepEquals(Project(got), c["claims"])
                    : got == null && error == (string)c["error"];
                if (ok) passed++;
                else
                {
                    failures++;
                    Console.WriteLine("FAIL: " + name + ": got " + (error ?? "claims"));
                }
            }
        }

        Console.WriteLine(passed + " vectors passed, " + failures + " failures");
        return failures == 0 && passed > 0 ? 0 : 1;
    }

    // Only the v1 members: unknown members are ignored, as the spec says.
    static JObject Project(JObject claims)
    {
        var o = new JObject();
        foreach (string k in new[] { "sid", "sub", "cid", "scp", "aud", "iat", "exp" })
            o[k] = claims[k];
        return o;
    }
}

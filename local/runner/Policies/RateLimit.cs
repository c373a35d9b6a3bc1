// rate-limit-by-key: a fixed window of renewal-period seconds per API and counter-key.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Xml.Linq;
using Newtonsoft.Json.Linq;

namespace LocalApim.Policies
{
    public sealed class RateLimiter
    {
        private readonly Dictionary<string, KeyValuePair<DateTime, int>> windows = new Dictionary<string, KeyValuePair<DateTime, int>>();

        /// Returns 0 when allowed, else the seconds until the window renews.
        public int Hit(string key, int calls, int period, bool increment)
        {
            lock (windows)
            {
                var now = DateTime.UtcNow;
                KeyValuePair<DateTime, int> w;
                if (!windows.TryGetValue(key, out w) || w.Key <= now) w = new KeyValuePair<DateTime, int>(now.AddSeconds(period), 0);
                if (w.Value >= calls) return Math.Max(1, (int)Math.Ceiling((w.Key - now).TotalSeconds));
                if (increment) w = new KeyValuePair<DateTime, int>(w.Key, w.Value + 1);
                windows[key] = w;
                return 0;
            }
        }
    }

    public sealed class RateLimitByKeyPolicy : Policy
    {
        public override string Name { get { return "rate-limit-by-key"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes { get { return new[] { "calls", "renewal-period", "counter-key", "increment-condition" }; } }

        public override void Execute(XElement el, PolicyRun run)
        {
            var calls = run.IntAttr(el, "calls");
            var period = run.IntAttr(el, "renewal-period");
            var key = run.Attr(el, "counter-key");
            var increment = el.Attribute("increment-condition") == null || run.Condition(el, "increment-condition");
            var wait = run.Gateway.Limiter.Hit(run.Ex.Api.Name + "\n" + key, calls, period, increment);
            if (wait == 0) return;
            var r = Gateway.Plain(429, "Too Many Requests", new JObject(new JProperty("statusCode", 429),
                new JProperty("message", "Rate limit is exceeded. Try again in " + wait + " seconds.")).ToString(Newtonsoft.Json.Formatting.None));
            r.Headers.Add("Retry-After", wait.ToString(CultureInfo.InvariantCulture));
            throw new ReturnResponse(r);
        }
    }
}

// rate-limit-by-key: a fixed window of renewal-period seconds per API and counter-key. Over the
// limit the policy raises an error, as APIM does: context.LastError Reason RateLimitExceeded
// (Source "rate-limit", PolicyId the element's id), APIM's 429 with Retry-After as the response
// on-error starts from, and the wait in retry-after-variable-name.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Xml.Linq;
using LocalApim.Loading;
using LocalApim.Pipeline;
using Newtonsoft.Json.Linq;

namespace LocalApim.Policies
{
    public sealed class RateLimiter
    {
        private readonly Dictionary<string, KeyValuePair<DateTime, int>> windows = new Dictionary<string, KeyValuePair<DateTime, int>>();

        /// Returns 0 when allowed, else the seconds until the window renews.
        public int Hit(string key, int calls, int period, int increment)
        {
            lock (windows)
            {
                var now = DateTime.UtcNow;
                KeyValuePair<DateTime, int> w;
                if (!windows.TryGetValue(key, out w) || w.Key <= now) w = new KeyValuePair<DateTime, int>(now.AddSeconds(period), 0);
                if (w.Value >= calls) return Math.Max(1, (int)Math.Ceiling((w.Key - now).TotalSeconds));
                windows[key] = new KeyValuePair<DateTime, int>(w.Key, w.Value + increment);
                return 0;
            }
        }
    }

    public sealed class RateLimitByKeyPolicy : Policy
    {
        /// The reference's longest renewal-period.
        public const int MaxPeriod = 300;

        public override string Name { get { return "rate-limit-by-key"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes
        {
            get
            {
                return new[] { "id", "calls", "renewal-period", "counter-key", "increment-condition", "increment-count",
                    "retry-after-header-name", "retry-after-variable-name" };
            }
        }

        public override void Validate(XElement el, Validator v)
        {
            base.Validate(el, v);
            foreach (var required in new[] { "calls", "renewal-period", "counter-key" })
                if (el.Attribute(required) == null) throw new LoadError(Catalog.Where(el) + ": attribute " + required + " is required");
            // Literal values (named values are substituted by now) are checked at load, as APIM
            // checks them when the policy is saved; expressions when they run.
            int period;
            var literal = (string)el.Attribute("renewal-period");
            if (!literal.StartsWith("@", StringComparison.Ordinal)
                && (!int.TryParse(literal, NumberStyles.None, CultureInfo.InvariantCulture, out period) || period < 1 || period > MaxPeriod))
                throw new LoadError(Catalog.Where(el) + ": renewal-period must be 1 to " + MaxPeriod + " seconds, got " + literal);
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var calls = run.IntAttr(el, "calls");
            var period = run.IntAttr(el, "renewal-period");
            if (period < 1 || period > MaxPeriod)
                throw new PolicyError(Catalog.Where(el), "ExpressionValueEvaluationFailure", "renewal-period must be 1 to " + MaxPeriod + " seconds");
            var key = run.Attr(el, "counter-key");
            var counted = el.Attribute("increment-condition") == null || run.Condition(el, "increment-condition");
            var increment = counted ? run.IntAttr(el, "increment-count", "1") : 0;
            var wait = run.Gateway.Limiter.Hit(run.Ex.Api.Name + "\n" + key, calls, period, increment);
            if (wait == 0) return;
            var variable = (string)el.Attribute("retry-after-variable-name");
            if (variable != null) run.Ex.Context.VariableStore[variable] = wait;
            var message = "Rate limit is exceeded. Try again in " + wait + " seconds.";
            var r = Gateway.Plain(429, "Too Many Requests", new JObject(new JProperty("statusCode", 429),
                new JProperty("message", message)).ToString(Newtonsoft.Json.Formatting.None));
            r.Headers.Add((string)el.Attribute("retry-after-header-name") ?? "Retry-After", wait.ToString(CultureInfo.InvariantCulture));
            throw new PolicyError("rate-limit", "RateLimitExceeded", message) { Response = r, PolicyId = (string)el.Attribute("id") };
        }
    }
}

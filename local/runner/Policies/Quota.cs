// quota-by-key: calls and/or bandwidth (kilobytes of request and response bodies) per
// counter-key over fixed periods of renewal-period seconds counted from first-period-start
// (default 0001-01-01T00:00:00Z; 0 = one period that never ends). As in APIM: calls, bandwidth,
// renewal-period and first-period-start are literals (named values allowed, expressions not), a
// renewal period is 0 or at least 300 seconds, a key counts once per request however many
// quota-by-key policies name it, and over the quota the policy raises an error: Reason
// QuotaExceeded (Source "quota", PolicyId the element's id) with APIM's 403 and Retry-After as
// the response on-error starts from. Calls are counted when the policy runs; bandwidth once
// the response has been sent. One store per runner process.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Xml.Linq;
using LocalApim.Loading;
using LocalApim.Pipeline;
using Newtonsoft.Json.Linq;

namespace LocalApim.Policies
{
    public sealed class QuotaByKeyPolicy : Policy
    {
        /// The reference's shortest renewal-period other than 0.
        public const int MinPeriod = 300;
        private static readonly DateTime DefaultFirstPeriodStart = new DateTime(1, 1, 1, 0, 0, 0, DateTimeKind.Utc);

        private sealed class Counter
        {
            public DateTime PeriodStart;
            public long Calls;
            public long Bytes;
        }

        private readonly Dictionary<string, Counter> counters = new Dictionary<string, Counter>(StringComparer.Ordinal);

        public override string Name { get { return "quota-by-key"; } }
        public override string[] Sections { get { return new[] { "inbound" }; } }
        public override string[] Attributes
        {
            get { return new[] { "id", "calls", "bandwidth", "renewal-period", "counter-key", "increment-condition", "increment-count", "first-period-start" }; }
        }

        public override void Validate(XElement el, Validator v)
        {
            base.Validate(el, v);
            foreach (var name in new[] { "calls", "bandwidth", "renewal-period", "first-period-start" })
            {
                var a = el.Attribute(name);
                if (a != null && a.Value.StartsWith("@", StringComparison.Ordinal))
                    throw new LoadError(Catalog.Where(el) + ": " + name + " does not allow policy expressions");
            }
            if (el.Attribute("calls") == null && el.Attribute("bandwidth") == null)
                throw new LoadError(Catalog.Where(el) + ": calls, bandwidth or both are required");
            if (el.Attribute("counter-key") == null) throw new LoadError(Catalog.Where(el) + ": attribute counter-key is required");
            if (el.Attribute("renewal-period") == null) throw new LoadError(Catalog.Where(el) + ": attribute renewal-period is required");
            foreach (var name in new[] { "calls", "bandwidth" })
                if (el.Attribute(name) != null && Positive(el, name) < 1)
                    throw new LoadError(Catalog.Where(el) + ": " + name + " must be a positive number, got " + el.Attribute(name).Value);
            var period = Positive(el, "renewal-period");
            if (period != 0 && period < MinPeriod)
                throw new LoadError(Catalog.Where(el) + ": renewal-period must be 0 (never renews) or at least " + MinPeriod + " seconds, got " + el.Attribute("renewal-period").Value);
            FirstPeriodStart(el);
        }

        /// A non-negative integer attribute; -1 when it is not one.
        private static long Positive(XElement el, string name)
        {
            long n;
            return long.TryParse(el.Attribute(name).Value, NumberStyles.None, CultureInfo.InvariantCulture, out n) ? n : -1;
        }

        private static DateTime FirstPeriodStart(XElement el)
        {
            var a = el.Attribute("first-period-start");
            if (a == null) return DefaultFirstPeriodStart;
            DateTime start;
            if (!DateTime.TryParseExact(a.Value, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out start))
                throw new LoadError(Catalog.Where(el) + ": first-period-start must be yyyy-MM-ddTHH:mm:ssZ, got " + a.Value);
            return start;
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var key = run.Attr(el, "counter-key");
            long period = Positive(el, "renewal-period");
            var first = FirstPeriodStart(el);
            var now = DateTime.UtcNow;
            DateTime start, end;
            if (period == 0 || now < first)
            {
                start = first;
                end = period == 0 ? DateTime.MaxValue : first;
            }
            else
            {
                long elapsed = (long)Math.Floor((now - first).TotalSeconds);
                start = first.AddSeconds(elapsed - elapsed % period);
                end = start.AddSeconds(period);
            }
            long calls = el.Attribute("calls") != null ? Positive(el, "calls") : long.MaxValue;
            long bytes = el.Attribute("bandwidth") != null ? Positive(el, "bandwidth") * 1024 : long.MaxValue;
            Counter counter;
            string exceeded = null;
            lock (counters)
            {
                if (!counters.TryGetValue(key, out counter) || counter.PeriodStart != start)
                {
                    counter = new Counter { PeriodStart = start };
                    counters[key] = counter;
                }
                if (counter.Calls >= calls) exceeded = "call volume";
                else if (counter.Bytes >= bytes) exceeded = "bandwidth";
            }
            if (exceeded != null) throw Exceeded(el, exceeded, end, now);
            var counted = el.Attribute("increment-condition") == null || run.Condition(el, "increment-condition");
            if (!counted || !run.Ex.QuotaKeysCounted.Add(key)) return;
            var increment = run.IntAttr(el, "increment-count", "1");
            lock (counters) counter.Calls += increment;
            if (el.Attribute("bandwidth") != null)
                run.Ex.AfterResponse.Add(transferred => { lock (counters) counter.Bytes += transferred; });
        }

        /// hh:mm:ss with the hours counted on past a day (periods may be long).
        private static string Clock(TimeSpan t)
        {
            return ((long)t.TotalHours).ToString("00", CultureInfo.InvariantCulture) + ":" + t.ToString(@"mm\:ss", CultureInfo.InvariantCulture);
        }

        private static PolicyError Exceeded(XElement el, string what, DateTime end, DateTime now)
        {
            var left = end == DateTime.MaxValue ? (TimeSpan?)null : end - now;
            var message = "Out of " + what + " quota."
                + (left == null ? "" : " Quota will be replenished in " + Clock(left.Value) + ".");
            var r = Gateway.Plain(403, "Forbidden", new JObject(new JProperty("statusCode", 403),
                new JProperty("message", message)).ToString(Newtonsoft.Json.Formatting.None));
            if (left != null)
                r.Headers.Add("Retry-After", Math.Max(1L, (long)Math.Ceiling(left.Value.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
            return new PolicyError("quota", "QuotaExceeded", message) { Response = r, PolicyId = (string)el.Attribute("id") };
        }
    }
}

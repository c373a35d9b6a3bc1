// The value cache: cache-store-value (duration in seconds, honoured), cache-lookup-value
// (default-value when missing), cache-remove-value; one in-memory store for the process.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Xml.Linq;

namespace LocalApim.Policies
{
    public sealed class ValueCache
    {
        private readonly Dictionary<string, KeyValuePair<DateTime, object>> entries = new Dictionary<string, KeyValuePair<DateTime, object>>();

        public void Store(string key, object value, double seconds)
        {
            lock (entries) entries[key] = new KeyValuePair<DateTime, object>(DateTime.UtcNow.AddSeconds(seconds), value);
        }

        public bool TryGet(string key, out object value)
        {
            lock (entries)
            {
                KeyValuePair<DateTime, object> e;
                if (entries.TryGetValue(key, out e))
                {
                    if (e.Key > DateTime.UtcNow) { value = e.Value; return true; }
                    entries.Remove(key);
                }
            }
            value = null;
            return false;
        }

        public void Remove(string key) { lock (entries) entries.Remove(key); }
    }

    public sealed class CacheStoreValuePolicy : Policy
    {
        public override string Name { get { return "cache-store-value"; } }
        public override string[] Attributes { get { return new[] { "key", "value", "duration", "caching-type" }; } }

        public override void Execute(XElement el, PolicyRun run)
        {
            run.Gateway.Cache.Store(run.Attr(el, "key"), run.AttrValue(el, "value"), double.Parse(run.Attr(el, "duration"), CultureInfo.InvariantCulture));
        }
    }

    public sealed class CacheLookupValuePolicy : Policy
    {
        public override string Name { get { return "cache-lookup-value"; } }
        public override string[] Attributes { get { return new[] { "key", "variable-name", "default-value", "caching-type" }; } }

        public override void Execute(XElement el, PolicyRun run)
        {
            object cached;
            var variable = el.Attribute("variable-name").Value;
            if (run.Gateway.Cache.TryGet(run.Attr(el, "key"), out cached)) run.Ex.Context.VariableStore[variable] = cached;
            else if (el.Attribute("default-value") != null) run.Ex.Context.VariableStore[variable] = run.AttrValue(el, "default-value");
        }
    }

    public sealed class CacheRemoveValuePolicy : Policy
    {
        public override string Name { get { return "cache-remove-value"; } }
        public override string[] Attributes { get { return new[] { "key", "caching-type" }; } }
        public override void Execute(XElement el, PolicyRun run) { run.Gateway.Cache.Remove(run.Attr(el, "key")); }
    }
}

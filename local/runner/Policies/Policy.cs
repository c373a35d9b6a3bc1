// The policy vocabulary: every element the runner implements is one IPolicy (its name, the
// sections it may appear in, its attributes, how it is validated and executed), registered
// once in PolicyTable. A PolicyRun is what an executing element sees: the exchange, the
// section and scope level, the message it targets, and the gateway's services.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Xml.Linq;
using LocalApim.Loading;
using LocalApim.Pipeline;

namespace LocalApim.Policies
{
    public interface IPolicy
    {
        string Name { get; }
        /// Sections (or "send-request"/"return-response" for nested elements) it may appear in; null: anywhere.
        string[] Sections { get; }
        string[] Attributes { get; }
        void Validate(XElement el, Validator v);
        void Execute(XElement el, PolicyRun run);
    }

    /// Defaults: anywhere, no attributes, no child elements.
    public abstract class Policy : IPolicy
    {
        public abstract string Name { get; }
        public virtual string[] Sections { get { return null; } }
        public virtual string[] Attributes { get { return new string[0]; } }

        public virtual void Validate(XElement el, Validator v)
        {
            if (el.HasElements) throw new LoadError(Catalog.Where(el) + ": unexpected child elements");
        }

        public abstract void Execute(XElement el, PolicyRun run);

        protected static void OnlyChildren(XElement el, params string[] names)
        {
            foreach (var c in el.Elements())
                if (!names.Contains(c.Name.LocalName))
                    throw new LoadError(Catalog.Where(c) + ": only " + string.Join(" and ", names.Select(n => "<" + n + ">")) + " " + (names.Length == 1 ? "is" : "are") + " allowed here");
        }
    }

    /// Load-time checks of a policy tree against the table.
    public sealed class Validator
    {
        public readonly string Section;
        public readonly Gateway Gateway;

        public Validator(Gateway gateway, string section) { Gateway = gateway; Section = section; }

        public void Children(IEnumerable<XElement> elements, string section)
        {
            var v = new Validator(Gateway, section);
            foreach (var el in elements) v.Check(el);
        }

        public void Check(XElement el)
        {
            var name = el.Name.LocalName;
            var policy = PolicyTable.Find(name);
            if (policy == null) throw new LoadError(Catalog.Where(el) + ": policy <" + name + "> is not implemented by the local runner");
            if (policy.Sections != null && !policy.Sections.Contains(Section) && Section != "fragment")
                throw new LoadError(Catalog.Where(el) + ": <" + name + "> is not allowed in " + Section);
            foreach (var attr in el.Attributes())
                if (!policy.Attributes.Contains(attr.Name.LocalName))
                    throw new LoadError(Catalog.Where(el) + ": attribute " + attr.Name.LocalName + " is not implemented by the local runner");
            policy.Validate(el, this);
        }
    }

    /// What an executing element sees.
    public sealed class PolicyRun
    {
        public readonly Gateway Gateway;
        public readonly Exchange Ex;
        public readonly string Section;
        public readonly int Level;
        public readonly MessageTarget Target;

        public PolicyRun(Gateway gateway, Exchange ex, string section, int level, MessageTarget target)
        {
            Gateway = gateway; Ex = ex; Section = section; Level = level; Target = target;
        }

        public PolicyRun With(MessageTarget target) { return new PolicyRun(Gateway, Ex, Section, Level, target); }

        public void Run(IEnumerable<XElement> elements)
        {
            foreach (var el in elements)
            {
                if (Gateway.Config.Verbose) Ex.Trace.Add(Catalog.Where(el));
                PolicyTable.Find(el.Name.LocalName).Execute(el, this);
            }
        }

        /// The value of an attribute: the expression's result or the literal text (null when absent).
        public object AttrValue(XElement el, string name)
        {
            var attr = el.Attribute(name);
            if (attr == null) return null;
            return Gateway.Expressions.Has(attr) ? Gateway.Expressions.Eval(attr, Ex.Context) : attr.Value;
        }

        public string Attr(XElement el, string name, string fallback = null)
        {
            var v = AttrValue(el, name);
            return v == null ? fallback : Stringify(v);
        }

        public int IntAttr(XElement el, string name, string fallback = null)
        {
            return int.Parse(Attr(el, name, fallback), CultureInfo.InvariantCulture);
        }

        public object TextValue(XElement el)
        {
            return Gateway.Expressions.Has(el) ? Gateway.Expressions.Eval(el, Ex.Context) : el.Value;
        }

        public string Text(XElement el) { return Stringify(TextValue(el)); }

        public bool Condition(XElement el, string attribute)
        {
            var v = AttrValue(el, attribute);
            if (v is bool) return (bool)v;
            throw new PolicyError(Catalog.Where(el), "ExpressionValueEvaluationFailure", "condition did not evaluate to a bool");
        }

        public static string Stringify(object v)
        {
            if (v == null) return "";
            if (v is string) return (string)v;
            if (v is bool) return (bool)v ? "true" : "false";
            if (v is IFormattable) return ((IFormattable)v).ToString(null, CultureInfo.InvariantCulture);
            return v.ToString();
        }
    }

    /// Every element the runner executes, by name: the one place the vocabulary is listed.
    public static class PolicyTable
    {
        private static readonly Dictionary<string, IPolicy> table = new IPolicy[]
        {
            new BasePolicy(), new ChoosePolicy(), new IncludeFragmentPolicy(),
            new SetVariablePolicy(), new TracePolicy(),
            new SetHeaderPolicy(), new SetBodyPolicy(), new SetStatusPolicy(), new SetMethodPolicy(), new SetUrlPolicy(),
            new ReturnResponsePolicy(), new CheckHeaderPolicy(),
            new CacheStoreValuePolicy(), new CacheLookupValuePolicy(), new CacheRemoveValuePolicy(),
            new SendRequestPolicy(), new ManagedIdentityPolicy(),
            new SetBackendServicePolicy(), new RewriteUriPolicy(), new ForwardRequestPolicy(),
            new RateLimitByKeyPolicy(), new QuotaByKeyPolicy(), new CorsPolicy(),
        }.ToDictionary(p => p.Name);

        public static IPolicy Find(string name)
        {
            IPolicy p;
            return table.TryGetValue(name, out p) ? p : null;
        }
    }
}

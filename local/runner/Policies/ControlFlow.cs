// Control flow: <base/> (the enclosing scope's same section), choose/when/otherwise,
// include-fragment.
using System.Linq;
using System.Xml.Linq;
using LocalApim.Loading;

namespace LocalApim.Policies
{
    public sealed class BasePolicy : Policy
    {
        public override string Name { get { return "base"; } }
        public override string[] Sections { get { return Catalog.SectionOrder; } }
        public override void Execute(XElement el, PolicyRun run) { run.Gateway.RunSection(run.Ex, run.Level - 1, run.Section); }
    }

    public sealed class ChoosePolicy : Policy
    {
        public override string Name { get { return "choose"; } }

        public override void Validate(XElement el, Validator v)
        {
            foreach (var c in el.Elements())
            {
                if (c.Name.LocalName != "when" && c.Name.LocalName != "otherwise") throw new LoadError(Catalog.Where(c) + ": <choose> holds only <when> and <otherwise>");
                v.Children(c.Elements(), v.Section);
            }
        }

        public override void Execute(XElement el, PolicyRun run)
        {
            var branch = el.Elements().FirstOrDefault(b => b.Name.LocalName == "otherwise" || run.Condition(b, "condition"));
            if (branch != null) run.Run(branch.Elements());
        }
    }

    public sealed class IncludeFragmentPolicy : Policy
    {
        public override string Name { get { return "include-fragment"; } }
        public override string[] Attributes { get { return new[] { "fragment-id" }; } }

        public override void Validate(XElement el, Validator v)
        {
            base.Validate(el, v);
            if (!v.Gateway.Catalog.Fragments.ContainsKey(el.Attribute("fragment-id").Value)) throw new LoadError(Catalog.Where(el) + ": unknown fragment " + el.Attribute("fragment-id").Value);
        }

        public override void Execute(XElement el, PolicyRun run) { run.Run(run.Gateway.Catalog.Fragments[el.Attribute("fragment-id").Value].Elements()); }
    }
}

// Elements that edit the targeted message: set-header, set-body, set-status, set-method, set-url.
using System.Linq;
using System.Text;
using System.Xml.Linq;
using LocalApim.Loading;

namespace LocalApim.Policies
{
    public sealed class SetHeaderPolicy : Policy
    {
        public override string Name { get { return "set-header"; } }
        public override string[] Attributes { get { return new[] { "name", "exists-action" }; } }
        public override void Validate(XElement el, Validator v) { OnlyChildren(el, "value"); }

        public override void Execute(XElement el, PolicyRun run)
        {
            var headers = run.Target.Headers(run.Ex, el);
            var name = run.Attr(el, "name");
            var action = run.Attr(el, "exists-action", "override");
            // Each <value> is one header line (two Set-Cookie values are two headers).
            var values = el.Elements("value").Select(run.Text).ToList();
            switch (action)
            {
                case "override": headers.Set(name, values); break;
                case "skip": if (!headers.Has(name)) headers.Set(name, values); break;
                case "append": foreach (var v in values) headers.Add(name, v); break;
                case "delete": headers.Remove(name); break;
                default: throw new PolicyError(Catalog.Where(el), "InvalidAttribute", "exists-action " + action);
            }
            run.Target.Changed(run.Ex);
        }
    }

    public sealed class SetBodyPolicy : Policy
    {
        public override string Name { get { return "set-body"; } }
        public override void Execute(XElement el, PolicyRun run) { run.Target.SetBody(run.Ex, el, Encoding.UTF8.GetBytes(run.Text(el))); }
    }

    public sealed class SetStatusPolicy : Policy
    {
        public override string Name { get { return "set-status"; } }
        public override string[] Sections { get { return new[] { "outbound", "on-error", "return-response", "backend" }; } }
        public override string[] Attributes { get { return new[] { "code", "reason" }; } }
        public override void Execute(XElement el, PolicyRun run) { run.Target.SetStatus(run.Ex, el, run.IntAttr(el, "code"), run.Attr(el, "reason", "")); }
    }

    public sealed class SetMethodPolicy : Policy
    {
        public override string Name { get { return "set-method"; } }
        public override string[] Sections { get { return new[] { "inbound", "send-request" }; } }
        public override void Execute(XElement el, PolicyRun run) { run.Target.SetMethod(run.Ex, el, run.Text(el).Trim().ToUpperInvariant()); }
    }

    public sealed class SetUrlPolicy : Policy
    {
        public override string Name { get { return "set-url"; } }
        public override string[] Sections { get { return new[] { "send-request" }; } }
        public override void Execute(XElement el, PolicyRun run) { run.Target.SetUrl(run.Ex, el, run.Text(el).Trim()); }
    }
}

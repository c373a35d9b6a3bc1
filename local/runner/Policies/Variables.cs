// set-variable (the expression's object as is; literals are strings) and trace.
using System.Xml.Linq;

namespace LocalApim.Policies
{
    public sealed class SetVariablePolicy : Policy
    {
        public override string Name { get { return "set-variable"; } }
        public override string[] Attributes { get { return new[] { "name", "value" }; } }
        public override void Execute(XElement el, PolicyRun run) { run.Ex.Context.VariableStore[el.Attribute("name").Value] = run.AttrValue(el, "value"); }
    }

    public sealed class TracePolicy : Policy
    {
        public override string Name { get { return "trace"; } }
        public override string[] Attributes { get { return new[] { "source", "severity" }; } }
        public override void Validate(XElement el, Validator v) { OnlyChildren(el, "message", "metadata"); }

        public override void Execute(XElement el, PolicyRun run)
        {
            var message = el.Element("message");
            run.Ex.Trace.Add("trace " + run.Attr(el, "source", "") + ": " + (message == null ? "" : run.Text(message)));
        }
    }
}

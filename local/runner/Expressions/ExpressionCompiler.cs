// The one compiler of APIM policy expressions (used at start and by tests/policies through
// --compile-expressions): finds every expression (an attribute value or element text that is
// @(...) or @{...}), generates one class per expression
// (`public static object Eval(IProxyRequestContext context)`, `#line` pointing at the policy
// file), and compiles them with mcs against this program (which holds Model/ApimContext.cs).
// The mcs flags come from devstack/csharp.py (McsFlags.g.cs, generated at build).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Xml.Linq;
using Apim.Model;
using LocalApim.Loading;
using Newtonsoft.Json.Linq;

namespace LocalApim.Expressions
{
    /// One expression found in the policies.
    public sealed class Found
    {
        public XObject Node;     // the attribute, or the element whose text it is
        public string Code;      // including the leading @( or @{
        public string Class;     // E0, E1, ... in document order
        public string Label;     // "file:line <element> attr=" or "... text"
    }

    /// The compiled expressions, by the node they were found at.
    public sealed class ExpressionSet
    {
        private readonly Dictionary<XObject, Func<IProxyRequestContext, object>> compiled = new Dictionary<XObject, Func<IProxyRequestContext, object>>();
        private readonly Dictionary<XObject, string> labels = new Dictionary<XObject, string>();

        public int Count { get { return compiled.Count; } }

        public bool Has(XObject node) { return compiled.ContainsKey(node); }

        public void Add(Found f, Func<IProxyRequestContext, object> eval)
        {
            compiled[f.Node] = eval;
            labels[f.Node] = f.Label;
        }

        public object Eval(XObject node, IProxyRequestContext context)
        {
            Func<IProxyRequestContext, object> f;
            if (!compiled.TryGetValue(node, out f)) throw new InvalidOperationException("no compiled expression");
            try
            {
                return f(context);
            }
            catch (Exception e)
            {
                throw new PolicyError(labels[node], "ExpressionValueEvaluationFailure", "Expression evaluation failed. " + e.GetType().Name + ": " + e.Message);
            }
        }
    }

    public static class ExpressionCompiler
    {
        private static readonly string[] Usings =
        {
            "System", "System.Collections.Generic", "System.Linq", "System.Text", "System.Text.RegularExpressions",
            "System.Xml.Linq", "Newtonsoft.Json", "Newtonsoft.Json.Linq", "Apim.Model",
        };

        public static bool IsExpression(string value)
        {
            var t = value.Trim();
            return t.StartsWith("@(") && t.EndsWith(")") || t.StartsWith("@{") && t.EndsWith("}");
        }

        public static List<Found> Find(Catalog catalog)
        {
            var found = new List<Found>();
            foreach (var root in catalog.Roots())
            {
                foreach (var el in root.DescendantsAndSelf())
                {
                    foreach (var attr in el.Attributes())
                        if (IsExpression(attr.Value)) found.Add(new Found { Node = attr, Code = attr.Value.Trim(), Label = Catalog.Where(el) + " " + attr.Name.LocalName + "=" });
                    var text = string.Concat(el.Nodes().OfType<XText>().Select(t => t.Value));
                    if (!el.HasElements && IsExpression(text)) found.Add(new Found { Node = el, Code = text.Trim(), Label = Catalog.Where(el) + " text" });
                    else if (!el.HasElements && text.Contains("@(") && text.Trim().StartsWith("@"))
                        throw new LoadError(Catalog.Where(el) + ": text is not a single expression");
                }
            }
            for (int i = 0; i < found.Count; i++) found[i].Class = "E" + i;
            return found;
        }

        /// The index tests look expressions up in: class, file, line, where, name, code.
        public static JArray Index(List<Found> found)
        {
            var index = new JArray();
            foreach (var f in found)
            {
                var el = f.Node as XElement ?? ((XAttribute)f.Node).Parent;
                var attr = f.Node as XAttribute;
                // A <value> is named by its set-header (the header it sets).
                var owner = el.Name.LocalName == "value" && el.Parent != null ? el.Parent : el;
                index.Add(new JObject(
                    new JProperty("class", f.Class),
                    new JProperty("file", el.Annotation<string>()),
                    new JProperty("line", ((System.Xml.IXmlLineInfo)el).LineNumber),
                    new JProperty("where", el.Name.LocalName + (attr != null ? " " + attr.Name.LocalName + "=" : " text")),
                    new JProperty("name", (string)owner.Attribute("name") ?? ""),
                    new JProperty("code", f.Code)));
            }
            return index;
        }

        private static string Source(List<Found> found)
        {
            var src = new StringBuilder();
            foreach (var u in Usings) src.Append("using ").Append(u).Append(";\n");
            src.Append("namespace Apim.Expressions {\n");
            foreach (var f in found)
            {
                var inner = f.Code.Substring(2, f.Code.Length - 3);
                var body = f.Code.StartsWith("@{") ? inner : "return (" + inner + ");";
                src.Append("public static class ").Append(f.Class).Append(" {\n public static object Eval(IProxyRequestContext context) {\n");
                src.Append("#line 1 \"").Append(f.Label.Replace("\"", "'")).Append("\"\n");
                src.Append(body).Append("\n#line default\n }\n}\n");
            }
            return src.Append("}\n").ToString();
        }

        /// Compiles to `output` (assembly name = its file name). The generated source holds the
        /// secret named values: it lives only until compiled, in a fresh directory beside it.
        public static void CompileToFile(List<Found> found, string output)
        {
            output = Path.GetFullPath(output);
            var dir = Path.Combine(Path.GetDirectoryName(output), "expressions-src-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            var source = Path.Combine(dir, Path.GetFileNameWithoutExtension(output) + ".cs");
            try
            {
                File.WriteAllText(source, Source(found));
                var args = new List<string>(McsFlags.Expressions);
                args.Add("-r:" + Assembly.GetExecutingAssembly().Location);
                args.Add("-out:" + output);
                args.Add(source);
                var psi = new ProcessStartInfo("mcs", string.Join(" ", args.Select(Quote)))
                { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
                var p = Process.Start(psi);
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEnd();
                if (!p.WaitForExit(300000))
                {
                    p.Kill();
                    throw new LoadError("policy expressions do not compile: mcs did not finish within 300 s");
                }
                if (p.ExitCode != 0) throw new LoadError("policy expressions do not compile:\n" + stdout.Result + stderr);
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        private static string Quote(string arg)
        {
            return arg.IndexOfAny(new[] { ' ', '"', '\'' }) < 0 ? arg : "\"" + arg.Replace("\"", "\\\"") + "\"";
        }

        /// Compiles and loads the expressions for the gateway.
        public static ExpressionSet CompileAndLoad(List<Found> found, string workDir)
        {
            var dir = Path.Combine(workDir, "expressions-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            try
            {
                var output = Path.Combine(dir, "Expressions.dll");
                CompileToFile(found, output);
                var assembly = Assembly.Load(File.ReadAllBytes(output));
                var set = new ExpressionSet();
                foreach (var f in found)
                {
                    var method = assembly.GetType("Apim.Expressions." + f.Class, true).GetMethod("Eval");
                    set.Add(f, (Func<IProxyRequestContext, object>)Delegate.CreateDelegate(typeof(Func<IProxyRequestContext, object>), method));
                }
                return set;
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
    }
}

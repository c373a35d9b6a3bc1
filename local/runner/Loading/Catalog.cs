// What the runner serves, read from infra/policies: the manifest (APIs, operations, fragments,
// named values, backends, protocol constants) and the policy documents it names, with every
// {{NamedValue}} substituted. Nothing here executes; validation is Policies/PolicyTable.cs.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Newtonsoft.Json.Linq;

namespace LocalApim.Loading
{
    public sealed class PolicyDoc
    {
        public string File;
        public readonly Dictionary<string, XElement> Sections = new Dictionary<string, XElement>();
    }

    public sealed class Operation
    {
        public string Name, Method, UrlTemplate;
        public PolicyDoc Policy; // null: <base/> in every section
    }

    public sealed class Api
    {
        public string Name, Path;
        public PolicyDoc Policy;
        public List<Operation> Operations = new List<Operation>();
    }

    /// Protocol constants the policies use (manifest.json "constants", from names.rs).
    public sealed class Constants
    {
        public string FederationAudience, StorageApiVersion, EntraAuthority;
    }

    public sealed class Catalog
    {
        public static readonly string[] SectionOrder = { "inbound", "backend", "outbound", "on-error" };

        public readonly string PoliciesDir;
        public readonly Dictionary<string, string> NamedValues;
        public readonly List<Api> Apis = new List<Api>();           // longest path first
        public readonly Dictionary<string, XElement> Fragments = new Dictionary<string, XElement>();
        public readonly List<string> BackendIds = new List<string>();
        public Constants Constants;

        private Catalog(string policiesDir, Dictionary<string, string> namedValues)
        {
            PoliciesDir = policiesDir;
            NamedValues = namedValues;
        }

        public static Catalog Load(string policiesDir, Dictionary<string, string> namedValues)
        {
            var c = new Catalog(policiesDir, namedValues);
            var manifest = JObject.Parse(File.ReadAllText(Path.Combine(policiesDir, "manifest.json")));
            foreach (var declared in (JArray)manifest["namedValues"])
            {
                if (!namedValues.ContainsKey((string)declared["name"])) throw new LoadError("named value " + (string)declared["name"] + " (manifest.json) has no local value");
            }
            c.Constants = LoadConstants(manifest);
            foreach (var b in (JArray)manifest["backends"] ?? new JArray()) c.BackendIds.Add((string)b["id"]);
            foreach (var f in (JArray)manifest["fragments"])
            {
                var root = c.LoadXml((string)f["file"]);
                if (root.Name.LocalName != "fragment") throw new LoadError((string)f["file"] + ": root element must be <fragment>");
                c.Fragments[(string)f["id"]] = root;
            }
            foreach (var a in (JArray)manifest["apis"]) c.Apis.Add(c.LoadApi(a));
            // Longest API path first, so /mcp wins over the root API.
            c.Apis.Sort((x, y) => y.Path.Length.CompareTo(x.Path.Length));
            return c;
        }

        private static Constants LoadConstants(JObject manifest)
        {
            var j = manifest["constants"] as JObject;
            if (j == null) throw new LoadError("manifest.json: \"constants\" is missing (re-render the policies)");
            Func<string, string> need = name =>
            {
                var v = (string)j[name];
                if (string.IsNullOrEmpty(v)) throw new LoadError("manifest.json: constants." + name + " is missing");
                return v;
            };
            return new Constants
            {
                FederationAudience = need("federationAudience"),
                StorageApiVersion = need("storageApiVersion"),
                EntraAuthority = need("entraAuthority"),
            };
        }

        private Api LoadApi(JToken a)
        {
            var api = new Api { Name = (string)a["name"], Path = ((string)a["path"] ?? "").Trim('/'), Policy = LoadPolicy((string)a["policy"]) };
            foreach (var o in (JArray)a["operations"])
            {
                if (o["templateParameters"] != null && ((JArray)o["templateParameters"]).Count > 0)
                    throw new LoadError("operation " + (string)o["name"] + ": URL template parameters are not implemented by the local runner");
                api.Operations.Add(new Operation
                {
                    Name = (string)o["name"],
                    Method = ((string)o["method"]).ToUpperInvariant(),
                    UrlTemplate = (string)o["urlTemplate"],
                    Policy = o["policy"] == null || o["policy"].Type == JTokenType.Null ? null : LoadPolicy((string)o["policy"]),
                });
            }
            return api;
        }

        /// Every policy document section and fragment, each once.
        public IEnumerable<XElement> Roots()
        {
            foreach (var f in Fragments.Values) yield return f;
            var seen = new HashSet<XElement>();
            foreach (var doc in Documents())
                foreach (var s in doc.Sections.Values)
                    if (seen.Add(s)) yield return s;
        }

        public IEnumerable<PolicyDoc> Documents()
        {
            foreach (var api in Apis)
            {
                yield return api.Policy;
                foreach (var op in api.Operations) if (op.Policy != null) yield return op.Policy;
            }
        }

        /// "file:line <element>", the label of every load and policy error.
        public static string Where(XElement el)
        {
            var li = (System.Xml.IXmlLineInfo)el;
            return el.Annotation<string>() + ":" + li.LineNumber + " <" + el.Name.LocalName + ">";
        }

        private XElement LoadXml(string relative)
        {
            XDocument doc;
            try
            {
                doc = XDocument.Load(Path.Combine(PoliciesDir, relative), LoadOptions.SetLineInfo);
            }
            catch (Exception e)
            {
                throw new LoadError(relative + ": not well-formed XML: " + e.Message);
            }
            foreach (var el in doc.Root.DescendantsAndSelf())
            {
                el.AddAnnotation(relative);
                foreach (var attr in el.Attributes()) attr.Value = Substitute(attr.Value, relative);
                foreach (var text in el.Nodes().OfType<XText>()) text.Value = Substitute(text.Value, relative);
            }
            return doc.Root;
        }

        public string Substitute(string value, string file)
        {
            return Regex.Replace(value, @"\{\{([A-Za-z0-9_.-]+)\}\}", m =>
            {
                string v;
                if (!NamedValues.TryGetValue(m.Groups[1].Value, out v)) throw new LoadError(file + ": named value {{" + m.Groups[1].Value + "}} is not defined");
                return v;
            });
        }

        private PolicyDoc LoadPolicy(string relative)
        {
            var root = LoadXml(relative);
            if (root.Name.LocalName != "policies") throw new LoadError(relative + ": root element must be <policies>");
            var doc = new PolicyDoc { File = relative };
            int last = -1;
            foreach (var section in root.Elements())
            {
                int i = Array.IndexOf(SectionOrder, section.Name.LocalName);
                if (i < 0) throw new LoadError(relative + ": unknown section <" + section.Name.LocalName + ">");
                if (i <= last) throw new LoadError(relative + ": sections must appear once each, in the order inbound, backend, outbound, on-error");
                last = i;
                doc.Sections[section.Name.LocalName] = section;
            }
            return doc;
        }
    }
}

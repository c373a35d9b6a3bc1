// The runner's configuration file (written by the launcher), read once at start.
using System;
using System.Collections.Generic;
using System.IO;
using Newtonsoft.Json.Linq;

namespace LocalApim
{
    public sealed class Config
    {
        public int Port;
        public string PoliciesDir, NamedValuesFile, WorkDir;
        public Dictionary<string, string> Backends = new Dictionary<string, string>();
        public Dictionary<string, string> HostMap = new Dictionary<string, string>();
        public string MiSigningKeyFile, MiIssuer, StorageAccount, StorageKey;
        public List<string> CreateContainers = new List<string>();
        public bool Verbose;

        public static Config Load(string path)
        {
            var j = JObject.Parse(File.ReadAllText(path));
            var baseDir = Path.GetDirectoryName(Path.GetFullPath(path));
            Func<string, string> abs = p => p == null ? null : Path.GetFullPath(Path.Combine(baseDir, p));
            var c = new Config
            {
                Port = (int)j["port"],
                PoliciesDir = abs((string)j["policiesDir"]),
                NamedValuesFile = abs((string)j["namedValuesFile"]),
                WorkDir = abs((string)j["workDir"]),
                MiSigningKeyFile = abs((string)j["managedIdentity"]["signingKeyFile"]),
                MiIssuer = (string)j["managedIdentity"]["issuer"],
                StorageAccount = (string)j["managedIdentity"]["storageAccount"],
                StorageKey = (string)j["managedIdentity"]["storageKey"],
                Verbose = (bool?)j["verbose"] ?? false,
            };
            foreach (var p in (JObject)j["backends"]) c.Backends[p.Key] = (string)p.Value;
            foreach (var p in (JObject)j["hostMap"] ?? new JObject()) c.HostMap[p.Key] = (string)p.Value;
            foreach (var u in (JArray)j["createContainers"] ?? new JArray()) c.CreateContainers.Add((string)u);
            return c;
        }
    }
}

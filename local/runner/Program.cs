// Local Azure API Management policy runner (docs/local-gateway.md).
//
// Loads infra/policies/manifest.json and the generated policy XML, substitutes named values,
// compiles every C# policy expression against the APIM context model (Model/, compiled into
// this program), and serves the APIs of the manifest on loopback with APIM's execution
// semantics. Any policy element it does not implement is a load-time error.
//
//   mono local-apim.exe <config.json>                      serve
//   mono local-apim.exe --compile-expressions <spec.json>  compile the expressions only (tests)
using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using LocalApim.Expressions;
using LocalApim.Loading;
using LocalApim.Pipeline;
using Newtonsoft.Json.Linq;

namespace LocalApim
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length == 2 && args[0] == "--compile-expressions") return CompileOnly(args[1]);
            if (args.Length != 1 || args[0].StartsWith("--"))
            {
                Console.Error.WriteLine("usage: mono local-apim.exe <config.json> | --compile-expressions <spec.json>");
                return 2;
            }
            Gateway gateway;
            try
            {
                gateway = Gateway.Load(Config.Load(args[0]));
                gateway.Prepare();
            }
            catch (LoadError e)
            {
                Console.Error.WriteLine("local-apim: load error: " + e.Message);
                return 3;
            }
            var listener = new TcpListener(IPAddress.Loopback, gateway.Config.Port);
            listener.Start(128);
            Console.WriteLine("local-apim: listening on " + gateway.GatewayUrl + " (" + gateway.Expressions.Count + " policy expressions compiled)");
            Console.Out.Flush();
            HttpServerLite.Serve(listener, gateway.Handle);
            return 0;
        }

        /// The expressions of a policies directory, compiled by the same code the gateway uses
        /// at start: spec {policiesDir, namedValues, out (assembly path or null)}; prints the
        /// index of the expressions (JSON) on stdout.
        private static int CompileOnly(string specFile)
        {
            try
            {
                var spec = JObject.Parse(File.ReadAllText(specFile));
                var namedValues = new System.Collections.Generic.Dictionary<string, string>();
                foreach (var p in (JObject)spec["namedValues"]) namedValues[p.Key] = (string)p.Value;
                var catalog = Catalog.Load((string)spec["policiesDir"], namedValues);
                var found = ExpressionCompiler.Find(catalog);
                var output = (string)spec["out"];
                if (output != null) ExpressionCompiler.CompileToFile(found, output);
                Console.Out.Write(ExpressionCompiler.Index(found).ToString(Newtonsoft.Json.Formatting.None));
                return 0;
            }
            catch (LoadError e)
            {
                Console.Error.WriteLine("local-apim: load error: " + e.Message);
                return 3;
            }
        }
    }
}

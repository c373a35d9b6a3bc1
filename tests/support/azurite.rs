//! A real Azurite blob service for Rust tests: started from the project's `node_modules` on a free
//! port (Azurite reports the port it bound), with its own temporary data directory; stopped on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use snippets_mcp::config::Config;
use snippets_mcp::snippets::{BlobStore, StoreLimits};
use snippets_mcp::storage::StorageClients;

/// The well-known Azurite development account (public, documented by Microsoft; not a secret).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    child: Child,
    dir: PathBuf,
    scheme: &'static str,
    pub port: u16,
}

impl Azurite {
    pub fn start() -> Azurite {
        Self::spawn(&[], "http")
    }

    /// Azurite over HTTPS with this certificate and key (PEM files).
    pub fn start_https(cert: &std::path::Path, key: &std::path::Path) -> Azurite {
        Self::spawn(&tls_args(cert, key), "https")
    }

    /// Azurite over HTTPS that also takes bearer tokens (`--oauth basic`: it checks a token's issuer,
    /// audience and lifetime, not its signature).
    pub fn start_https_oauth(cert: &std::path::Path, key: &std::path::Path) -> Azurite {
        let mut args = tls_args(cert, key);
        args.extend(["--oauth".to_string(), "basic".to_string()]);
        Self::spawn(&args, "https")
    }

    /// The blob service URL, as `AzureWebJobsStorage__blobServiceUri` names it.
    pub fn blob_endpoint(&self) -> String {
        self.blob_endpoint_via("127.0.0.1")
    }

    fn blob_endpoint_via(&self, host: &str) -> String {
        self.blob_endpoint_at(host, self.port)
    }

    fn blob_endpoint_at(&self, host: &str, port: u16) -> String {
        format!("{}://{host}:{port}/{ACCOUNT}", self.scheme)
    }

    fn spawn(extra: &[String], scheme: &'static str) -> Azurite {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let script = repo.join("node_modules/azurite/dist/src/blob/main.js");
        assert!(
            script.exists(),
            "{} is missing: run npm ci (scripts/test.sh does it)",
            script.display()
        );
        let dir = std::env::temp_dir().join(format!("rust-azurite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(&dir)
            .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // "Azurite Blob service successfully listens on http://127.0.0.1:<port>"
                if !line.contains("successfully") {
                    continue;
                }
                if let Some(rest) = line.split(&format!("{scheme}://127.0.0.1:")).nth(1) {
                    let _ = tx.send(rest.trim().parse::<u16>().ok());
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();
        let Some(port) = port else {
            // Not left running when it never reported a port.
            let _ = child.kill();
            let _ = child.wait();
            panic!("Azurite did not report its blob port within 60 s");
        };
        Azurite {
            child,
            dir,
            scheme,
            port,
        }
    }

    pub fn connection_string(&self) -> String {
        self.connection_string_via("127.0.0.1")
    }

    /// The connection string with `host` in the endpoint (a name the certificate may or may not carry).
    pub fn connection_string_via(&self, host: &str) -> String {
        self.connection_string_for(&self.blob_endpoint_via(host))
    }

    /// The connection string with the endpoint on another port of 127.0.0.1 (a proxy in front).
    pub fn connection_string_at_port(&self, port: u16) -> String {
        self.connection_string_for(&self.blob_endpoint_at("127.0.0.1", port))
    }

    fn connection_string_for(&self, endpoint: &str) -> String {
        format!(
            "DefaultEndpointsProtocol={};AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={endpoint};",
            self.scheme
        )
    }
}

fn tls_args(cert: &std::path::Path, key: &std::path::Path) -> Vec<String> {
    vec![
        "--cert".to_string(),
        cert.display().to_string(),
        "--key".to_string(),
        key.display().to_string(),
    ]
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A snippet store on the `snippets` container, configured from `AzureWebJobsStorage` as the server
/// reads it, with a 10 s call budget.
pub fn blob_store(connection_string: String) -> BlobStore {
    let env: HashMap<String, String> =
        [("AzureWebJobsStorage".to_string(), connection_string)].into();
    let config = Config::from_sources(&[], &env).expect("valid test configuration");
    let storage = config.storage.as_ref().unwrap();
    let container = StorageClients::new(storage)
        .and_then(|clients| clients.container("snippets"))
        .expect("client builds");
    let limits = StoreLimits {
        max_snippet_bytes: config.limits.max_snippet_bytes,
        call_budget: Duration::from_secs(10),
    };
    BlobStore::new(container, limits)
}

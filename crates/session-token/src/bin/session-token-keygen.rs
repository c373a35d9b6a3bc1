//! Generates a fresh pair of session token keys from the operating system's random generator.
//! Run once per azd environment by the pre-provision hook; prints env lines or `--format json`.

use anyhow::{Context as _, bail};
use session_token::{APP_SETTING_ENC_KEY, APP_SETTING_MAC_KEY, Keys};

const USAGE: &str = "usage: session-token-keygen [--format env|json]
  env  (default) prints SESSION_TOKEN_ENC_KEY=<base64> and SESSION_TOKEN_MAC_KEY=<base64>
  json prints {\"encKey\":\"<base64>\",\"macKey\":\"<base64>\"}";

#[derive(Debug, PartialEq)]
enum Format {
    Env,
    Json,
}

fn parse_args(args: &[String]) -> anyhow::Result<Option<Format>> {
    let mut format = Format::Env;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--format" => rest
                .next()
                .context("--format needs a value (env or json)")?
                .as_str(),
            other => match other.strip_prefix("--format=") {
                Some(v) => v,
                None => bail!("unknown argument {other:?}\n{USAGE}"),
            },
        };
        format = match value {
            "env" => Format::Env,
            "json" => Format::Json,
            other => bail!("unknown format {other:?} (expected env or json)"),
        };
    }
    Ok(Some(format))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(format) = parse_args(&args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let keys = Keys::generate().context("generating session token keys")?;
    let (enc, mac) = keys.to_base64();
    match format {
        Format::Env => {
            println!("{APP_SETTING_ENC_KEY}={enc}");
            println!("{APP_SETTING_MAC_KEY}={mac}");
        }
        Format::Json => println!("{}", serde_json::json!({ "encKey": enc, "macKey": mac })),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_formats() {
        assert_eq!(parse_args(&args(&[])).unwrap(), Some(Format::Env));
        assert_eq!(
            parse_args(&args(&["--format", "json"])).unwrap(),
            Some(Format::Json)
        );
        assert_eq!(
            parse_args(&args(&["--format=env"])).unwrap(),
            Some(Format::Env)
        );
        assert_eq!(parse_args(&args(&["--help"])).unwrap(), None);
        assert!(parse_args(&args(&["--format"])).is_err());
        assert!(parse_args(&args(&["--format", "yaml"])).is_err());
        assert!(parse_args(&args(&["extra"])).is_err());
    }
}

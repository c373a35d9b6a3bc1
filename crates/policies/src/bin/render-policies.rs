//! Writes the rendered APIM policies to `infra/policies/`, or with `--check` reports drift.
//! Run from anywhere: the output directory is located relative to this crate (`--dir DIR`
//! points it elsewhere, for tests).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

fn output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/policies")
}

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, dir) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => (false, output_dir()),
        ["--check"] => (true, output_dir()),
        ["--dir", dir] => (false, PathBuf::from(dir)),
        ["--check", "--dir", dir] => (true, PathBuf::from(dir)),
        _ => bail!("usage: render-policies [--check] [--dir DIR]"),
    };
    let files = policies::render_all()?;
    if check {
        let mut drifted = Vec::new();
        for file in &files {
            let on_disk = std::fs::read_to_string(dir.join(&file.path)).ok();
            if on_disk.as_deref() != Some(file.content.as_str()) {
                drifted.push(file.path.clone());
            }
        }
        let expected: std::collections::BTreeSet<_> =
            files.iter().map(|f| f.path.clone()).collect();
        for extra in committed_files(&dir)? {
            if !expected.contains(&extra) {
                drifted.push(format!("{extra} (not produced by any template)"));
            }
        }
        if drifted.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "infra/policies is out of date with crates/policies/templates; run `cargo run -p policies --bin render-policies` and commit:"
        );
        for path in drifted {
            eprintln!("  {path}");
        }
        return Ok(ExitCode::FAILURE);
    }
    for stale in committed_files(&dir)? {
        if !files.iter().any(|f| f.path == stale) {
            std::fs::remove_file(dir.join(&stale))
                .with_context(|| format!("removing stale {stale}"))?;
        }
    }
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.content)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Paths (relative, `/`-separated) of the `.xml`, `.json` and `.bicep` files already in `dir`.
fn committed_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "xml" || e == "json" || e == "bicep")
            {
                let rel = path
                    .strip_prefix(dir)?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

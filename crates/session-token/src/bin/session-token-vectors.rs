//! Prints the v1 session token test vectors (`crates/session-token/vectors/v1.json`), or with
//! `--rotation` the key-rotation vectors (`crates/session-token/vectors/rotation.json`).
//! Usage: `cargo run -q -p session-token --bin session-token-vectors > crates/session-token/vectors/v1.json`,
//! `cargo run -q -p session-token --bin session-token-vectors -- --rotation > crates/session-token/vectors/rotation.json`.

use std::io::Write as _;

fn main() -> anyhow::Result<()> {
    let text = match std::env::args().nth(1).as_deref() {
        None => session_token::vectors::generate_pretty(),
        Some("--rotation") => session_token::rotation_vectors::generate_pretty(),
        Some(other) => anyhow::bail!("unknown argument `{other}`; expected none or --rotation"),
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

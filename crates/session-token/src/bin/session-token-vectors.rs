//! Prints the v1 session token test vectors (`crates/session-token/vectors/v1.json`).
//! Usage: `cargo run -q -p session-token --bin session-token-vectors > crates/session-token/vectors/v1.json`.

use std::io::Write as _;

fn main() -> anyhow::Result<()> {
    std::io::stdout().write_all(session_token::vectors::generate_pretty().as_bytes())?;
    Ok(())
}

//! Session token format shared by the APIM policies (C#) and the Rust server.
//! Placeholder: implemented in its own change.

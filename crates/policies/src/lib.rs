//! APIM policy XML rendered from templates.
//! Placeholder: implemented in its own change.

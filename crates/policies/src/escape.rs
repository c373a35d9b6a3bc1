//! Turns templates written with raw C# policy expressions into strict, well-formed XML.
//! Expressions (`@(...)`, `@{...}`) are located with a small C# lexer and XML-escaped in place.

use thiserror::Error;

/// Why an expression could not be delimited.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EscapeError {
    /// The expression starting at this line never closes.
    #[error("line {line}: policy expression never closes")]
    Unterminated {
        /// 1-based line of the expression start.
        line: usize,
    },
    /// XML turns newlines in attribute values into spaces, so a `//` comment would swallow
    /// the rest of the expression; attribute expressions must use `/* */` comments.
    #[error("line {line}: `//` comment inside an attribute expression; use /* */")]
    LineCommentInAttribute {
        /// 1-based line of the comment.
        line: usize,
    },
    /// Interpolated strings (`$"..."`) nest braces inside strings; they are not supported.
    #[error("line {line}: interpolated strings ($\"...\") are not supported in policy expressions")]
    Interpolated {
        /// 1-based line of the interpolated string.
        line: usize,
    },
}

/// Escapes every policy expression in `raw`. An expression starts at `@(` or `@{` when the
/// previous non-whitespace character is `"` (attribute value) or `>` (element text), which is
/// where APIM accepts them; everything else is copied unchanged.
pub fn escape_expressions(raw: &str) -> Result<String, EscapeError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + raw.len() / 8);
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'@'
            && (bytes[i + 1] == b'(' || bytes[i + 1] == b'{')
            && starts_value(bytes, i)
        {
            let in_attribute = previous_non_space(bytes, i) == Some(b'"');
            let end = expression_end(raw, i + 1, in_attribute)?;
            out.push_str(&raw[copied..i]);
            xml_escape_into(&raw[i..end], &mut out);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&raw[copied..]);
    Ok(out)
}

fn previous_non_space(bytes: &[u8], at: usize) -> Option<u8> {
    bytes[..at]
        .iter()
        .rev()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
}

fn starts_value(bytes: &[u8], at: usize) -> bool {
    matches!(previous_non_space(bytes, at), Some(b'"' | b'>'))
}

fn line_of(raw: &str, at: usize) -> usize {
    raw[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Returns the byte index just past the bracket closing the one at `open`.
fn expression_end(raw: &str, open: usize, in_attribute: bool) -> Result<usize, EscapeError> {
    let bytes = raw.as_bytes();
    let (opener, closer) = if bytes[open] == b'(' {
        (b'(', b')')
    } else {
        (b'{', b'}')
    };
    let unterminated = || EscapeError::Unterminated {
        line: line_of(raw, open),
    };
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'"') || bytes.get(i + 1) == Some(&b'@') => {
                return Err(EscapeError::Interpolated {
                    line: line_of(raw, i),
                });
            }
            b'@' if bytes.get(i + 1) == Some(&b'"') => {
                // Verbatim string: only `""` escapes a quote.
                i += 2;
                loop {
                    match bytes.get(i) {
                        None => return Err(unterminated()),
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(unterminated()),
                        Some(b'\\') => i += 2,
                        Some(&c) if c == q => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                if in_attribute {
                    return Err(EscapeError::LineCommentInAttribute {
                        line: line_of(raw, i),
                    });
                }
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = raw[i + 2..]
                    .find("*/")
                    .map(|p| i + 2 + p + 1)
                    .ok_or_else(unterminated)?;
            }
            c if c == opener => depth += 1,
            c if c == closer => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(unterminated())
}

fn xml_escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_expression_is_escaped_and_ends_at_its_bracket() {
        let raw = r#"<when condition="@(a < 1 && b == "x")" other="a"/>"#;
        assert_eq!(
            escape_expressions(raw).unwrap(),
            r#"<when condition="@(a &lt; 1 &amp;&amp; b == &quot;x&quot;)" other="a"/>"#
        );
    }

    #[test]
    fn brackets_inside_strings_chars_and_comments_do_not_count() {
        let raw = "<set-body>@{\n  var s = \")}\"; var c = '}'; // }\n  /* } */ var v = @\"a\"\"}\"; return s;\n}</set-body>";
        let escaped = escape_expressions(raw).unwrap();
        assert!(escaped.ends_with("return s;\n}</set-body>"), "{escaped}");
        assert!(escaped.contains("var c = '}'"));
        assert!(escaped.contains("@&quot;a&quot;&quot;}&quot;"));
    }

    #[test]
    fn at_sign_outside_a_value_start_is_left_alone() {
        let raw = r#"<value>mail me @(not an expression)</value>"#;
        assert_eq!(escape_expressions(raw).unwrap(), raw);
    }

    #[test]
    fn text_expression_after_whitespace_is_escaped() {
        let raw = "<value>\n   @(x > 1)\n</value>";
        assert_eq!(
            escape_expressions(raw).unwrap(),
            "<value>\n   @(x &gt; 1)\n</value>"
        );
    }

    #[test]
    fn line_comments_are_rejected_in_attributes_only() {
        assert_eq!(
            escape_expressions("<a b=\"@{\n // no\n return 1; }\"/>"),
            Err(EscapeError::LineCommentInAttribute { line: 2 })
        );
        assert!(escape_expressions("<a>@{\n // fine in text\n return 1; }</a>").is_ok());
    }

    #[test]
    fn unterminated_and_interpolated_expressions_are_errors() {
        assert_eq!(
            escape_expressions("<a b=\"@(x\"/>"),
            Err(EscapeError::Unterminated { line: 1 })
        );
        assert_eq!(
            escape_expressions("<a>\n@($\"{x}\")</a>"),
            Err(EscapeError::Interpolated { line: 2 })
        );
    }
}

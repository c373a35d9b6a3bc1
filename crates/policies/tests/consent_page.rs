//! The consent page as rendered: what has to hold before any browser loads it. A placeholder
//! without a value would make the policy throw at run time (a 500 instead of the page), an
//! Allow button live from the first paint or a script without the nonce would undo the
//! double-click defence, and a refusal placed after the request is consumed would no longer
//! be free of side effects.

use policies::names;
use policies::render_policy;
use policies::templates::path;

/// A rendered policy with XML's entities turned back into text, so that the C# and the page
/// read as written in the templates (the page's quotes stay doubled: a verbatim string).
fn rendered(policy: &str) -> String {
    render_policy(policy)
        .unwrap()
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn consent_get() -> String {
    rendered(path::CONSENT_GET)
}

/// The distinct `%%NAME%%` placeholders of `text`.
fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = text
        .split("%%")
        .skip(1)
        .step_by(2)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_placeholder_of_each_page_has_a_value() {
    let xml = consent_get();
    // Each page (a verbatim string) is followed by its own Regex.Replace; the values are the
    // dictionary built just before it.
    for page_start in ["<title>Remembered approvals", "<title>Allow access"] {
        let at = xml.find(page_start).expect(page_start);
        let page_end = at + xml[at..].find("</html>").expect("end of page");
        let values_start = xml[..at]
            .rfind("new Dictionary")
            .expect("values of the page");
        let values = &xml[values_start..at];
        let used = placeholders(&xml[at..page_end]);
        assert!(!used.is_empty());
        for name in used {
            assert!(
                values.contains(&format!("{{ \"{name}\",")),
                "{name} has no value for {page_start}"
            );
        }
    }
}

#[test]
fn allow_starts_disabled_and_the_only_script_carries_the_nonce() {
    let xml = consent_get();
    assert!(xml.contains(
        r#"id=""allow"" type=""submit"" name=""decision"" value=""approve"" disabled>Allow"#
    ));
    assert_eq!(xml.matches("<script").count(), 1);
    assert!(xml.contains(r#"<script nonce=""%%NONCE%%"">"#));
    assert!(xml.contains(&format!("var dwell = {};", names::CONSENT_DWELL_MS)));
    let lower = xml.to_ascii_lowercase();
    for handler in [
        " onclick=",
        " onload=",
        " onmousedown=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!lower.contains(handler), "{handler}");
    }
}

#[test]
fn content_security_policy_admits_the_nonce_and_limits_forms() {
    let xml = consent_get();
    let csp: Vec<&str> = xml
        .split("<set-header name=\"Content-Security-Policy\" exists-action=\"override\">")
        .skip(1)
        .map(|rest| &rest[..rest.find("</value>").unwrap()])
        .collect();
    assert_eq!(csp.len(), 2, "the consent page and the forget page");
    for value in &csp {
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(value.contains(directive), "{directive} missing in {value}");
        }
    }
    assert!(csp[1].contains(r#"script-src 'nonce-" + (string)context.Variables["cspNonce"]"#));
    assert!(csp[1].contains(&format!(
        r#"form-action 'self' {} " + (string)context.Variables["redirectSource"]"#,
        names::ENTRA_AUTHORITY
    )));
}

#[test]
fn consent_post_refuses_before_it_consumes_anything() {
    let xml = rendered(path::CONSENT_POST);
    let consumed = xml
        .find("<cache-remove-value")
        .expect("the request is used once");
    for refusal in ["csrfValid", "bindingValid", "tooFast"] {
        let checked = xml
            .find(&format!("GetValueOrDefault<bool>(\"{refusal}\""))
            .expect(refusal);
        assert!(
            checked < consumed,
            "{refusal} is checked after the request is consumed"
        );
    }
    assert!(xml.contains(&format!("now - shownAt < {}", names::CONSENT_DWELL_MS)));
    assert!(xml.contains(&names::CONSENT_REMOTE_TTL_SECS.to_string()));
}

#[test]
fn binding_cookie_is_host_only_secure_http_only_and_lax() {
    let xml = rendered(path::AUTHORIZE);
    let set = xml
        .find(&format!("{}=\" + ", names::COOKIE_CONSENT_BINDING))
        .expect("authorize sets the binding cookie");
    let value = &xml[set..set + xml[set..].find("</value>").unwrap()];
    assert!(names::COOKIE_CONSENT_BINDING.starts_with("__Host-"));
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        &format!("Max-Age={}", names::AUTH_REQUEST_TTL_SECS),
    ] {
        assert!(value.contains(attribute), "{attribute} missing in {value}");
    }
    assert!(!value.contains("Domain="));
}

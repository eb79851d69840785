//! The base URL: parsed once into the `.../calls` endpoint, https unless
//! the host is loopback (the key must not travel in clear text, but the
//! sandbox on 127.0.0.1 needs no certificate), `/v1` added to a bare host,
//! credentials in the URL refused. A URL shown anywhere ([`shown_url`]: an
//! error, a finding, the dry run) is masked first: someone may have pasted
//! the key into it, as user, password, path segment or query.

use super::ApiError;

/// Resolves the base URL: parsed, https unless loopback, `/v1` added to a
/// bare host. Returns the `.../calls` endpoint.
pub fn calls_url(base_url: &str) -> Result<reqwest::Url, ApiError> {
    let bad = |reason: String| ApiError::BadUrl {
        url: shown_url(base_url),
        reason,
    };
    let mut url = reqwest::Url::parse(base_url.trim()).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(ApiError::Insecure {
                url: shown_url(base_url),
            });
        }
        other => return Err(bad(format!("scheme `{other}` is not http(s)"))),
    }
    if url.host().is_none() {
        return Err(bad("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the URL are not allowed: the key comes from the environment".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.is_empty() { "/v1".into() } else { path };
    url.set_path(&format!("{path}/calls"));
    Ok(url)
}

/// A base URL as messages may show it: user, password and query masked,
/// and every path segment that does not look like a plain word (`v1`,
/// `dialnexa`: at most 16 lowercase letters, digits, `.` or `-`), since
/// someone may have pasted the key there; an unparseable one is not shown
/// at all when it holds `@`, `?` or `#`. Registered secrets are masked on
/// top ([`crate::redact`]).
pub fn shown_url(raw: &str) -> String {
    crate::redact::mask(&unmasked_shown_url(raw)).into_owned()
}

/// A path segment shown as it is: short, and plainly not a key.
fn plain_segment(s: &str) -> bool {
    s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

fn unmasked_shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut url) => {
            if !url.username().is_empty() || url.password().is_some() {
                let _ = url.set_username("***");
                let _ = url.set_password(None);
            }
            if url.query().is_some() {
                url.set_query(Some("***"));
            }
            url.set_fragment(None);
            if !url.cannot_be_a_base() {
                let path: Vec<&str> = url
                    .path()
                    .split('/')
                    .map(|s| if plain_segment(s) { s } else { "***" })
                    .collect();
                url.set_path(&path.join("/"));
            } else if !url.path().is_empty() {
                url.set_path("***");
            }
            url.to_string()
        }
        Err(_) if raw.contains(['@', '?', '#']) => {
            "(not shown: it holds `@`, `?` or `#`, where a secret may hide)".to_string()
        }
        Err(_) => raw.chars().take(100).filter(|c| !c.is_control()).collect(),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            calls_url("https://api.dialnexa.com/v1").unwrap().as_str(),
            "https://api.dialnexa.com/v1/calls"
        );
        assert_eq!(
            calls_url("https://api.dialnexa.com/v1/").unwrap().as_str(),
            "https://api.dialnexa.com/v1/calls"
        );
        assert_eq!(
            calls_url("http://127.0.0.1:8787").unwrap().as_str(),
            "http://127.0.0.1:8787/v1/calls"
        );
        assert!(calls_url("http://localhost:1/v1").is_ok());
        assert!(calls_url("http://[::1]:1/v1").is_ok());
        assert!(matches!(
            calls_url("http://api.dialnexa.com/v1"),
            Err(ApiError::Insecure { .. })
        ));
        assert!(matches!(
            calls_url("http://127.0.0.1.evil.com/v1"),
            Err(ApiError::Insecure { .. })
        ));
        assert!(matches!(
            calls_url("ftp://x/v1"),
            Err(ApiError::BadUrl { .. })
        ));
        assert!(matches!(
            calls_url("not a url"),
            Err(ApiError::BadUrl { .. })
        ));
        assert!(matches!(
            calls_url("https://user:pw@api.dialnexa.com/v1"),
            Err(ApiError::BadUrl { .. })
        ));
    }

    #[test]
    fn url_errors_never_echo_a_key_pasted_into_the_url() {
        for raw in [
            "https://user:sk_SECRET@api.dialnexa.com/v1",
            "http://sk_SECRET@api.dialnexa.com/v1",
            "http://api.dialnexa.com/v1?api_key=sk_SECRET",
            "not a url?api_key=sk_SECRET",
            "ftp://x/v1?key=sk_SECRET",
            "bad url user:sk_SECRET@host",
        ] {
            let err = calls_url(raw).expect_err(raw).to_string();
            assert!(!err.contains("sk_SECRET"), "{raw}: {err}");
        }
    }

    #[test]
    fn a_shown_url_masks_a_key_pasted_anywhere() {
        for raw in [
            "ftp://sk_SECRET@127.0.0.1/v1",
            "http://127.0.0.1:1/sk_SECRET/v1",
            "https://api.dialnexa.com/v1?key=sk_SECRET",
            "https://user:sk_SECRET@api.dialnexa.com/v1#sk_SECRET",
            "mailto:sk_SECRET",
        ] {
            let shown = shown_url(raw);
            assert!(!shown.contains("sk_SECRET"), "{raw}: {shown}");
        }
        assert_eq!(
            shown_url("http://127.0.0.1:1/sk_SECRET/v1"),
            "http://127.0.0.1:1/***/v1"
        );
        assert_eq!(
            shown_url("https://proxy.example.com/dialnexa/v1/"),
            "https://proxy.example.com/dialnexa/v1/"
        );
        crate::redact::register("plainkey42");
        assert_eq!(shown_url("plainkey42 is not a url"), "*** is not a url");
    }
}

//! The transport rule for every outbound connection: TLS (rustls), except to this machine.
//! Plain `http` or `ws` is accepted only to a loopback host, where nothing crosses a
//! network (tests, a local model server, a sidecar).

use std::net::IpAddr;

/// Whether `host` (a name, or an IP address with or without IPv6 brackets) is this machine:
/// `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `Ok` when a connection to `url` is encrypted (`https`, `wss`) or stays on this machine
/// (`http`, `ws` to a loopback host); otherwise why not, fit for an error naming the key.
/// The reason never quotes the URL (it may hold a token).
pub fn require_tls(url: &str) -> Result<(), String> {
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|err| format!("not a valid URL: {err}"))?;
    match parsed.scheme() {
        "https" | "wss" => Ok(()),
        "http" | "ws" if parsed.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" | "ws" => Err(format!(
            "plain `{}` is allowed only to this machine (localhost); use `{}s` so the connection is encrypted",
            parsed.scheme(),
            parsed.scheme()
        )),
        other => Err(format!("scheme `{other}` is not allowed (use https)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_reached_without_tls() {
        assert!(require_tls("https://api.telegram.org/").is_ok());
        assert!(require_tls("wss://gateway.discord.gg").is_ok());
        assert!(require_tls("http://127.0.0.1:8080/x").is_ok());
        assert!(require_tls("http://127.9.9.9/").is_ok());
        assert!(require_tls("ws://[::1]:9000/").is_ok());
        assert!(require_tls("http://LOCALHOST:11434/v1/").is_ok());
        let err = require_tls("http://api.example.com/?token=s3cret").unwrap_err();
        assert!(err.contains("use `https`"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        assert!(require_tls("http://10.0.0.1/").is_err());
        assert!(require_tls("http://127.0.0.1.evil.example/").is_err());
        assert!(require_tls("ftp://127.0.0.1/").is_err());
        assert!(require_tls("not a url").is_err());
    }
}

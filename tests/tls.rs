//! The reference server over HTTPS: started as an operator starts it, with
//! a certificate and key, and spoken to through a TLS client that trusts
//! only that certificate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

mod support;

use support::{free_port, reference_server};

/// One HTTP/1.1 request over TLS; the answer's head and body as text.
fn get(config: &Arc<ClientConfig>, addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let name = ServerName::try_from("localhost").unwrap();
    let connection = ClientConnection::new(Arc::clone(config), name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = StreamOwned::new(connection, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    match tls.read_to_end(&mut answer) {
        Ok(_) => {}
        // Some servers end without close_notify; what came is the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e),
    }
    Ok(String::from_utf8_lossy(&answer).to_lowercase())
}

#[test]
fn the_reference_server_speaks_https_with_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (cert_arg, key_arg) = (cert.to_string_lossy(), key.to_string_lossy());
    let _server = reference_server(
        dir.path(),
        addr,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(generated.cert.der().to_vec()))
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let started = Instant::now();
    let health = loop {
        match get(&config, addr, "/healthz") {
            Ok(answer) => break answer,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no HTTPS answer: {e}"),
        }
    };
    assert!(health.starts_with("http/1.1 200"), "{health}");
    assert!(
        health.contains("strict-transport-security: max-age=31536000"),
        "{health}"
    );
    let sign_in = get(&config, addr, "/sign-in").unwrap();
    let cookie = sign_in
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("the sign-in form sets its cookie");
    assert!(cookie.contains("; secure"), "{cookie}");

    // Plain HTTP on the HTTPS port gets no answer of the API.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
}

//! The cluster client against a fake dashboard on a local port (no Ray):
//! the token goes as a header and never on a command line, and answers
//! are capped before they are read.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use common::TestEnv;

/// Serve one request with `body` as a 200 JSON answer; the request's head back.
fn serve_once(body: Vec<u8>) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&body);
        let _ = reader.read(&mut [0u8; 1]);
        head
    });
    (port, handle)
}

#[test]
fn the_token_goes_as_a_bearer_header_from_the_environment() {
    let env = TestEnv::new("");
    let (port, server) = serve_once(b"[]".to_vec());
    let address = format!("ray://127.0.0.1:{port}");
    let out = env
        .cmd()
        .args(["--json", "--cluster", &address, "ps"])
        .env("SANDBOX_TUI_RAY_TOKEN", "s3cret-token")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let head = server.join().expect("server");
    assert!(head.starts_with("GET /api/jobs/ HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer s3cret-token\r\n"),
        "{head}"
    );
}

#[test]
fn an_answer_larger_than_the_cap_is_refused_not_read() {
    let env = TestEnv::new("");
    // A job listing over the 16 MiB a record or listing may take.
    let mut body = b"[".to_vec();
    body.resize(17 << 20, b' ');
    body.push(b']');
    let (port, server) = serve_once(body);
    let address = format!("ray://127.0.0.1:{port}");
    let (answer, code) = env.json(&["--cluster", &address, "ps"]);
    assert_eq!(code, 125, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("127.0.0.1")),
        "{answer}"
    );
    let _ = server.join();
}

#[test]
fn https_and_foreign_verbs_are_refused_with_why() {
    let env = TestEnv::new("");
    let (answer, code) = env.json(&["--cluster", "https://head:8265", "ps"]);
    assert_eq!(code, 125);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("https")),
        "{answer}"
    );
    let (answer, code) = env.json(&["--cluster", "ray://head:8265", "ls"]);
    assert_eq!(code, 125);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("--cluster works with")),
        "{answer}"
    );
    let (answer, code) = env.json(&["run", "--detach", "--", "true"]);
    assert_eq!(code, 125);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("--cluster")),
        "{answer}"
    );
}

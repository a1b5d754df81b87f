//! `allowed_hosts`: the sandbox reaches listed hosts through the proxy and
//! nothing else. Everything happens on loopback: two tiny HTTP servers on
//! the host's 127.0.0.1, one listed and one not.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{http_server, pids_with_cmdline, poll, require_root, TestEnv};

struct Net {
    env: TestEnv,
    listed: u16,
    unlisted: u16,
}

/// The network profile `net`: the listed server by address and port, and
/// `rebind.test` (any port), which the hosts file maps to 127.0.0.1.
fn setup() -> Option<Net> {
    if !require_root() {
        return None;
    }
    for tool in ["curl", "python3", "bash"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            assert!(!common::isolation_required(), "{tool} is missing");
            eprintln!("skipped: {tool} is missing");
            return None;
        }
    }
    let listed = http_server("listed");
    let unlisted = http_server("unlisted");
    let env = TestEnv::new(&format!(
        "[profiles.net]\nallowed_hosts = [\"127.0.0.1:{listed}\", \"rebind.test\"]\ntimeout_seconds = 30\n"
    ));
    let hosts = env.dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 rebind.test\n").expect("write hosts file");
    let config = std::fs::read_to_string(&env.config).expect("read config");
    let config = config.replacen(
        "[settings]\n",
        &format!("[settings]\nhosts_file = \"{}\"\n", hosts.display()),
        1,
    );
    std::fs::write(&env.config, config).expect("write config");
    Some(Net {
        env,
        listed,
        unlisted,
    })
}

impl Net {
    /// `run -p net --json -- sh -c SCRIPT`: (stdout, result).
    fn sh(&self, script: &str) -> (String, serde_json::Value) {
        let (result, _) = self
            .env
            .json(&["run", "-p", "net", "--", "sh", "-c", script]);
        let stdout = result["stdout"].as_str().unwrap_or_default().to_string();
        (stdout, result)
    }
}

fn refusals(result: &serde_json::Value) -> Vec<(String, u64, String)> {
    result["network_refusals"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| {
                    assert!(r["time_ms"].as_i64().is_some_and(|t| t > 0), "{r}");
                    (
                        r["host"].as_str().unwrap_or_default().to_string(),
                        r["port"].as_u64().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn curl_reaches_the_listed_server_only() {
    let Some(net) = setup() else { return };
    let (out, result) = net.sh(&format!(
        "curl -sSf -m 10 http://127.0.0.1:{}/; echo \" rc=$?\"; \
         curl -sSf -m 10 http://127.0.0.1:{}/; echo \" rc=$?\"",
        net.listed, net.unlisted
    ));
    assert_eq!(out, "listed rc=0\n rc=22\n", "{result}");
    assert!(
        result["stderr"].as_str().unwrap_or("").contains("403"),
        "{result}"
    );
    let got = refusals(&result);
    assert_eq!(got.len(), 1, "{result}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1),
        ("127.0.0.1", net.unlisted.into())
    );
    assert!(got[0].2.contains("not in allowed_hosts"), "{got:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn python_urllib_honours_the_proxy() {
    let Some(net) = setup() else { return };
    let script = format!(
        "python3 -c '
import urllib.request, urllib.error
for port in ({}, {}):
    try:
        print(urllib.request.urlopen(\"http://127.0.0.1:%d/\" % port, timeout=10).read().decode())
    except urllib.error.HTTPError as e:
        print(\"refused\", e.code)
'",
        net.listed, net.unlisted
    );
    let (out, result) = net.sh(&script);
    assert_eq!(out, "listed\nrefused 403\n", "{result}");
    assert_eq!(refusals(&result).len(), 1, "{result}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn without_the_proxy_there_is_no_network() {
    let Some(net) = setup() else { return };
    let (out, result) = net.sh(&format!(
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{0}' 2>/dev/null; echo \"raw=$?\"; \
         curl -s -m 10 --noproxy '*' http://127.0.0.1:{0}/; echo \"noproxy=$?\"; \
         bash -c 'exec 3<>/dev/tcp/127.0.0.1/3128 && echo bridge-open'",
        net.listed
    ));
    // curl 7: could not connect. The bridge port itself is the one way out.
    assert_eq!(out, "raw=1\nnoproxy=7\nbridge-open\n", "{result}");
    assert_eq!(result["status"], "completed", "{result}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn connect_tunnels_and_socks5() {
    let Some(net) = setup() else { return };
    let (out, result) = net.sh(&format!(
        "curl -sSf -m 10 -p http://127.0.0.1:{0}/; echo \" tunnel=$?\"; \
         curl -sSf -m 10 -p http://127.0.0.1:{1}/ 2>/dev/null; echo \" tunnel-unlisted=$?\"; \
         curl -sSf -m 10 --socks5-hostname 127.0.0.1:3128 http://127.0.0.1:{0}/; echo \" socks=$?\"; \
         curl -sSf -m 10 --socks5-hostname 127.0.0.1:3128 http://127.0.0.1:{1}/ 2>/dev/null; echo \" socks-unlisted=$?\"",
        net.listed, net.unlisted
    ));
    // A refused CONNECT is curl's 56 or, with -f, 22 depending on its
    // version; 97: the SOCKS5 server refused.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{result}");
    assert_eq!(lines[0], "listed tunnel=0", "{result}");
    assert!(
        matches!(lines[1], " tunnel-unlisted=56" | " tunnel-unlisted=22"),
        "{result}"
    );
    assert_eq!(
        lines[2..],
        ["listed socks=0", " socks-unlisted=97"],
        "{result}"
    );
    let got = refusals(&result);
    assert_eq!(got.len(), 2, "{result}");
    assert!(
        got.iter().all(|r| r.1 == u64::from(net.unlisted)),
        "{got:?}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn dns_rebinding_to_an_unlisted_private_address_is_refused() {
    let Some(net) = setup() else { return };
    // rebind.test is listed for any port and maps to 127.0.0.1: only the
    // listed 127.0.0.1:LISTED may be reached through it.
    let (out, result) = net.sh(&format!(
        "curl -sSf -m 10 http://rebind.test:{}/ 2>/dev/null; echo \" rc=$?\"; \
         curl -sSf -m 10 http://rebind.test:{}/; echo \" rc=$?\"",
        net.unlisted, net.listed
    ));
    assert_eq!(out, " rc=22\nlisted rc=0\n", "{result}");
    let got = refusals(&result);
    assert_eq!(got.len(), 1, "{result}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1),
        ("rebind.test", net.unlisted.into())
    );
    assert!(got[0].2.contains("rebinding"), "{got:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn refusals_are_in_the_execution_record_and_nothing_outlives_it() {
    let Some(net) = setup() else { return };
    let (sandbox, code) = net.env.json(&["create", "netbox", "-p", "net"]);
    assert_eq!(code, 0, "{sandbox}");
    let (result, code) = net.env.json(&[
        "exec",
        "netbox",
        "--",
        "sh",
        "-c",
        &format!(
            "curl -s -m 10 http://127.0.0.1:{}/ >/dev/null; curl -s -m 10 http://10.9.8.7/ >/dev/null; true",
            net.unlisted
        ),
    ]);
    assert_eq!(code, 0, "{result}");
    let (records, code) = net.env.json(&["ps", "netbox"]);
    assert_eq!(code, 0, "{records}");
    let record = &records[0];
    let got = refusals(&record["result"]);
    let hosts: Vec<(&str, u64)> = got.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        hosts,
        vec![("127.0.0.1", u64::from(net.unlisted)), ("10.9.8.7", 80)],
        "{record}"
    );

    // The proxy helper's command line names its log under the state
    // directory: once the execution is over, no such process is left, and
    // its files are gone.
    let jobs = net.env.state_dir.join("jobs");
    let needle = jobs.display().to_string();
    poll("the proxy to end", Duration::from_secs(5), || {
        pids_with_cmdline(&needle).is_empty().then_some(())
    });
    let leftovers: Vec<_> = std::fs::read_dir(&jobs)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn allow_network_with_allowed_hosts_is_a_config_error() {
    let Some(net) = setup() else { return };
    let bad = net.env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[profiles.x]\nallow_network = true\nallowed_hosts = [\"pypi.org\", \"http://x\"]\n",
    )
    .expect("write");
    let out = std::process::Command::new(common::BIN)
        .args(["--json", "--config"])
        .arg(&bad)
        .args(["profiles", "--check"])
        .output()
        .expect("run");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("profiles --check JSON");
    let keys: Vec<&str> = report["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|d| d["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec!["profiles.x.allowed_hosts[1]"], "{report}");
}

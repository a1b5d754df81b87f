//! A Ray cluster through its dashboard's REST API (the Job Submission API
//! and the node summary), over plain HTTP with `ureq`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Largest answer read from the cluster for a record or a listing.
const MAX_RECORD_BYTES: u64 = 16 << 20;

/// Largest job log read: the result object of `run --json` (capped output
/// streams and a Python value, at most `max_result_mb`) fits well inside.
pub const MAX_LOG_BYTES: u64 = 256 << 20;

/// Per request; the cluster answers these from memory.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster address '{0}': expected ray://HOST:PORT or http://HOST:PORT (the dashboard's port, 8265 by default)")]
    Address(String),
    #[error("cluster address '{0}': https is not supported by this build; reach the dashboard over a private network or an SSH tunnel (docs/ray.md)")]
    Https(String),
    #[error("the cluster at {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("the cluster at {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the cluster at {url} sent what is not its API's JSON: {message}")]
    Answer { url: String, message: String },
    #[error("no job {0} on the cluster")]
    NotFound(String),
    #[error("{0}")]
    Job(String),
}

/// A job as the cluster describes it (the fields this tool reads).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobInfo {
    #[serde(default)]
    pub submission_id: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub entrypoint: String,
    #[serde(default)]
    pub message: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub start_time: Option<u64>,
    #[serde(default)]
    pub end_time: Option<u64>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub driver_exit_code: Option<i32>,
    #[serde(default)]
    pub driver_node_id: Option<String>,
}

impl JobInfo {
    pub fn metadata_field(&self, key: &str) -> String {
        self.metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether this tool submitted it.
    pub fn is_ours(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.contains_key("sandbox_tui"))
    }

    pub fn duration_ms(&self) -> u64 {
        match (self.start_time, self.end_time) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => 0,
        }
    }
}

/// A node of the cluster, from the dashboard's node summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    pub ip: String,
    pub state: String,
    pub is_head: bool,
    /// CPUs the cluster schedules on it (its `CPU` resource).
    pub cpus: f64,
    pub gpus: f64,
    /// The machine's CPU use, percent.
    pub cpu_percent: f64,
    pub mem_total: u64,
    pub mem_used: u64,
}

/// What is submitted: the entrypoint and what the cluster reserves for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    pub submission_id: String,
    pub entrypoint: String,
    pub env: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub num_cpus: f64,
    pub num_gpus: u32,
    /// Bytes; 0 reserves nothing.
    pub memory: u64,
}

/// A client of one cluster's dashboard.
#[derive(Debug, Clone)]
pub struct RayClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl RayClient {
    /// `ray://HOST:PORT` or `http://HOST:PORT` (the dashboard); the token,
    /// if any, goes with every request as `Authorization: Bearer`.
    pub fn new(address: &str, token: Option<String>) -> Result<RayClient, ClusterError> {
        let rest = if let Some(rest) = address.strip_prefix("ray://") {
            rest
        } else if let Some(rest) = address.strip_prefix("http://") {
            rest
        } else if address.starts_with("https://") {
            return Err(ClusterError::Https(address.to_owned()));
        } else {
            return Err(ClusterError::Address(address.to_owned()));
        };
        let rest = rest.trim_end_matches('/');
        let valid = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
        if rest.is_empty() || !rest.chars().all(valid) {
            return Err(ClusterError::Address(address.to_owned()));
        }
        let host = if rest.contains(':') && !rest.ends_with(']') {
            rest.to_owned()
        } else {
            format!("{rest}:8265")
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build();
        Ok(RayClient {
            base: format!("http://{host}"),
            token: token.filter(|t| !t.is_empty()),
            agent: config.into(),
        })
    }

    /// The dashboard's address, as shown to a user.
    pub fn address(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        limit: u64,
    ) -> Result<(u16, String), ClusterError> {
        let url = format!("{}{path}", self.base);
        let http = |source| ClusterError::Http {
            url: self.base.clone(),
            source: Box::new(source),
        };
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut response = match (method, body) {
            ("POST", body) => {
                let mut req = self.agent.post(&url);
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth);
                }
                req.content_type("application/json")
                    .send(body.unwrap_or_else(|| "{}".to_owned()))
            }
            ("DELETE", _) => {
                let mut req = self.agent.delete(&url);
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth);
                }
                req.call()
            }
            _ => {
                let mut req = self.agent.get(&url);
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth);
                }
                req.call()
            }
        }
        .map_err(http)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_string()
            .map_err(http)?;
        Ok((status, text))
    }

    /// A JSON answer with a 2xx status; `None` for 404.
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        limit: u64,
    ) -> Result<Option<T>, ClusterError> {
        let (status, text) = self.request(method, path, body, limit)?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let mut body: String = text.chars().take(500).collect();
            body = body.trim().to_owned();
            return Err(ClusterError::Status {
                url: self.base.clone(),
                status,
                body,
            });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ClusterError::Answer {
                url: self.base.clone(),
                message: e.to_string(),
            })
    }

    /// Submit a job; its submission id back.
    pub fn submit(&self, job: &Submission) -> Result<String, ClusterError> {
        let mut body = serde_json::json!({
            "entrypoint": job.entrypoint,
            "submission_id": job.submission_id,
            "metadata": job.metadata,
            "runtime_env": { "env_vars": job.env },
            "entrypoint_num_cpus": job.num_cpus,
            "entrypoint_num_gpus": job.num_gpus,
        });
        if job.memory > 0 {
            body["entrypoint_memory"] = job.memory.into();
        }
        #[derive(Deserialize)]
        struct Submitted {
            submission_id: String,
        }
        let answer: Option<Submitted> = self.json(
            "POST",
            "/api/jobs/",
            Some(body.to_string()),
            MAX_RECORD_BYTES,
        )?;
        answer
            .map(|a| a.submission_id)
            .ok_or_else(|| ClusterError::Answer {
                url: self.base.clone(),
                message: "no job submission API at this address (is it the dashboard's port?)"
                    .into(),
            })
    }

    pub fn job(&self, id: &str) -> Result<JobInfo, ClusterError> {
        self.json(
            "GET",
            &format!("/api/jobs/{}", path_segment(id)?),
            None,
            MAX_RECORD_BYTES,
        )?
        .ok_or_else(|| ClusterError::NotFound(id.to_owned()))
    }

    /// Every job the cluster keeps, ours and others'.
    pub fn jobs(&self) -> Result<Vec<JobInfo>, ClusterError> {
        Ok(self
            .json("GET", "/api/jobs/", None, MAX_RECORD_BYTES)?
            .unwrap_or_default())
    }

    /// The job's log (the entrypoint's stdout and stderr), at most [`MAX_LOG_BYTES`].
    pub fn logs(&self, id: &str) -> Result<String, ClusterError> {
        #[derive(Deserialize)]
        struct Logs {
            logs: String,
        }
        let logs: Option<Logs> = self.json(
            "GET",
            &format!("/api/jobs/{}/logs", path_segment(id)?),
            None,
            MAX_LOG_BYTES,
        )?;
        logs.map(|l| l.logs)
            .ok_or_else(|| ClusterError::NotFound(id.to_owned()))
    }

    /// Ask the cluster to stop the job (SIGTERM to its entrypoint, SIGKILL
    /// after a grace); whether it was still running.
    pub fn stop(&self, id: &str) -> Result<bool, ClusterError> {
        #[derive(Deserialize)]
        struct Stopped {
            stopped: bool,
        }
        let stopped: Option<Stopped> = self.json(
            "POST",
            &format!("/api/jobs/{}/stop", path_segment(id)?),
            None,
            MAX_RECORD_BYTES,
        )?;
        stopped
            .map(|s| s.stopped)
            .ok_or_else(|| ClusterError::NotFound(id.to_owned()))
    }

    /// The nodes, from the dashboard's node summary.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let answer: Option<serde_json::Value> =
            self.json("GET", "/nodes?view=summary", None, MAX_RECORD_BYTES)?;
        let summary = answer
            .as_ref()
            .and_then(|a| a.pointer("/data/summary"))
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(summary.iter().map(node_from_summary).collect())
    }
}

fn node_from_summary(node: &serde_json::Value) -> NodeInfo {
    let text =
        |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let num = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_f64()).unwrap_or(0.0);
    let int = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_u64()).unwrap_or(0);
    let raylet = node.get("raylet");
    let resources = raylet.and_then(|r| r.get("resourcesTotal"));
    let mem = node.get("mem").and_then(|m| m.as_array());
    NodeInfo {
        id: text(raylet.and_then(|r| r.get("nodeId"))),
        hostname: text(node.get("hostname")),
        ip: text(node.get("ip")),
        state: text(raylet.and_then(|r| r.get("state"))),
        is_head: raylet
            .and_then(|r| r.get("isHeadNode"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        cpus: num(resources.and_then(|r| r.get("CPU"))),
        gpus: num(resources.and_then(|r| r.get("GPU"))),
        cpu_percent: num(node.get("cpu")),
        mem_total: int(mem.and_then(|m| m.first())),
        mem_used: int(mem.and_then(|m| m.get(3))),
    }
}

/// An id as one path segment: the characters submission ids are made of.
fn path_segment(id: &str) -> Result<&str, ClusterError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if id.is_empty() || id.len() > 200 || !id.chars().all(valid) || id.starts_with('.') {
        return Err(ClusterError::Job(format!(
            "'{}' is not a job id",
            id.escape_debug()
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_ray_and_http_and_refuse_the_rest() {
        let c = RayClient::new("ray://head.example:9000", None).unwrap();
        assert_eq!(c.address(), "http://head.example:9000");
        let c = RayClient::new("http://10.0.0.1/", None).unwrap();
        assert_eq!(c.address(), "http://10.0.0.1:8265");
        assert!(matches!(
            RayClient::new("https://h:8265", None),
            Err(ClusterError::Https(_))
        ));
        for bad in ["h:8265", "ray://", "ray://h/x", "ray://h?x", "ray://a b"] {
            assert!(
                matches!(RayClient::new(bad, None), Err(ClusterError::Address(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_cannot_leave_their_path_segment() {
        assert!(path_segment("sandbox-tui-ab12").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "%2e"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_node_summary_reads_what_it_has() {
        let value = serde_json::json!({
            "hostname": "vm", "ip": "10.0.0.2", "cpu": 12.5, "mem": [1000, 700, 30.0, 300],
            "raylet": {"nodeId": "ab", "state": "ALIVE", "isHeadNode": true,
                       "resourcesTotal": {"CPU": 2.0, "GPU": 1.0}}
        });
        let node = node_from_summary(&value);
        assert_eq!(node.hostname, "vm");
        assert!(node.is_head);
        assert_eq!((node.cpus, node.gpus), (2.0, 1.0));
        assert_eq!((node.mem_total, node.mem_used), (1000, 300));
        assert_eq!(
            node_from_summary(&serde_json::json!("junk")),
            NodeInfo::default()
        );
    }
}

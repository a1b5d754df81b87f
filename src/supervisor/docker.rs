//! The Docker backend (`backend = "docker"`, docs/docker.md): the same
//! supervisor, records, logs, statuses and result schema as a native
//! sandbox, but the command runs as a container of the profile's
//! `docker_image`, created, attached, timed, inspected and removed through
//! the Docker Engine API.
//!
//! Every limit of the profile maps onto the container: memory (no swap),
//! pids, CPU quota, rlimits (`RLIMIT_CPU`, `RLIMIT_FSIZE`, `RLIMIT_NOFILE`,
//! no core dumps), a read-only root with a private `/tmp`, no network
//! unless `allow_network`, every capability dropped, `no-new-privileges`,
//! and the wall-clock timeout, enforced here with a kill.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::classify::{classify, Outcome};
use super::{base_result, create_cgroups, refused, set_streams, Event, ExecRequest, OutputSinks};
use crate::cgroup::{Cgroup, Reading};
use crate::execution::{ExecResult, Status};
use crate::output::CappedCapture;

/// How often the container's cgroup is read for CPU time and peak memory.
const USAGE_INTERVAL: Duration = Duration::from_millis(50);

/// The label that marks the containers of this tool, with the execution id.
pub const EXECUTION_LABEL: &str = "sandbox-tui.execution";

/// Run one execution as a container. Never panics on daemon or user
/// errors: every failure becomes a result with status `error`.
pub fn execute(
    req: &ExecRequest,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> ExecResult {
    if req.result_pipe.is_some() {
        return refused(
            req,
            Status::Error,
            "Python jobs are not supported by the docker backend; run the command with `run`/`exec`".into(),
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return refused(req, Status::Error, format!("tokio runtime: {e}")),
    };
    // Signals to the supervisor become a kill of the container: blocked
    // here (and so in every thread started from now on), taken by a thread
    // of their own and handed to the loop.
    let mask = super::stop_signals();
    if let Err(e) = mask.thread_block() {
        return refused(req, Status::Error, format!("sigprocmask: {e}"));
    }
    let (signal_tx, signal_rx) = tokio::sync::mpsc::unbounded_channel();
    let waiter = mask;
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = waiter.wait() {
                if signal_tx.send(sig as i32).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        let _ = mask.thread_unblock();
        return refused(req, Status::Error, format!("signal thread: {e}"));
    }
    let started = Instant::now();
    let result = runtime.block_on(run(req, sinks, on_event, signal_rx, started));
    let _ = mask.thread_unblock();
    let mut result = match result {
        Ok(result) => result,
        Err(message) => refused(req, Status::Error, message),
    };
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// The container's settings from the profile; `cgroup_parent`: the
/// execution's own group, for the daemon to make the container's under.
fn container_body(
    req: &ExecRequest,
    image: &str,
    cgroup_parent: Option<String>,
) -> Result<ContainerCreateBody, String> {
    let profile = &req.profile;
    let workspace = req
        .workspace
        .canonicalize()
        .map_err(|e| format!("workspace {}: {e}", req.workspace.display()))?;
    let workdir = profile.workdir.display().to_string();
    let env = super::command_env(req);
    let mb: i64 = 1024 * 1024;
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let memory = clamp(profile.max_memory_mb).saturating_mul(mb);
    let ulimit = |name: &str, soft: i64, hard: i64| ResourcesUlimits {
        name: Some(name.into()),
        soft: Some(soft),
        hard: Some(hard),
    };
    let cpu = clamp(profile.max_cpu_seconds);
    let fsize = clamp(profile.max_file_size_mb).saturating_mul(mb);
    let nofile = clamp(profile.max_open_files);
    let mut binds = vec![format!("{}:{workdir}:rw", workspace.display())];
    for path in &profile.read_only_paths {
        binds.push(format!("{0}:{0}:ro", path.display()));
    }
    for path in &profile.writable_paths {
        binds.push(format!("{0}:{0}:rw", path.display()));
    }
    for bind in &req.binds {
        let mode = if bind.writable { "rw" } else { "ro" };
        binds.push(format!(
            "{}:{}:{mode}",
            bind.source.display(),
            bind.target.display()
        ));
    }
    let host_config = HostConfig {
        memory: Some(memory),
        // Equal to the memory limit: no swap on top of it.
        memory_swap: Some(memory),
        pids_limit: Some(clamp(profile.max_process_count)),
        nano_cpus: profile.cpu_quota.map(|q| (q * 1e9) as i64),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=64m,mode=1777".to_string(),
        )])),
        network_mode: Some(
            if profile.allow_network {
                "host"
            } else {
                "none"
            }
            .into(),
        ),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        // The soft CPU limit sends SIGXCPU (classified `cpu_limit`), the
        // hard one a second later SIGKILL, as in a native sandbox.
        ulimits: Some(vec![
            ulimit("cpu", cpu, cpu.saturating_add(1)),
            ulimit("fsize", fsize, fsize),
            ulimit("nofile", nofile, nofile),
            ulimit("core", 0, 0),
        ]),
        binds: Some(binds),
        cgroup_parent,
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(req.argv.clone()),
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: Some(workdir),
        hostname: Some(profile.hostname.clone()),
        user: req.uid.map(|uid| format!("{uid}:{uid}")),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        network_disabled: Some(!profile.allow_network),
        labels: Some(HashMap::from([(
            EXECUTION_LABEL.to_string(),
            req.id.clone(),
        )])),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// One stream's capture, log and live copy.
struct Stream {
    capture: CappedCapture,
    fd: i32,
}

impl Stream {
    fn take(&mut self, chunk: &[u8], log: &mut super::LogSink, live: bool) {
        self.capture.push(chunk);
        if let Some(file) = log.file() {
            let _ = file.write_all(chunk);
        }
        if live {
            // A blocking write: a stalled reader of `run`'s output holds the
            // container's output back, not the timeout, which still kills it.
            let _ = if self.fd == 1 {
                std::io::stdout().write_all(chunk)
            } else {
                std::io::stderr().write_all(chunk)
            };
        }
    }
}

async fn run(
    req: &ExecRequest,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
    mut signals: tokio::sync::mpsc::UnboundedReceiver<i32>,
    started: Instant,
) -> Result<ExecResult, String> {
    let image = req
        .profile
        .docker_image
        .as_deref()
        .ok_or("backend = \"docker\" without docker_image")?;
    let docker = Docker::connect_with_defaults()
        .map_err(|e| format!("connecting to the Docker daemon: {e}"))?
        .negotiate_version()
        .await
        .map_err(|e| format!("connecting to the Docker daemon (DOCKER_HOST): {e}"))?;
    // The container's cgroup goes under the execution's own, as a native
    // sandbox's processes: the dashboard, `ps` and recovery find its
    // processes and usage there, and the sandbox's limits hold over it.
    // Only with the daemon's cgroupfs driver, which takes a path; the
    // systemd driver wants a slice.
    let mut degraded = Vec::new();
    let cgroupfs = matches!(
        docker.info().await.ok().and_then(|i| i.cgroup_driver),
        Some(bollard::models::SystemInfoCgroupDriverEnum::CGROUPFS)
    );
    let group = match &req.cgroup {
        Some(plan) if cgroupfs => match create_cgroups(plan, req) {
            Ok(cg) => Some(ExecutionGroup::new(plan, cg)),
            Err(e) => return Err(format!("cgroup: {e}")),
        },
        _ => {
            degraded.push("docker: the container's cgroup is the daemon's own (no cgroupfs driver or no hierarchy): the dashboard does not see its processes".into());
            None
        }
    };
    let parent = group.as_ref().map(|g| g.parent.clone());
    let body = match container_body(req, image, parent) {
        Ok(body) => body,
        Err(e) => {
            if let Some(g) = &group {
                g.remove();
            }
            return Err(e);
        }
    };
    let name = format!("sandbox-tui-{}", req.id);
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let created = match docker.create_container(Some(options), body).await {
        Ok(created) => created,
        Err(e) => {
            if let Some(g) = &group {
                g.remove();
            }
            return Err(format!("creating the container from '{image}': {e}"));
        }
    };
    let id = created.id;
    let outcome = supervise(&docker, &id, req, sinks, on_event, &mut signals, started).await;
    // Nothing outlives its execution: the container goes whatever happened.
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    let removed = docker.remove_container(&id, Some(remove)).await;
    let final_usage = group
        .as_ref()
        .and_then(|g| g.cgroup.usage(Reading::Outcome).ok());
    if let Some(g) = &group {
        g.remove();
    }
    let (mut result, mut outcome, usage) = outcome?;
    outcome.degraded.splice(0..0, degraded);
    if let Err(e) = removed {
        outcome
            .degraded
            .push(format!("removing the container: {e}"));
    }
    result.cpu_ms = usage.cpu_ns / 1_000_000;
    result.peak_memory_bytes = usage.peak_memory_bytes;
    if let Some(u) = final_usage {
        // The execution's group counts its child's CPU time and peak
        // memory (cgroup v1 charges every ancestor).
        result.cpu_ms = result.cpu_ms.max(u.cpu_ns / 1_000_000);
        result.peak_memory_bytes = result.peak_memory_bytes.max(u.peak_memory_bytes);
    }
    classify(&mut result, &outcome, &req.profile, req.timeout);
    result.degraded = std::mem::take(&mut outcome.degraded);
    Ok(result)
}

async fn supervise(
    docker: &Docker,
    id: &str,
    req: &ExecRequest,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<i32>,
    started: Instant,
) -> Result<(ExecResult, Outcome, Usage), String> {
    let mut outcome = Outcome::default();
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .logs(true)
        .build();
    let mut output = docker
        .attach_container(id, Some(attach))
        .await
        .map_err(|e| format!("attaching to the container: {e}"))?
        .output;
    // The record is made before the command starts, as for a native
    // sandbox; the supervisor stands in for the init (the container's
    // processes are the daemon's children, not ours).
    if let Err(message) = on_event(Event::Started {
        init_pid: std::process::id() as i32,
    }) {
        outcome.setup_error = Some(message);
        return Ok((base_result(req), outcome, Usage::default()));
    }
    docker
        .start_container(id, None)
        .await
        .map_err(|e| format!("starting the container: {e}"))?;
    let pid = docker
        .inspect_container(id, None)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.pid)
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0);
    let groups = pid.map(|p| CgroupFiles::of(p, id)).unwrap_or_default();

    let cap = (req.profile.max_output_kb.saturating_mul(1024)) as usize;
    let mut out = Stream {
        capture: CappedCapture::new(cap),
        fd: 1,
    };
    let mut err = Stream {
        capture: CappedCapture::new(cap),
        fd: 2,
    };
    let deadline = tokio::time::sleep(req.timeout.saturating_sub(started.elapsed()));
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(USAGE_INTERVAL);
    let mut usage = Usage::default();
    let mut killed = false;
    let kill = || async {
        let options = KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        let _ = docker.kill_container(id, Some(options)).await;
    };
    loop {
        tokio::select! {
            item = output.next() => match item {
                Some(Ok(bollard::container::LogOutput::StdOut { message })) => {
                    out.take(&message, &mut sinks.stdout_log, sinks.live);
                }
                Some(Ok(bollard::container::LogOutput::StdErr { message })) => {
                    err.take(&message, &mut sinks.stderr_log, sinks.live);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    outcome.degraded.push(format!("reading the container's output: {e}"));
                    break;
                }
                None => break,
            },
            _ = &mut deadline, if !killed => {
                outcome.timed_out = true;
                killed = true;
                kill().await;
            }
            sig = signals.recv(), if !killed => {
                if let Some(sig) = sig {
                    outcome.external_signal = Some(sig);
                    killed = true;
                    kill().await;
                }
            }
            _ = tick.tick() => usage.update(&groups),
        }
    }
    usage.update(&groups);
    // The output ends with the container's processes, or earlier when they
    // close their standard streams: the timeout and signals hold until the
    // daemon says the container has ended, and its state says how.
    let waits = docker.wait_container(id, None);
    let mut waits = std::pin::pin!(waits);
    loop {
        tokio::select! {
            item = waits.next() => match item {
                Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) | None => break,
                Some(Err(e)) => {
                    outcome.degraded.push(format!("waiting for the container: {e}"));
                    kill().await;
                    break;
                }
            },
            _ = &mut deadline, if !killed => {
                outcome.timed_out = true;
                killed = true;
                kill().await;
            }
            sig = signals.recv(), if !killed => {
                if let Some(sig) = sig {
                    outcome.external_signal = Some(sig);
                    killed = true;
                    kill().await;
                }
            }
            _ = tick.tick() => usage.update(&groups),
        }
    }
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| format!("inspecting the container: {e}"))?
        .state
        .unwrap_or_default();
    outcome.oom = state.oom_killed.unwrap_or(false);
    let code = state.exit_code.and_then(|c| i32::try_from(c).ok());
    // Docker reports a command ended by a signal as 128 + the signal, as a
    // shell does.
    outcome.exited = match code {
        Some(c) if (129..=128 + 64).contains(&c) => Some((None, Some(c - 128))),
        other => Some((other, None)),
    };
    if code.is_none() {
        outcome.setup_error = state.error.filter(|e| !e.is_empty());
    }
    let mut result = base_result(req);
    set_streams(&mut result, out.capture, err.capture);
    result.cpu_ms = usage.cpu_ns / 1_000_000;
    Ok((result, outcome, usage))
}

/// The execution's cgroup that the container's is made under.
struct ExecutionGroup {
    cgroup: Cgroup,
    /// Its path from the hierarchies' roots, as the daemon takes it.
    parent: String,
    /// The same group in v1 hierarchies this tool does not use, which the
    /// daemon makes (blkio, devices, ...): removed here after the container.
    foreign: Vec<std::path::PathBuf>,
}

impl ExecutionGroup {
    fn new(plan: &super::CgroupPlan, cgroup: Cgroup) -> ExecutionGroup {
        let rel = format!("{}/{}", plan.hierarchy.root(), plan.execution_rel);
        let base = std::path::Path::new("/sys/fs/cgroup");
        // v1 hierarchies are directories under /sys/fs/cgroup (co-mounted
        // ones have symlinks too); ours already hold the group.
        let foreign = std::fs::read_dir(base)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|mount| mount.join("cgroup.procs").exists() && !mount.join(&rel).exists())
            .collect();
        ExecutionGroup {
            cgroup,
            parent: format!("/{rel}"),
            foreign,
        }
    }

    /// Kill what is left and remove the group; in the foreign hierarchies,
    /// remove the empty groups bottom-up from the execution's to the
    /// tool's root (one in use stops the walk).
    fn remove(&self) {
        let _ = self.cgroup.kill_and_remove();
        let rel = self.parent.trim_start_matches('/');
        for mount in &self.foreign {
            let mut dir = mount.join(rel);
            while dir.starts_with(mount) && dir != *mount {
                if std::fs::remove_dir(&dir).is_err() {
                    break;
                }
                match dir.parent() {
                    Some(parent) => dir = parent.to_path_buf(),
                    None => break,
                }
            }
        }
    }
}

/// The container's CPU time and peak memory, read from its cgroup while it
/// runs (the daemon removes the group when it ends).
#[derive(Debug, Default)]
struct Usage {
    cpu_ns: u64,
    peak_memory_bytes: u64,
}

impl Usage {
    fn update(&mut self, files: &CgroupFiles) {
        let read = |path: &Option<std::path::PathBuf>| {
            path.as_ref().and_then(|p| read_capped(p, 4096).ok())
        };
        if let Some(ns) = read(&files.cpu_ns).and_then(|s| s.trim().parse::<u64>().ok()) {
            self.cpu_ns = self.cpu_ns.max(ns);
        }
        if let Some(usec) = read(&files.cpu_stat).and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        }) {
            self.cpu_ns = self.cpu_ns.max(usec.saturating_mul(1000));
        }
        if let Some(bytes) = read(&files.peak).and_then(|s| s.trim().parse::<u64>().ok()) {
            self.peak_memory_bytes = self.peak_memory_bytes.max(bytes);
        }
    }
}

/// A small kernel file, read with a cap.
fn read_capped(path: impl AsRef<std::path::Path>, cap: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(cap)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// Where a container's figures are, from its first process's
/// `/proc/PID/cgroup` (v1 `memory` and `cpuacct`, or the cgroup2 group).
#[derive(Debug, Default)]
struct CgroupFiles {
    cpu_ns: Option<std::path::PathBuf>,
    cpu_stat: Option<std::path::PathBuf>,
    peak: Option<std::path::PathBuf>,
}

impl CgroupFiles {
    /// Only groups named after the container count: a pid that already
    /// ended and was reused is not the container's.
    fn of(pid: i32, container: &str) -> CgroupFiles {
        let mut files = CgroupFiles::default();
        let Ok(text) = read_capped(format!("/proc/{pid}/cgroup"), 64 * 1024) else {
            return files;
        };
        let base = std::path::Path::new("/sys/fs/cgroup");
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if rel.contains("..") || !rel.contains(container) {
                continue;
            }
            let controllers: Vec<&str> = controllers.split(',').collect();
            if controllers.contains(&"memory") {
                files.peak = Some(
                    base.join("memory")
                        .join(rel)
                        .join("memory.max_usage_in_bytes"),
                );
            }
            if controllers.contains(&"cpuacct") {
                let dir = std::fs::read_dir(base)
                    .ok()
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| n.split(',').any(|c| c == "cpuacct"));
                if let Some(dir) = dir {
                    files.cpu_ns = Some(base.join(dir).join(rel).join("cpuacct.usage"));
                }
            }
            if controllers == [""] && files.peak.is_none() {
                let group = base.join(rel);
                files.cpu_stat = Some(group.join("cpu.stat"));
                files.peak = Some(group.join("memory.peak"));
            }
        }
        files
    }
}

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
use std::os::fd::{AsFd, AsRawFd};
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
use crate::escape::TerminalStream;
use crate::execution::{ExecResult, ResultCapture, Status};
use crate::isolation::container_init;
use crate::output::forward::{Forward, ForwardState, FORWARD_BUFFER, PIPE_MAX, READER_STALL_LIMIT};
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
    channel: &ReportChannel,
) -> Result<ContainerCreateBody, String> {
    let profile = &req.profile;
    let workspace = req
        .workspace
        .canonicalize()
        .map_err(|e| format!("workspace {}: {e}", req.workspace.display()))?;
    let workdir = profile.workdir.display().to_string();
    let env = super::command_env(req);
    let stdin = req.pass_stdin && stdin_passable();
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
    let mut binds = vec![
        format!("{}:{workdir}:rw", workspace.display()),
        format!(
            "{}:{}:ro",
            channel.init.display(),
            container_init::INIT_PATH
        ),
        format!(
            "{}:{}:ro",
            channel.socket.display(),
            container_init::REPORT_PATH
        ),
    ];
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
    // Our init runs the command (the image's own entrypoint does not):
    // it tells a signal from an exit code and dies with the supervisor.
    let cap = req
        .result_pipe
        .map_or_else(|| "-".to_string(), |cap| cap.to_string());
    Ok(ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec![
            container_init::INIT_PATH.to_string(),
            container_init::ARG.to_string(),
            cap,
        ]),
        cmd: Some(req.argv.clone()),
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        working_dir: Some(workdir),
        hostname: Some(profile.hostname.clone()),
        user: req.uid.map(|uid| format!("{uid}:{uid}")),
        attach_stdin: Some(stdin),
        open_stdin: Some(stdin),
        // The container's stdin closes with ours.
        stdin_once: Some(stdin),
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
    /// The live copy to our own stdout or stderr (`run`, an attached
    /// `exec`), written without ever blocking: while its reader lags the
    /// container's output is left unread (it waits as in a pipeline), and
    /// a reader that takes nothing for [`READER_STALL_LIMIT`] is given up;
    /// the timeout and kills never wait for it.
    live: Option<Forward>,
    /// On a terminal the live copy is escaped (see [`TerminalStream`]).
    escape: Option<TerminalStream>,
}

impl Stream {
    fn new(cap: usize, live: bool, fd: i32) -> Stream {
        Stream {
            capture: CappedCapture::new(cap),
            live: live.then(|| Forward::new(if fd == 1 { "stdout" } else { "stderr" }, fd)),
            escape: super::watch::live_escape(live, fd),
        }
    }

    fn take(&mut self, chunk: &[u8], log: &mut super::LogSink) {
        self.capture.push(chunk);
        if let Some(file) = log.file() {
            let _ = file.write_all(chunk);
        }
        let expand = if self.escape.is_some() { 4 } else { 1 };
        if let Some(live) = &mut self.live {
            let limit = (FORWARD_BUFFER + PIPE_MAX) * expand;
            match self.escape.as_mut() {
                Some(escape) => live.push(&escape.push(chunk), limit),
                None => live.push(chunk, limit),
            }
        }
    }

    /// The live copy holds all it may: stop reading the container's output.
    fn backpressured(&self) -> bool {
        self.live
            .as_ref()
            .is_some_and(|live| live.is_open() && live.pending() >= FORWARD_BUFFER)
    }

    /// Write what the reader takes now; true when the reader went away.
    fn forward(&mut self, now: Instant) -> bool {
        let Some(live) = &mut self.live else {
            return false;
        };
        let gone = live.flush() == ForwardState::Gone;
        if live.stalled(now, READER_STALL_LIMIT) {
            live.give_up();
        }
        gone
    }

    /// The live copy, with what its reader has not taken yet, for
    /// [`OutputSinks::finish_live`].
    fn finish(&mut self) -> Option<Forward> {
        let mut live = self.live.take()?;
        if let Some(escape) = self.escape.as_mut() {
            live.push(&escape.finish(), usize::MAX);
        }
        Some(live)
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
    let body = ReportChannel::new(req).and_then(|channel| {
        container_body(req, image, parent, &channel).map(|body| (body, channel))
    });
    let (body, mut channel) = match body {
        Ok(made) => made,
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
    let outcome = supervise(
        &docker,
        &id,
        req,
        sinks,
        on_event,
        &mut signals,
        started,
        &mut channel,
    )
    .await;
    drop(channel);
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

#[allow(clippy::too_many_arguments)]
async fn supervise(
    docker: &Docker,
    id: &str,
    req: &ExecRequest,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<i32>,
    started: Instant,
    channel: &mut ReportChannel,
) -> Result<(ExecResult, Outcome, Usage), String> {
    let mut outcome = Outcome::default();
    let stdin = req.pass_stdin && stdin_passable();
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(stdin)
        .stdout(true)
        .stderr(true)
        .logs(true)
        .build();
    let attached = docker
        .attach_container(id, Some(attach))
        .await
        .map_err(|e| format!("attaching to the container: {e}"))?;
    let mut output = attached.output;
    // Our stdin goes on to the container's from a task of its own, which
    // the loop below never waits for.
    let stdin_task = stdin.then(|| tokio::spawn(forward_stdin(attached.input)));
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
    // The init's report, read as it comes; told when the container ended.
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
    let report = match channel.listener.take() {
        Some(listener) => {
            let listener = tokio::net::UnixListener::from_std(listener)
                .map_err(|e| format!("report socket: {e}"))?;
            let cap = req.result_pipe;
            Some(tokio::spawn(read_report(listener, pid, cap, ended_rx)))
        }
        None => None,
    };

    let cap = (req.profile.max_output_kb.saturating_mul(1024)) as usize;
    let mut out = Stream::new(cap, sinks.live, 1);
    let mut err = Stream::new(cap, sinks.live, 2);
    let deadline = tokio::time::sleep(req.timeout.saturating_sub(started.elapsed()));
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(USAGE_INTERVAL);
    let mut usage = Usage::default();
    let mut killed = false;
    // The daemon ends a container only once its output is read: the kill
    // runs beside the loop, which keeps reading (and stops holding the
    // output back for a slow reader) from then on.
    let kill = || {
        let docker = docker.clone();
        let id = id.to_string();
        async move {
            tokio::spawn(async move {
                let options = KillContainerOptionsBuilder::default()
                    .signal("SIGKILL")
                    .build();
                let _ = docker.kill_container(&id, Some(options)).await;
            });
        }
    };
    loop {
        let held = !killed && (out.backpressured() || err.backpressured());
        tokio::select! {
            item = output.next(), if !held => match item {
                Some(Ok(bollard::container::LogOutput::StdOut { message })) => {
                    out.take(&message, &mut sinks.stdout_log);
                }
                Some(Ok(bollard::container::LogOutput::StdErr { message })) => {
                    err.take(&message, &mut sinks.stderr_log);
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
        let now = Instant::now();
        let gone = out.forward(now) | err.forward(now);
        if gone {
            // Our own write met EPIPE: not a signal from outside.
            super::watch::discard_own_sigpipe();
            // As in a shell pipeline, a command whose output nobody reads
            // any more is ended.
            if !killed {
                outcome.output_reader_gone = true;
                killed = true;
                kill().await;
            }
        }
    }
    usage.update(&groups);
    if let Some(task) = stdin_task {
        task.abort();
    }
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
    let _ = ended_tx.send(());
    let report = match report {
        // The container has ended, so its init has said all it will: the
        // wait is for the socket's end, bounded in case it never comes.
        Some(task) => tokio::time::timeout(REPORT_GRACE, task)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        None => Report::default(),
    };
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| format!("inspecting the container: {e}"))?
        .state
        .unwrap_or_default();
    outcome.oom = state.oom_killed.unwrap_or(false);
    let code = state.exit_code.and_then(|c| i32::try_from(c).ok());
    outcome.exited = match (report.end, code) {
        (Some(end), _) => Some(end),
        // No word from the init (it was killed with the container, or
        // never ran): Docker reports a command ended by a signal as 128 +
        // the signal, as a shell does.
        (None, Some(c)) if (129..=128 + 64).contains(&c) => Some((None, Some(c - 128))),
        (None, other) => Some((other, None)),
    };
    outcome.exec_error = report.exec_error;
    if req.result_pipe.is_some() {
        sinks.result = Some(report.result);
    }
    if code.is_none() {
        outcome.setup_error = state.error.filter(|e| !e.is_empty());
    }
    // What the readers have not taken yet is forwarded after the result
    // is recorded: the end of the execution never waits for a reader.
    sinks.forwards.extend(out.finish());
    sinks.forwards.extend(err.finish());
    let mut result = base_result(req);
    set_streams(&mut result, out.capture, err.capture);
    result.cpu_ms = usage.cpu_ns / 1_000_000;
    Ok((result, outcome, usage))
}

/// Whether our stdin goes to the container: a pipe, file or socket does;
/// a terminal never does (the container could read keystrokes meant for
/// the shell), nor a closed descriptor. The container's stdin is then
/// `/dev/null`.
fn stdin_passable() -> bool {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    !nix::unistd::isatty(fd).unwrap_or(false)
        && nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

/// Copy our stdin to the container's until either ends. The reads happen
/// on a thread of their own (a blocking read of a pipe whose writer never
/// closes must not hold the runtime); the container's end is closed at
/// our EOF, so the command sees its input end.
async fn forward_stdin(mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>) {
    use tokio::io::AsyncWriteExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let reader = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let Ok(source) =
                crate::output::forward::Endpoint::open(stdin.as_fd().as_raw_fd(), false)
            else {
                return;
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let mut fds = [nix::poll::PollFd::new(
                    source.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                if let Err(e) = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
                    if e == nix::errno::Errno::EINTR {
                        continue;
                    }
                    return;
                }
                match source.read(&mut buf) {
                    Ok(None) => continue,
                    Ok(Some(0)) | Err(_) => return,
                    Ok(Some(n)) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    if reader.is_err() {
        return;
    }
    while let Some(chunk) = rx.recv().await {
        if input.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = input.shutdown().await;
}

/// How long the init's report may still take once the container ended.
const REPORT_GRACE: Duration = Duration::from_secs(5);

/// The socket the container's init reports on ([`container_init`]), in a
/// directory of its own beside the sandbox's workspace (where the daemon
/// already binds from), and the init binary to bind in.
struct ReportChannel {
    dir: std::path::PathBuf,
    socket: std::path::PathBuf,
    init: std::path::PathBuf,
    listener: Option<std::os::unix::net::UnixListener>,
}

impl ReportChannel {
    fn new(req: &ExecRequest) -> Result<ReportChannel, String> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let exe = std::fs::read_link("/proc/self/exe")
            .map_err(|e| format!("finding this program: {e}"))?;
        // The small init beside this binary when it is there.
        let small = exe.with_file_name(crate::isolation::namespaces::INIT_BINARY);
        let init = if small.is_file() { small } else { exe };
        if !init.is_file() {
            return Err(format!(
                "{}: this program is not there any more (replaced while running?)",
                init.display()
            ));
        }
        let workspace = req
            .workspace
            .canonicalize()
            .map_err(|e| format!("workspace {}: {e}", req.workspace.display()))?;
        let base = workspace
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let mut made = None;
        for _ in 0..8 {
            let dir = base.join(format!(".docker-{}-{}", req.id, crate::execution::new_id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    made = Some(dir);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            }
        }
        let dir = made.ok_or("no directory for the report socket")?;
        for path in [&init, &dir] {
            let text = path.display().to_string();
            if text.contains([':', ',']) {
                let _ = std::fs::remove_dir(&dir);
                return Err(format!("{text}: a path with ':' or ',' cannot be bound"));
            }
        }
        let socket = dir.join("report");
        let made = std::os::unix::net::UnixListener::bind(&socket).and_then(|listener| {
            // The container's uid connects to it; the directory keeps
            // everyone else on the host out.
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        });
        match made {
            Ok(listener) => Ok(ReportChannel {
                dir,
                socket,
                init,
                listener: Some(listener),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&socket);
                let _ = std::fs::remove_dir(&dir);
                Err(format!("report socket {}: {e}", socket.display()))
            }
        }
    }
}

impl Drop for ReportChannel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What the container's init reported.
#[derive(Debug, Default)]
struct Report {
    /// (exit code, signal), as a native init reports them.
    end: Option<(Option<i32>, Option<i32>)>,
    exec_error: Option<(String, i32)>,
    result: ResultCapture,
}

/// Accept the init's connection (the container's pid 1, by its
/// credentials: nothing else in the container may report) and read its
/// frames to their end. `ended`: the container has ended, so a connection
/// not in the backlog now never comes.
async fn read_report(
    listener: tokio::net::UnixListener,
    pid: Option<i32>,
    cap: Option<u64>,
    mut ended: tokio::sync::oneshot::Receiver<()>,
) -> Report {
    let is_init = |stream: &tokio::net::UnixStream| match pid {
        Some(pid) => stream.peer_cred().ok().and_then(|c| c.pid()) == Some(pid),
        None => true,
    };
    let mut ended_seen = false;
    let mut stream = loop {
        let accepted = if ended_seen {
            match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
                Ok(accepted) => accepted,
                Err(_) => return Report::default(),
            }
        } else {
            tokio::select! {
                biased;
                accepted = listener.accept() => accepted,
                _ = &mut ended => {
                    ended_seen = true;
                    continue;
                }
            }
        };
        match accepted {
            Ok((stream, _)) if is_init(&stream) => break stream,
            Ok(_) => continue,
            Err(_) => return Report::default(),
        }
    };
    // One connection only.
    drop(listener);
    let mut parser = ReportParser::new(cap);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        use tokio::io::AsyncReadExt;
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => parser.push(&buf[..n]),
        }
    }
    parser.report
}

/// The init's frames, parsed strictly: a frame of an unknown kind, a
/// payload over [`container_init::FRAME_MAX`] or one that does not parse
/// ends the parsing (the rest is read and dropped). The result is the
/// command's, so it is capped as a native result pipe is.
struct ReportParser {
    pending: Vec<u8>,
    cap: usize,
    broken: bool,
    report: Report,
}

impl ReportParser {
    fn new(cap: Option<u64>) -> ReportParser {
        ReportParser {
            pending: Vec::new(),
            cap: cap.map_or(0, |c| usize::try_from(c).unwrap_or(usize::MAX)),
            broken: false,
            report: Report::default(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(header) = self.pending.get(at..at + 5) {
            let kind = header[0];
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            if len > container_init::FRAME_MAX {
                self.broken = true;
                break;
            }
            let Some(payload) = self.pending.get(at + 5..at + 5 + len) else {
                break;
            };
            let payload = payload.to_vec();
            at += 5 + len;
            if !self.frame(kind, &payload) {
                self.broken = true;
                break;
            }
        }
        if self.broken {
            self.pending = Vec::new();
        } else {
            self.pending.drain(..at);
        }
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> bool {
        let result = &mut self.report.result;
        match kind {
            container_init::FRAME_RESULT => {
                if !result.over_cap {
                    if result.bytes.len() + payload.len() > self.cap {
                        result.over_cap = true;
                        result.bytes = Vec::new();
                    } else {
                        result.bytes.extend_from_slice(payload);
                    }
                }
                true
            }
            container_init::FRAME_RESULT_OVER => {
                result.over_cap = true;
                result.bytes = Vec::new();
                true
            }
            container_init::FRAME_END => {
                let text = std::str::from_utf8(payload).unwrap_or("");
                let number = |prefix: &str| {
                    text.strip_prefix(prefix)
                        .and_then(|n| n.parse::<i32>().ok())
                        .filter(|n| (0..=255).contains(n))
                };
                self.report.end = match (number("exit "), number("signal ")) {
                    (Some(code), _) => Some((Some(code), None)),
                    (_, Some(sig)) if sig > 0 && sig < 65 => Some((None, Some(sig))),
                    _ => return false,
                };
                true
            }
            container_init::FRAME_EXEC_ERROR => {
                let text = String::from_utf8_lossy(payload);
                let Some((code, message)) = text.split_once(' ') else {
                    return false;
                };
                match code.parse::<i32>() {
                    Ok(code @ (126 | 127)) => {
                        self.report.exec_error = Some((message.to_string(), code));
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }
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

/// Remove the container of execution `id` if it is still there (its
/// supervisor is gone: its init has ended it, or the cgroup kill did).
/// Best effort, from a thread of its own so that a caller inside a tokio
/// runtime (the dashboard) does not nest one.
pub fn remove_leftover(id: &str) {
    let name = format!("sandbox-tui-{id}");
    let removal = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(async {
            let docker = Docker::connect_with_defaults().ok()?;
            // A container the daemon is still ending refuses removal for
            // a moment (a conflict): again, a bounded number of times.
            for _ in 0..50 {
                let remove = RemoveContainerOptionsBuilder::default().force(true).build();
                match tokio::time::timeout(
                    Duration::from_secs(30),
                    docker.remove_container(&name, Some(remove)),
                )
                .await
                .ok()?
                {
                    Ok(()) => return Some(()),
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => return Some(()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            None
        })
    });
    let _ = removal.join();
}

//! The terminal dashboard (`sandbox-tui` with no verb).
//!
//! Elm-style: one `App`, `Action`s in, `update` (pure) returns `Effect`s,
//! `view` only draws. Sources (terminal events, the sampler, the effect
//! worker) feed one channel; the loop below is the only owner of the state
//! and the terminal.

pub mod action;
pub mod ansi;
pub mod app;
pub mod cluster;
mod effects;
pub mod format;
pub mod keys;
mod sampler;
pub use sampler::read_log_tail;
pub mod theme;
pub mod update;
pub mod view;

use std::io::{IsTerminal, Stdout};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, MouseEventKind,
};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, BeginSynchronizedUpdate, EndSynchronizedUpdate,
    EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

use action::{Action, Effect, SampleRequest};
use app::{App, ConfigView, Environment, StatusLine};
use theme::{Theme, ThemeError};

use crate::manager::{Manager, ManagerError};
use crate::monitor::{Monitor, MonitorError};
use crate::profile::Config;

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("the dashboard needs a terminal (stdin and stdout must be a tty); the verbs (ls, ps, top…) work without one")]
    NotATerminal,
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> TuiError {
    move |source| TuiError::Io { what, source }
}

pub struct Options {
    pub config: Config,
    /// `--config` as given, for reloads.
    pub config_flag: Option<PathBuf>,
    pub state_dir_flag: Option<PathBuf>,
    pub refresh: Duration,
    /// `--theme`, else `theme =` from the settings, else "default".
    pub theme: Option<String>,
    /// `--cluster`: the Ray cluster the Cluster screen shows.
    pub cluster: Option<String>,
}

/// Resolve the theme: name from the flag or the config, NO_COLOR respected.
pub fn resolve_theme(flag: Option<&str>, config: &Config) -> Result<Theme, ThemeError> {
    let name = flag
        .or(config.settings.theme.as_deref())
        .unwrap_or("default");
    Ok(honour_no_color(Theme::load(
        name,
        Theme::user_dir().as_deref(),
    )?))
}

fn honour_no_color(theme: Theme) -> Theme {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        theme.without_color()
    } else {
        theme
    }
}

type Term = Terminal<CrosstermBackend<Stdout>>;

fn enter_terminal() -> std::io::Result<()> {
    enable_raw_mode()?;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)
}

fn leave_terminal() {
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Leaves the terminal usable however `run` ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        leave_terminal();
    }
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Restore first, or the message lands on the alternate screen and is lost.
        leave_terminal();
        previous(info);
    }));
}

/// Lets the loop stop the event reader while an editor owns the terminal:
/// the reader holds `lock` while it polls, so holding it keeps keys away
/// from us.
#[derive(Default)]
struct Gate {
    paused: AtomicBool,
    lock: Mutex<()>,
}

fn spawn_event_reader(tx: mpsc::Sender<Action>, gate: Arc<Gate>) {
    std::thread::spawn(move || loop {
        if gate.paused.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let event = {
            let Ok(_held) = gate.lock.lock() else { return };
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(e) => Some(e),
                    Err(_) => return,
                },
                Ok(false) => None,
                Err(_) => return,
            }
        };
        let action = match event {
            Some(Event::Key(k)) => Action::Key(k),
            Some(Event::Mouse(m))
                if matches!(
                    m.kind,
                    MouseEventKind::Down(_) | MouseEventKind::ScrollUp | MouseEventKind::ScrollDown
                ) =>
            {
                Action::Mouse(m)
            }
            Some(Event::Resize(w, h)) => Action::Resize(w, h),
            _ => continue,
        };
        if tx.blocking_send(action).is_err() {
            return;
        }
    });
}

const MIN_SAMPLE_GAP: Duration = Duration::from_millis(250);

async fn run_sampler(
    mut sampler: sampler::Sampler,
    tx: mpsc::Sender<Action>,
    mut requests: watch::Receiver<SampleRequest>,
    refresh: Duration,
) {
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now() - MIN_SAMPLE_GAP;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = requests.changed() => {
                if changed.is_err() {
                    return;
                }
                // Answer a new selection now, then resume the regular beat.
                tick.reset();
            }
        }
        // Per-process CPU% from samples closer together than this is noise.
        tokio::time::sleep_until(last + MIN_SAMPLE_GAP).await;
        last = tokio::time::Instant::now();
        let request = requests.borrow_and_update().clone();
        let Ok((back, snapshot)) = tokio::task::spawn_blocking(move || {
            let snapshot = sampler.sample(&request);
            (sampler, snapshot)
        })
        .await
        else {
            return;
        };
        sampler = back;
        if tx.send(Action::Snapshot(Box::new(snapshot))).await.is_err() {
            return;
        }
    }
}

async fn run_worker(
    mut worker: effects::Worker,
    mut effects: mpsc::UnboundedReceiver<Effect>,
    tx: mpsc::Sender<Action>,
) {
    while let Some(effect) = effects.recv().await {
        let Ok((back, outcome)) = tokio::task::spawn_blocking(move || {
            let outcome = worker.perform(effect);
            (worker, outcome)
        })
        .await
        else {
            return;
        };
        worker = back;
        if let Some(outcome) = outcome {
            if tx.send(Action::Done(outcome)).await.is_err() {
                return;
            }
        }
    }
}

/// Leave the screen, run `$VISUAL`/`$EDITOR` (else `vi`) on `path`, come back.
fn open_editor(terminal: &mut Term, gate: &Gate, path: &std::path::Path) -> Result<(), String> {
    gate.paused.store(true, Ordering::SeqCst);
    let held = gate.lock.lock();
    leave_terminal();
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    // "code --wait" and the like: the first word is the program.
    let mut words = editor.split_whitespace();
    let result = match words.next() {
        Some(program) => std::process::Command::new(program)
            .args(words)
            .arg(path)
            .status()
            .map_err(|e| format!("cannot run {editor}: {e}"))
            .and_then(|s| {
                if s.success() {
                    Ok(())
                } else {
                    Err(format!("{editor} exited with {s}"))
                }
            }),
        None => Err("$EDITOR is empty".into()),
    };
    let back = enter_terminal().and_then(|()| terminal.clear());
    drop(held);
    gate.paused.store(false, Ordering::SeqCst);
    back.map_err(|e| format!("restoring the terminal: {e}"))?;
    result
}

fn draw(terminal: &mut Term, app: &App) -> std::io::Result<()> {
    // One synchronized update per frame: the terminal shows it all at once.
    execute!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    let drawn = terminal.draw(|frame| view::draw(frame, app)).map(|_| ());
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    drawn
}

pub fn run(options: Options) -> Result<(), TuiError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    // A bad theme costs the colours, not the dashboard.
    let (theme, theme_problem) = match resolve_theme(options.theme.as_deref(), &options.config) {
        Ok(theme) => (theme, None),
        Err(e) => (
            honour_no_color(Theme::load("default", None)?),
            Some(format!("default theme in use: {e}")),
        ),
    };
    let checks = crate::doctor::inspect(&options.config.settings.cgroup_root);
    let degraded = crate::doctor::degraded(&checks)
        .into_iter()
        .map(|c| (c.mechanism.clone(), c.detail.clone()))
        .collect();
    let sample_manager = Manager::open(options.config.clone(), options.state_dir_flag.as_deref())?;
    let state_dir = sample_manager.state_dir().to_path_buf();
    let effect_manager = Manager::open(options.config.clone(), Some(&state_dir))?;
    let monitor = Monitor::new()?;
    let env = Environment {
        state_dir,
        degraded,
    };
    let mut app = App::new(
        theme,
        options.refresh.as_millis() as u64,
        env,
        ConfigView::from_config(&options.config),
    );
    app.status = theme_problem.map(|text| StatusLine { text, error: true });
    app.cluster.address = options.cluster.clone();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(io("starting the runtime"))?;

    install_panic_hook();
    enter_terminal().map_err(io("setting up the terminal"))?;
    let _guard = TerminalGuard;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(io("terminal"))?;
    let size = terminal.size().map_err(io("terminal size"))?;
    app.size = (size.width, size.height);

    runtime.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<Action>(256);
        let (req_tx, req_rx) = watch::channel(app.sample_request());
        let (effect_tx, effect_rx) = mpsc::unbounded_channel::<Effect>();
        let gate = Arc::new(Gate::default());
        spawn_event_reader(tx.clone(), gate.clone());
        tokio::spawn(run_sampler(
            sampler::Sampler::new(sample_manager, monitor),
            tx.clone(),
            req_rx,
            options.refresh,
        ));
        tokio::spawn(run_worker(
            effects::Worker {
                manager: effect_manager,
                config_flag: options.config_flag.clone(),
                cluster: options.cluster.clone(),
            },
            effect_rx,
            tx.clone(),
        ));
        drop(tx);

        draw(&mut terminal, &app).map_err(io("drawing"))?;
        app.dirty = false;
        while let Some(first) = rx.recv().await {
            // A finished effect changed the world: look again at once.
            let mut resample = matches!(&first, Action::Done(o) if o.changes_state());
            let mut effects = update::update(&mut app, first);
            // Apply whatever else is already queued before drawing once.
            while let Ok(more) = rx.try_recv() {
                resample |= matches!(&more, Action::Done(o) if o.changes_state());
                effects.extend(update::update(&mut app, more));
            }
            for effect in effects {
                match effect {
                    Effect::Quit => app.quit = true,
                    Effect::OpenEditor { path } => {
                        if let Err(e) = open_editor(&mut terminal, &gate, &path) {
                            app.status = Some(app::StatusLine {
                                text: e,
                                error: true,
                            });
                        }
                        let _ = effect_tx.send(Effect::ReloadConfig);
                        app.dirty = true;
                    }
                    other => {
                        let _ = effect_tx.send(other);
                    }
                }
            }
            if app.quit {
                break;
            }
            if resample {
                req_tx.send_modify(|_| {});
            }
            let request = app.sample_request();
            req_tx.send_if_modified(|current| {
                if *current == request {
                    false
                } else {
                    *current = request;
                    true
                }
            });
            if app.dirty {
                draw(&mut terminal, &app).map_err(io("drawing"))?;
                app.dirty = false;
            }
        }
        Ok::<(), TuiError>(())
    })?;
    // Quitting only stops watching: supervisors run on in their own sessions.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

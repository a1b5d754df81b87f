//! The node's side of a running job's output: while `run --job-env` runs
//! its execution, our stdout and stderr are pipes that a thread of ours
//! reads and writes on to the job's log (the real stdout) as frames
//! ([`super::frames`]). The supervisor streams to them as to any live
//! reader (`output::forward`), without ever blocking on them: a thread
//! that falls behind (Ray's log on a full disk) only stops the live
//! frames, never the enforcement, and the result still carries the
//! capture.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow};

use super::frames::{self, Stream, MAX_FRAME_DATA};

/// How long the end waits for the thread to write what it still holds.
const FINISH_WAIT: Duration = Duration::from_secs(30);

/// The live frames of one execution; [`LiveFrames::finish`] puts the real
/// stdout and stderr back.
pub struct LiveFrames {
    saved_out: OwnedFd,
    saved_err: OwnedFd,
    stop: OwnedFd,
    done: mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both were just returned by the kernel.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `fd` onto `target` (fd 1 or 2).
fn dup_onto(fd: &OwnedFd, target: i32) -> std::io::Result<()> {
    // SAFETY: dup2 of a descriptor we own onto one of our standard ones.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl LiveFrames {
    /// Our stdout and stderr become pipes read by a thread that frames
    /// each stream up to `cap` bytes (then a cap marker, and the rest is
    /// read and dropped) to the real stdout.
    pub fn start(cap: u64) -> std::io::Result<LiveFrames> {
        let _ = std::io::stdout().flush();
        let saved_out = std::io::stdout().as_fd().try_clone_to_owned()?;
        let saved_err = std::io::stderr().as_fd().try_clone_to_owned()?;
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let (stop_read, stop) = pipe()?;
        let log = saved_out.try_clone()?;
        let (done_tx, done) = mpsc::channel();
        // The thread starts with every signal blocked, so the stop signals
        // reach the supervisor that waits for them, never this thread.
        let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        let thread = std::thread::Builder::new()
            .name("live-frames".into())
            .spawn(move || {
                pump(log, [out_read, err_read], &stop_read, cap);
                let _ = done_tx.send(());
            });
        let _ = old.thread_set_mask();
        let thread = thread?;
        let live = LiveFrames {
            saved_out,
            saved_err,
            stop,
            done,
            thread,
        };
        if let Err(e) = dup_onto(&out_write, 1).and_then(|()| dup_onto(&err_write, 2)) {
            live.finish();
            return Err(e);
        }
        Ok(live)
    }

    /// The real stdout and stderr back, once the thread has written what
    /// the pipes held (or [`FINISH_WAIT`] passed).
    pub fn finish(self) {
        let _ = std::io::stdout().flush();
        let _ = dup_onto(&self.saved_out, 1);
        let _ = dup_onto(&self.saved_err, 2);
        let _ = nix::unistd::write(&self.stop, b"x");
        if self.done.recv_timeout(FINISH_WAIT).is_ok() {
            let _ = self.thread.join();
        }
    }
}

/// What is read after the stop at most: a child of ours that inherited
/// fd 1 or 2 and keeps writing to it cannot hold the end.
const DRAIN_LIMIT: usize = 4 << 20;

/// Read both pipes until `stop` is readable, then what they still hold,
/// writing frames to `log`.
fn pump(log: OwnedFd, pipes: [OwnedFd; 2], stop: &OwnedFd, cap: u64) {
    let streams = [Stream::Stdout, Stream::Stderr];
    let mut open = [true, true];
    let mut written = [0u64; 2];
    let mut buf = vec![0u8; MAX_FRAME_DATA];
    let mut log = std::fs::File::from(log);
    let mut stopping = false;
    let mut drained = 0usize;
    loop {
        let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        let which: Vec<usize> = (0..2).filter(|&i| open[i]).collect();
        fds.extend(
            which
                .iter()
                .map(|&i| PollFd::new(pipes[i].as_fd(), PollFlags::POLLIN)),
        );
        let timeout = if stopping {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        if fds[0].any().unwrap_or(false) {
            stopping = true;
        }
        let ready: Vec<usize> = which
            .iter()
            .enumerate()
            .filter(|(k, _)| fds[k + 1].any().unwrap_or(false))
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        if stopping && (ready.is_empty() || drained > DRAIN_LIMIT) {
            return;
        }
        for i in ready {
            let n = match nix::unistd::read(&pipes[i], &mut buf) {
                Ok(0) | Err(_) => {
                    open[i] = false;
                    continue;
                }
                Ok(n) => n,
            };
            if stopping {
                drained += n;
            }
            let room = cap.saturating_sub(written[i]);
            if room == 0 {
                continue;
            }
            let take = n.min(usize::try_from(room).unwrap_or(usize::MAX));
            let mut text = frames::frame(streams[i], &buf[..take]);
            written[i] += take as u64;
            if written[i] >= cap {
                text += &frames::capped(streams[i]);
            }
            // One write per read: the log never holds half a frame for
            // long, and the result line comes after the last frame.
            if log.write_all(text.as_bytes()).is_err() {
                return;
            }
        }
        if !open.iter().any(|&o| o) && stopping {
            return;
        }
    }
}

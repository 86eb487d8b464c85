//! Real-time scheduling for the threads that feed and drain the sound devices.
//!
//! A device asks for 10 ms at a time (see `choose_config`); a callback thread that waits
//! longer than that for a core, as it does at ordinary priority on a busy machine, lets the
//! speaker run dry or the microphone overflow. Each such glitch moves the echo path under
//! the echo canceller, which then leaks echo while it finds the path again. Call apps
//! (Chrome, Firefox) therefore run their audio callbacks at real-time priority; so does
//! Tincan, where the system allows it: as root, or with a real-time limit
//! (`ulimit -r`, e.g. the `audio` group's in /etc/security/limits.d). Elsewhere the callback
//! stays at ordinary priority and works as before. macOS runs device callbacks at real-time
//! priority itself; Windows' shared-mode streams are fed from its own audio service.

/// Under PulseAudio's and PipeWire's own threads (5 by default), over every ordinary one.
#[cfg(target_os = "linux")]
const PRIORITY: i32 = 4;

/// Puts the calling thread on round-robin real-time scheduling, once per `done` flag.
/// Returns whether it is now real-time. Never blocks and never fails loudly: a refusal is
/// logged once at debug level.
pub(crate) fn promote_current_thread(done: &mut bool) -> bool {
    if std::mem::replace(done, true) {
        return false;
    }
    promote()
}

#[cfg(target_os = "linux")]
fn promote() -> bool {
    let param = libc::sched_param {
        sched_priority: PRIORITY,
    };
    // SAFETY: sched_setscheduler reads `param` only during the call; pid 0 is this thread.
    let ok =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) }
            == 0;
    if !ok {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "audio callback stays at ordinary priority"
        );
    }
    ok
}

#[cfg(not(target_os = "linux"))]
fn promote() -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::promote_current_thread;

    #[test]
    fn a_thread_is_promoted_once_and_only_as_allowed() {
        std::thread::spawn(|| {
            let mut done = false;
            let first = promote_current_thread(&mut done);
            // Whether the system allows it decides the first answer; the policy must match.
            // SAFETY: sched_getscheduler has no memory arguments.
            let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
            assert_eq!(first, policy == libc::SCHED_RR, "policy {policy}");
            assert!(!promote_current_thread(&mut done), "asked twice");
        })
        .join()
        .expect("the thread ran");
    }
}

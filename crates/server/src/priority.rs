//! CPU priority of the server's work that no one is waiting on directly.
//!
//! SQLite has one writer, and with a device's pushes pipelined it is the critical path of a
//! large sync: it runs from one push to the next without a pause. The next push's decoding and
//! validation, which share the CPUs with it, run on a thread at a lower priority, so that the push
//! holding the write lock is not the one that waits. At nice [`BACKGROUND_NICE`] such a thread
//! still gets about a tenth of a busy CPU (Linux's CFS weights 1024 against 110), so it is never
//! starved, and all of an idle one. (The checkpointer thread was tried behind the writer too: no
//! gain measured, and a starved checkpoint would make the writer checkpoint itself at the
//! backstop, so it keeps the normal priority.)
//!
//! Lowering is one-way: a thread cannot raise its priority again without privileges, so the work
//! gets a thread of its own (`sync::push::behind_the_writer`). Threads started by a lowered
//! thread inherit its priority.

/// Nice value of background threads.
pub(crate) const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`BACKGROUND_NICE`] (best effort: where the
/// system refuses, or has no such call, the thread keeps its priority).
pub(crate) fn lower() {
    #[cfg(unix)]
    {
        let _ = rustix::process::setpriority_process(None, BACKGROUND_NICE);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The lowered thread and the threads it starts run at the lower priority; the thread that
    /// started it keeps its own.
    #[test]
    fn a_lowered_thread_and_its_children_run_behind() {
        let nice = || rustix::process::getpriority_process(None).unwrap();
        let before = nice();
        let (inside, child) = std::thread::scope(|s| {
            s.spawn(|| {
                lower();
                let child = std::thread::scope(|s| s.spawn(nice).join().unwrap());
                (nice(), child)
            })
            .join()
            .unwrap()
        });
        assert_eq!(inside, child);
        if before < BACKGROUND_NICE {
            assert_eq!(inside, BACKGROUND_NICE);
        }
        assert_eq!(nice(), before);
    }
}

//! The order of one device's pushes that are on the server at the same time.
//!
//! A device on a good link sends its next push before the answer to the last one arrives
//! (`verivali-sync`'s push pipeline), so the server decodes and validates push N+1 while push N
//! holds the write transaction. Push N+1 must still be applied after push N: its first seq
//! continues N's, and the write transaction refuses a gap (409 `sync.seq_gap`, nothing
//! applied). So a push waits, before taking the write transaction, for every push of the same
//! device that began at a lower seq and is still being handled; it then finds them committed
//! (or failed, and answers the gap as before). The two are on separate connections, so the
//! later push may even be registered first (the earlier one's body still being decoded): a push
//! refused for a gap waits a moment ([`ARRIVAL`]) for an earlier push of its device to arrive,
//! and once that is done tries its write transaction again. Nothing here weakens a guarantee:
//! the seq check inside the transaction stays the only judge; this only spares an in-order
//! pipeline a needless 409. Every wait is bounded ([`WAIT`], [`ARRIVAL`]): a predecessor stuck
//! for longer is not waited for, and the device sends the refused push again.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Longest wait for an earlier push of the same device being handled.
const WAIT: Duration = Duration::from_secs(30);
/// Longest wait, after a gap, for an earlier push of the same device to arrive.
const ARRIVAL: Duration = Duration::from_secs(1);

/// The pushes being handled, by device: the first seq of each.
#[derive(Debug, Default)]
pub(crate) struct PushOrder {
    handling: Mutex<HashMap<Uuid, Vec<u64>>>,
    done: Condvar,
}

/// A push being handled; leaves the register when dropped (answered, refused or failed).
pub(crate) struct InFlight<'a> {
    order: &'a PushOrder,
    device: Uuid,
    first_seq: u64,
}

impl PushOrder {
    /// Registers a push of `device` whose first op has `first_seq`.
    pub(crate) fn enter(&self, device: Uuid, first_seq: u64) -> InFlight<'_> {
        let mut h = self.handling.lock().unwrap_or_else(|p| p.into_inner());
        h.entry(device).or_default().push(first_seq);
        drop(h);
        // A push refused for a gap may be waiting for this one to arrive.
        self.done.notify_all();
        InFlight {
            order: self,
            device,
            first_seq,
        }
    }

    /// How many pushes of `device` are being handled (tests).
    #[cfg(test)]
    fn handling(&self, device: Uuid) -> usize {
        let h = self.handling.lock().unwrap_or_else(|p| p.into_inner());
        h.get(&device).map_or(0, Vec::len)
    }
}

impl InFlight<'_> {
    /// Waits until no push of the same device that began at a lower seq is being handled, or
    /// [`WAIT`] has passed. True when it waited at all.
    pub(crate) fn wait_for_earlier(&self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut h = self
            .order
            .handling
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut waited = false;
        loop {
            let earlier = self.earlier_in(&h);
            let left = deadline.saturating_duration_since(Instant::now());
            if !earlier || left.is_zero() {
                return waited;
            }
            waited = true;
            h = self
                .order
                .done
                .wait_timeout(h, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl InFlight<'_> {
    /// After a gap: waits up to [`ARRIVAL`] for an earlier push of the same device to be
    /// registered, then until every earlier one is done ([`InFlight::wait_for_earlier`]). True
    /// when there was one (the write is worth trying again).
    pub(crate) fn wait_for_predecessor(&self) -> bool {
        let deadline = Instant::now() + ARRIVAL;
        let mut h = self
            .order
            .handling
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        loop {
            if self.earlier_in(&h) {
                drop(h);
                self.wait_for_earlier();
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            h = self
                .order
                .done
                .wait_timeout(h, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn earlier_in(&self, h: &HashMap<Uuid, Vec<u64>>) -> bool {
        h.get(&self.device)
            .is_some_and(|seqs| seqs.iter().any(|s| *s < self.first_seq))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut h = self
            .order
            .handling
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(seqs) = h.get_mut(&self.device) {
            if let Some(i) = seqs.iter().position(|s| *s == self.first_seq) {
                seqs.swap_remove(i);
            }
            if seqs.is_empty() {
                h.remove(&self.device);
            }
        }
        drop(h);
        self.order.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_push_waits_for_the_earlier_pushes_of_its_device_only() {
        let order = Arc::new(PushOrder::default());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = order.enter(a, 1);
        // Another device, and a push of the same device that began earlier, do not wait.
        assert!(!order.enter(b, 50).wait_for_earlier());
        assert!(!first.wait_for_earlier());
        let finished = Arc::new(AtomicU64::new(0));
        let waiter = {
            let (order, finished) = (order.clone(), finished.clone());
            std::thread::spawn(move || {
                let second = order.enter(a, 101);
                second.wait_for_earlier();
                // What the earlier push had done when the wait ended.
                finished.load(Ordering::SeqCst)
            })
        };
        while order.handling(a) < 2 {
            std::thread::yield_now();
        }
        finished.store(1, Ordering::SeqCst);
        drop(first);
        // The later push went on only once the earlier one had left: it saw what was done
        // before that. (Whether it had to block depends on which thread ran first: the earlier
        // push may leave between the later one's registering and its wait, so the wait's "did
        // wait" answer is not asserted; a CI run once saw it false.)
        assert_eq!(waiter.join().unwrap(), 1);
        assert_eq!(order.handling(a), 0);
        assert_eq!(order.handling(b), 0);
    }

    #[test]
    fn after_a_gap_a_push_waits_for_an_earlier_one_to_arrive_and_finish() {
        let order = Arc::new(PushOrder::default());
        let device = Uuid::now_v7();
        // None arrives: it gives up after ARRIVAL.
        let alone = order.enter(device, 41);
        let t = Instant::now();
        assert!(!alone.wait_for_predecessor());
        assert!(t.elapsed() >= ARRIVAL);
        drop(alone);
        // One arrives later and finishes: the wait sees it, and ends when it is done.
        let late = order.enter(device, 41);
        let helper = {
            let order = order.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let earlier = order.enter(device, 1);
                std::thread::sleep(Duration::from_millis(50));
                drop(earlier);
            })
        };
        assert!(late.wait_for_predecessor());
        assert_eq!(order.handling(device), 1, "the earlier push is done");
        helper.join().unwrap();
    }
}

//! The hybrid logical clock of DESIGN.md §4: (wall ms, counter, device), totally ordered, merged
//! with the server's time from every response and never more than [`MAX_AHEAD_MS`] ahead of it.
//!
//! Pure logic: the caller passes the device's physical time in and persists [`ClockState`].
//!
//! How the bound is kept: the state remembers `offset_ms` = server time − device time at the last
//! response. With it, the clock reads the device time corrected by the offset, so a device clock a
//! day behind or ten years ahead still yields times close to the server's. A device that never
//! reached the server uses its raw clock; at its first merge, a wall time already more than
//! `MAX_AHEAD_MS` ahead is pulled back to the bound. That one step back is the price of the bound;
//! order within a device is carried by the outbox `seq`, so nothing depends on it.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The clock never runs more than this ahead of the server's time (5 minutes).
pub const MAX_AHEAD_MS: i64 = 5 * 60 * 1000;

/// One timestamp. Its text form sorts like the value: `WWWWWWWWWWWWW-CCCCC-<device uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hlc {
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
    /// Logical counter within one wall millisecond.
    pub counter: u32,
    /// The device that made it (tie-break).
    pub device: Uuid,
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, self.device).cmp(&(other.wall_ms, other.counter, other.device))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:013}-{:05}-{}",
            self.wall_ms, self.counter, self.device
        )
    }
}

/// Text that is not an HLC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a hybrid logical clock value: {0:?}")]
pub struct HlcParseError(pub String);

impl FromStr for Hlc {
    type Err = HlcParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HlcParseError(s.chars().take(80).collect());
        let mut parts = s.splitn(3, '-');
        let wall = parts.next().ok_or_else(err)?;
        let counter = parts.next().ok_or_else(err)?;
        let device = parts.next().ok_or_else(err)?;
        if wall.len() != 13 || counter.len() != 5 {
            return Err(err());
        }
        Ok(Hlc {
            wall_ms: wall.parse().map_err(|_| err())?,
            counter: counter.parse().map_err(|_| err())?,
            device: Uuid::parse_str(device).map_err(|_| err())?,
        })
    }
}

impl TryFrom<String> for Hlc {
    type Error = HlcParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Hlc> for String {
    fn from(value: Hlc) -> Self {
        value.to_string()
    }
}

/// The persisted state of a device's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    pub device: Uuid,
    /// Wall part of the last timestamp issued or merged.
    pub wall_ms: i64,
    /// Counter part of it.
    pub counter: u32,
    /// Server time − device time at the last server response; `None` before the first.
    pub offset_ms: Option<i64>,
}

impl ClockState {
    /// A new clock for `device`.
    pub fn new(device: Uuid) -> ClockState {
        ClockState {
            device,
            wall_ms: 0,
            counter: 0,
            offset_ms: None,
        }
    }

    /// The device's best estimate of the server's time now.
    pub fn server_now(&self, device_now_ms: i64) -> i64 {
        device_now_ms.saturating_add(self.offset_ms.unwrap_or(0))
    }

    /// Issues the next timestamp (strictly greater than every earlier one from this state).
    pub fn tick(&mut self, device_now_ms: i64) -> Hlc {
        let now = self.server_now(device_now_ms);
        if now > self.wall_ms {
            self.wall_ms = now;
            self.counter = 0;
        } else {
            self.bump();
        }
        self.current()
    }

    /// Merges a server response's time. Keeps the offset for later ticks, moves the clock forward
    /// to the server time when it is behind, and pulls it back to the bound when it is more than
    /// [`MAX_AHEAD_MS`] ahead.
    pub fn merge_server(&mut self, server_ms: i64, device_now_ms: i64) {
        self.offset_ms = Some(server_ms.saturating_sub(device_now_ms));
        let limit = server_ms.saturating_add(MAX_AHEAD_MS);
        if server_ms > self.wall_ms {
            self.wall_ms = server_ms;
            self.counter = 0;
        } else if self.wall_ms > limit {
            self.wall_ms = limit;
            self.bump();
        }
    }

    /// Merges a timestamp seen from another node (receive event of the HLC algorithm), keeping the
    /// bound relative to the estimated server time.
    pub fn observe(&mut self, remote: Hlc, device_now_ms: i64) {
        let limit = self.server_now(device_now_ms).saturating_add(MAX_AHEAD_MS);
        let remote_wall = remote.wall_ms.min(limit);
        if remote_wall > self.wall_ms {
            self.wall_ms = remote_wall;
            self.counter = remote.counter;
        }
        let _ = self.tick(device_now_ms);
    }

    fn bump(&mut self) {
        if self.counter == u32::MAX {
            self.wall_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
    }

    fn current(&self) -> Hlc {
        Hlc {
            wall_ms: self.wall_ms,
            counter: self.counter,
            device: self.device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;
    const SERVER: i64 = 1_795_000_000_000; // a fixed instant in 2026

    #[test]
    fn text_form_round_trips_and_sorts() {
        let d = Uuid::now_v7();
        let a = Hlc {
            wall_ms: 5,
            counter: 2,
            device: d,
        };
        let b = Hlc {
            wall_ms: 40,
            counter: 0,
            device: d,
        };
        assert_eq!(a.to_string().parse::<Hlc>().unwrap(), a);
        assert!(a < b && a.to_string() < b.to_string());
        assert!("12-00001-x".parse::<Hlc>().is_err());
        assert!("".parse::<Hlc>().is_err());
    }

    #[test]
    fn device_a_day_behind_follows_the_server() {
        let mut c = ClockState::new(Uuid::now_v7());
        let device = SERVER - DAY;
        c.merge_server(SERVER, device);
        let t = c.tick(device + 1_000);
        assert!(
            (t.wall_ms - (SERVER + 1_000)).abs() < 10,
            "corrected by the offset: {t}"
        );
        let t2 = c.tick(device + 1_000);
        assert!(t2 > t);
    }

    #[test]
    fn device_ten_years_ahead_stays_within_five_minutes_of_the_server() {
        let mut c = ClockState::new(Uuid::now_v7());
        let device = SERVER + 3_650 * DAY;
        // Before any contact the raw clock is all there is.
        let early = c.tick(device);
        assert_eq!(early.wall_ms, device);
        c.merge_server(SERVER, device);
        assert!(c.wall_ms <= SERVER + MAX_AHEAD_MS);
        for i in 0..1_000 {
            let t = c.tick(device + i);
            assert!(t.wall_ms <= c.server_now(device + i) + MAX_AHEAD_MS, "{t}");
        }
    }

    #[test]
    fn observing_a_runaway_remote_is_clamped() {
        let mut c = ClockState::new(Uuid::now_v7());
        c.merge_server(SERVER, SERVER);
        let remote = Hlc {
            wall_ms: SERVER + 100 * DAY,
            counter: 7,
            device: Uuid::now_v7(),
        };
        c.observe(remote, SERVER);
        assert!(c.wall_ms <= SERVER + MAX_AHEAD_MS);
    }

    proptest! {
        /// Whatever the device clock does (jumps back, forward, stands still) and whenever server
        /// times arrive, ticks strictly increase and never pass the bound once the server is known.
        #[test]
        fn monotonic_and_bounded(
            skew in -3_650i64 * DAY..3_650 * DAY,
            steps in proptest::collection::vec((-60_000i64..60_000, proptest::bool::ANY), 1..200),
        ) {
            let mut c = ClockState::new(Uuid::now_v7());
            let mut server = SERVER;
            c.merge_server(server, server + skew);
            let mut device = server + skew;
            let mut last: Option<Hlc> = None;
            for (jump, respond) in steps {
                device += jump;
                server += jump.abs();
                if respond {
                    c.merge_server(server, device);
                    last = None; // a merge may pull a runaway clock back (documented)
                }
                let t = c.tick(device);
                if let Some(prev) = last {
                    prop_assert!(t > prev, "{prev} then {t}");
                }
                // The true server time only moves forward, so the bound holds against it.
                prop_assert!(t.wall_ms <= server + MAX_AHEAD_MS, "{t} vs server {server}");
                last = Some(t);
            }
        }
    }
}

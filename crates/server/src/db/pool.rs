//! A minimal blocking connection pool: connections are taken out and put back on drop.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::{DbError, DbResult};

/// A fixed set of connections.
pub struct Pool<C> {
    free: Mutex<Vec<C>>,
    ready: Condvar,
}

impl<C> std::fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pool")
    }
}

/// A connection on loan.
pub struct Pooled<'a, C> {
    pool: &'a Pool<C>,
    conn: Option<C>,
}

impl<C> Pool<C> {
    /// A pool over `conns`.
    pub fn new(conns: Vec<C>) -> Pool<C> {
        Pool {
            free: Mutex::new(conns),
            ready: Condvar::new(),
        }
    }

    /// Takes every free connection out of the pool (for shutdown).
    pub fn drain(&self) -> Vec<C> {
        self.free
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    /// Takes a connection if one is free now.
    pub fn try_get(&self) -> DbResult<Option<Pooled<'_, C>>> {
        let mut free = self
            .free
            .lock()
            .map_err(|_| DbError::Connection("pool poisoned".into()))?;
        Ok(free.pop().map(|conn| Pooled {
            pool: self,
            conn: Some(conn),
        }))
    }

    /// Takes a connection, waiting up to 30 s for one to be free.
    pub fn get(&self) -> DbResult<Pooled<'_, C>> {
        let mut free = self
            .free
            .lock()
            .map_err(|_| DbError::Connection("pool poisoned".into()))?;
        loop {
            if let Some(conn) = free.pop() {
                return Ok(Pooled {
                    pool: self,
                    conn: Some(conn),
                });
            }
            let (guard, timeout) = self
                .ready
                .wait_timeout(free, Duration::from_secs(30))
                .map_err(|_| DbError::Connection("pool poisoned".into()))?;
            free = guard;
            if timeout.timed_out() && free.is_empty() {
                return Err(DbError::Connection(
                    "no free database connection for 30 s".into(),
                ));
            }
        }
    }
}

impl<C> Pooled<'_, C> {
    /// The connection.
    pub fn conn(&mut self) -> DbResult<&mut C> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::Connection("connection lost".into()))
    }

    /// Puts a fresh connection in place of a broken one.
    pub fn replace(&mut self, conn: C) {
        self.conn = Some(conn);
    }

    /// Drops the connection instead of returning it (after it broke).
    pub fn discard(&mut self) {
        self.conn = None;
    }
}

impl<C> Drop for Pooled<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Ok(mut free) = self.pool.free.lock()
        {
            free.push(conn);
            self.pool.ready.notify_one();
        }
    }
}

//! The xenstore client interface a driver domain needs: keys, directories, permissions,
//! watches and transactions. The real client speaks [`crate::xenstore`]'s wire format over
//! the shared page; the simulated host answers from memory.

use crate::errno::{self, Errno};
use crate::grant::DomId;

/// A transaction id; [`NO_TRANSACTION`] outside transactions.
pub type TxId = u32;
pub const NO_TRANSACTION: TxId = 0;

/// Why a xenstore operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XsError {
    /// The node does not exist (`ENOENT`).
    NotFound,
    /// Permissions forbid it (`EACCES`).
    Denied,
    /// The transaction conflicted with another change: start it again (`EAGAIN`).
    Again,
    /// A path or value that is malformed or too long (`EINVAL`, `E2BIG`).
    Invalid,
    /// The caller's buffer is too small for the value; `needed` bytes are required.
    BufferTooSmall { needed: usize },
    /// The connection to xenstored failed (broken ring, protocol error).
    Transport,
    /// Any other error the daemon reported.
    Other(Errno),
}

impl XsError {
    /// The error a daemon's errno means.
    pub fn from_errno(e: Errno) -> XsError {
        match e {
            errno::ENOENT => XsError::NotFound,
            errno::EACCES | errno::EPERM => XsError::Denied,
            errno::EAGAIN => XsError::Again,
            errno::EINVAL | errno::E2BIG => XsError::Invalid,
            other => XsError::Other(other),
        }
    }
}

impl core::fmt::Display for XsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            XsError::NotFound => write!(f, "no such node"),
            XsError::Denied => write!(f, "permission denied"),
            XsError::Again => write!(f, "transaction conflict, retry"),
            XsError::Invalid => write!(f, "invalid path or value"),
            XsError::BufferTooSmall { needed } => write!(f, "value needs {needed} bytes"),
            XsError::Transport => write!(f, "xenstore connection failed"),
            XsError::Other(e) => write!(f, "xenstore error {e}"),
        }
    }
}

/// One entry of a node's permission list. The first entry names the owner (who may do
/// everything) and, through `read`/`write`, what everyone else not listed may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    pub domid: DomId,
    pub read: bool,
    pub write: bool,
}

/// A xenstore connection.
pub trait Xenstore {
    /// Our own domain id.
    fn domid(&self) -> DomId;

    /// Reads `path` into `buf`, returning the value's length.
    /// Errors: `NotFound`, `Denied`, `BufferTooSmall`, `Transport`, `Other`.
    fn read(&mut self, tx: TxId, path: &str, buf: &mut [u8]) -> Result<usize, XsError>;

    /// Writes `value` at `path`, creating missing parents.
    /// Errors: `Denied`, `Invalid`, `Again` (inside a transaction), `Transport`, `Other`.
    fn write(&mut self, tx: TxId, path: &str, value: &[u8]) -> Result<(), XsError>;

    /// Calls `child` with the name of each child of `path`.
    /// Errors: `NotFound`, `Denied`, `Transport`, `Other`.
    fn directory(
        &mut self,
        tx: TxId,
        path: &str,
        child: &mut dyn FnMut(&str),
    ) -> Result<(), XsError>;

    /// Removes `path` and everything below it. Errors: `NotFound`, `Denied`, `Transport`.
    fn remove(&mut self, tx: TxId, path: &str) -> Result<(), XsError>;

    /// Replaces the permissions of `path`. Errors: `NotFound`, `Denied`, `Invalid`.
    fn set_perms(&mut self, tx: TxId, path: &str, perms: &[Perm]) -> Result<(), XsError>;

    /// Watches `path` and everything below it. The daemon fires once right away, then on
    /// every change; events are collected by [`Xenstore::take_watch_events`].
    /// Errors: `Denied`, `Invalid`, `Transport`.
    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError>;

    /// Stops a watch. Errors: `NotFound`, `Transport`.
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError>;

    /// Calls `event(path, token)` for each watch event that arrived, and forgets them.
    fn take_watch_events(&mut self, event: &mut dyn FnMut(&str, &str));

    /// Starts a transaction. Errors: `Transport`, `Other` (too many transactions).
    fn transaction_start(&mut self) -> Result<TxId, XsError>;

    /// Commits (or with `commit == false` abandons) a transaction.
    /// Errors: `Again` (conflict: nothing was written, start over), `NotFound` (unknown id).
    fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError>;
}

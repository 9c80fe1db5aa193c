//! Xen error numbers (`xen/include/public/errno.h`).
//!
//! Hypercalls and the PV protocols report errors as these values, negated (a sndif response
//! `status` is `-XEN_EINVAL` and so on). On x86 they equal Linux's errno values, which is why
//! a Linux frontend can hand a backend's status straight to its application. The two values
//! the header keeps for the hypervisor's own use (`#ifdef __XEN__`) are left out.

/// A Xen error number (positive, as in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The negative form carried in response `status` fields and hypercall returns.
    pub const fn negated(self) -> i32 {
        -self.0
    }

    /// The errno a negative status names, if it is one (`-22` is `EINVAL`).
    pub const fn from_status(status: i32) -> Option<Errno> {
        if status < 0 && status != i32::MIN {
            Some(Errno(-status))
        } else {
            None
        }
    }

    /// The header's name for this value (`"EINVAL"`), if it has one.
    pub fn name(self) -> Option<&'static str> {
        ALL.iter().find(|(_, e)| *e == self).map(|(name, _)| *name)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// Operation not permitted.
pub const EPERM: Errno = Errno(1);
/// No such file or directory.
pub const ENOENT: Errno = Errno(2);
/// No such process.
pub const ESRCH: Errno = Errno(3);
/// I/O error.
pub const EIO: Errno = Errno(5);
/// No such device or address.
pub const ENXIO: Errno = Errno(6);
/// Arg list too long.
pub const E2BIG: Errno = Errno(7);
/// Exec format error.
pub const ENOEXEC: Errno = Errno(8);
/// Bad file number.
pub const EBADF: Errno = Errno(9);
/// No child processes.
pub const ECHILD: Errno = Errno(10);
/// Try again.
pub const EAGAIN: Errno = Errno(11);
/// Operation would block. Aliases EAGAIN.
pub const EWOULDBLOCK: Errno = Errno(11);
/// Out of memory.
pub const ENOMEM: Errno = Errno(12);
/// Permission denied.
pub const EACCES: Errno = Errno(13);
/// Bad address.
pub const EFAULT: Errno = Errno(14);
/// Device or resource busy.
pub const EBUSY: Errno = Errno(16);
/// File exists.
pub const EEXIST: Errno = Errno(17);
/// Cross-device link.
pub const EXDEV: Errno = Errno(18);
/// No such device.
pub const ENODEV: Errno = Errno(19);
/// Not a directory.
pub const ENOTDIR: Errno = Errno(20);
/// Is a directory.
pub const EISDIR: Errno = Errno(21);
/// Invalid argument.
pub const EINVAL: Errno = Errno(22);
/// File table overflow.
pub const ENFILE: Errno = Errno(23);
/// Too many open files.
pub const EMFILE: Errno = Errno(24);
/// No space left on device.
pub const ENOSPC: Errno = Errno(28);
/// Read-only file system.
pub const EROFS: Errno = Errno(30);
/// Too many links.
pub const EMLINK: Errno = Errno(31);
/// Math argument out of domain of func.
pub const EDOM: Errno = Errno(33);
/// Math result not representable.
pub const ERANGE: Errno = Errno(34);
/// Resource deadlock would occur.
pub const EDEADLK: Errno = Errno(35);
/// Resource deadlock would occur. Aliases EDEADLK.
pub const EDEADLOCK: Errno = Errno(35);
/// File name too long.
pub const ENAMETOOLONG: Errno = Errno(36);
/// No record locks available.
pub const ENOLCK: Errno = Errno(37);
/// Function not implemented.
pub const ENOSYS: Errno = Errno(38);
/// Directory not empty.
pub const ENOTEMPTY: Errno = Errno(39);
/// No data available.
pub const ENODATA: Errno = Errno(61);
/// Timer expired.
pub const ETIME: Errno = Errno(62);
/// Not a data message.
pub const EBADMSG: Errno = Errno(74);
/// Value too large for defined data type.
pub const EOVERFLOW: Errno = Errno(75);
/// Illegal byte sequence.
pub const EILSEQ: Errno = Errno(84);
/// Socket operation on non-socket.
pub const ENOTSOCK: Errno = Errno(88);
/// Message too large.
pub const EMSGSIZE: Errno = Errno(90);
/// Operation not supported on transport endpoint.
pub const EOPNOTSUPP: Errno = Errno(95);
/// Address already in use.
pub const EADDRINUSE: Errno = Errno(98);
/// Cannot assign requested address.
pub const EADDRNOTAVAIL: Errno = Errno(99);
/// No buffer space available.
pub const ENOBUFS: Errno = Errno(105);
/// Transport endpoint is already connected.
pub const EISCONN: Errno = Errno(106);
/// Transport endpoint is not connected.
pub const ENOTCONN: Errno = Errno(107);
/// Connection timed out.
pub const ETIMEDOUT: Errno = Errno(110);
/// Connection refused.
pub const ECONNREFUSED: Errno = Errno(111);

/// Every entry of the header, in its order (aliases included).
pub const ALL: &[(&str, Errno)] = &[
    ("EPERM", EPERM),
    ("ENOENT", ENOENT),
    ("ESRCH", ESRCH),
    ("EIO", EIO),
    ("ENXIO", ENXIO),
    ("E2BIG", E2BIG),
    ("ENOEXEC", ENOEXEC),
    ("EBADF", EBADF),
    ("ECHILD", ECHILD),
    ("EAGAIN", EAGAIN),
    ("EWOULDBLOCK", EWOULDBLOCK),
    ("ENOMEM", ENOMEM),
    ("EACCES", EACCES),
    ("EFAULT", EFAULT),
    ("EBUSY", EBUSY),
    ("EEXIST", EEXIST),
    ("EXDEV", EXDEV),
    ("ENODEV", ENODEV),
    ("ENOTDIR", ENOTDIR),
    ("EISDIR", EISDIR),
    ("EINVAL", EINVAL),
    ("ENFILE", ENFILE),
    ("EMFILE", EMFILE),
    ("ENOSPC", ENOSPC),
    ("EROFS", EROFS),
    ("EMLINK", EMLINK),
    ("EDOM", EDOM),
    ("ERANGE", ERANGE),
    ("EDEADLK", EDEADLK),
    ("EDEADLOCK", EDEADLOCK),
    ("ENAMETOOLONG", ENAMETOOLONG),
    ("ENOLCK", ENOLCK),
    ("ENOSYS", ENOSYS),
    ("ENOTEMPTY", ENOTEMPTY),
    ("ENODATA", ENODATA),
    ("ETIME", ETIME),
    ("EBADMSG", EBADMSG),
    ("EOVERFLOW", EOVERFLOW),
    ("EILSEQ", EILSEQ),
    ("ENOTSOCK", ENOTSOCK),
    ("EMSGSIZE", EMSGSIZE),
    ("EOPNOTSUPP", EOPNOTSUPP),
    ("EADDRINUSE", EADDRINUSE),
    ("EADDRNOTAVAIL", EADDRNOTAVAIL),
    ("ENOBUFS", ENOBUFS),
    ("EISCONN", EISCONN),
    ("ENOTCONN", ENOTCONN),
    ("ETIMEDOUT", ETIMEDOUT),
    ("ECONNREFUSED", ECONNREFUSED),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_negation() {
        assert_eq!(EINVAL.negated(), -22);
        assert_eq!(Errno::from_status(-22), Some(EINVAL));
        assert_eq!(Errno::from_status(0), None);
        assert_eq!(Errno::from_status(i32::MIN), None);
    }

    #[test]
    fn names_come_from_the_table() {
        assert_eq!(EACCES.name(), Some("EACCES"));
        assert_eq!(Errno(1000).name(), None);
    }
}

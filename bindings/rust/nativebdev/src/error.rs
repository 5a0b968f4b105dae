//! Errors: a refused call (negative errno and what nb_last_error() said about it) or an I/O
//! that completed with an error status.
use std::ffi::CStr;
use std::fmt;

use nativebdev_sys as sys;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A call was refused: `errno` (positive) and the library's message (nb_last_error()).
    Call { op: &'static str, errno: i32, message: String },
    /// An I/O was accepted and completed with `-errno`. The library has no message for it:
    /// completions run in a later poll, where nb_last_error() belongs to other calls.
    Io { errno: i32 },
}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The refusal of `op` with return code `rc` (a negative errno, or anything else for
    /// calls that return NULL), with nb_last_error()'s message. Call it right after the
    /// failing call, on the same OS thread.
    pub(crate) fn last(op: &'static str, rc: i32) -> Error {
        let message = unsafe { CStr::from_ptr(sys::nb_last_error()) }.to_string_lossy().into_owned();
        let errno = if rc < 0 { -rc } else { errno_from_message(&message) };
        Error::Call { op, errno, message }
    }

    /// Checks a C return code: negative is a refusal.
    pub(crate) fn check(op: &'static str, rc: i32) -> Result<i32> {
        if rc < 0 { Err(Error::last(op, rc)) } else { Ok(rc) }
    }

    pub(crate) fn status(status: i32) -> Result<()> {
        if status == 0 { Ok(()) } else { Err(Error::Io { errno: -status }) }
    }

    /// The errno (positive: `libc`'s EINVAL is 22).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Call { errno, .. } | Error::Io { errno } => *errno,
        }
    }

    /// The library's message ("" for an I/O completion).
    pub fn message(&self) -> &str {
        match self {
            Error::Call { message, .. } => message,
            Error::Io { .. } => "",
        }
    }
}

/// Calls returning NULL give no errno; the library's messages name it as "(-N)" or "-N" in
/// most refusals. Without one, EINVAL (22) stands for "refused".
fn errno_from_message(message: &str) -> i32 {
    let bytes = message.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'-' && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let digits: String = message[i + 1..].chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse::<i32>() {
                if n > 0 && n < 4096 {
                    return n;
                }
            }
        }
    }
    22
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Call { op, errno, message } => write!(f, "{op} failed (-{errno}): {message}"),
            Error::Io { errno } => write!(f, "I/O completed with -{errno}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_found_in_messages() {
        assert_eq!(errno_from_message("uring: cannot set up a ring (-12): ENOMEM"), 12);
        assert_eq!(errno_from_message("no thread"), 22);
        assert_eq!(errno_from_message("size-mb bad"), 22);
    }

    #[test]
    fn display_names_the_call_and_errno() {
        let e = Error::Call { op: "nb_bdev_create", errno: 95, message: "unknown scheme".into() };
        assert_eq!(e.to_string(), "nb_bdev_create failed (-95): unknown scheme");
        assert_eq!(Error::status(-5), Err(Error::Io { errno: 5 }));
        assert_eq!(Error::status(0), Ok(()));
    }
}

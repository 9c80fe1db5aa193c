//! The audio driver traits every device driver implements and the backend consumes.

#![no_std]
#![forbid(unsafe_code)]

//! Host-only peer for the ring tests: C ends built from the real Xen `ring.h` macros.

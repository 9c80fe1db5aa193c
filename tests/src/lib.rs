//! Support for the end-to-end tests: the simulated Xen host and the QEMU harness.

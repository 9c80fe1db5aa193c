//! The unikernel runtime: boot entries, CPU and memory setup, interrupts, console, PCI and
//! exit, and the real Xen interfaces behind the `xen-ring` traits.
//!
//! Every way the image is started (Multiboot1, Xen PVH, the Linux boot protocol) is normalised into one
//! [`BootInfo`]; nothing after the entry asks how it was booted. This crate and the drivers'
//! register layer are the only places with `unsafe`.

#![no_std]

extern crate alloc;

pub mod acpi;
pub mod apic;
pub mod bootinfo;
pub mod console;
pub mod cpu;
pub mod dma;
pub mod exit;
pub mod fault;
pub mod hda;
pub mod heap;
pub mod irq;
pub mod paging;
pub mod pci;
pub mod port;
pub mod time;
pub mod xen;

#[cfg(target_os = "none")]
mod entry;
#[cfg(target_os = "none")]
mod idt;
#[cfg(target_os = "none")]
mod linux;

pub use bootinfo::{BootInfo, BootPath};

/// Declares the image's main function: `boot::entry!(main)` with `fn main(&BootInfo) -> !`.
/// The runtime calls it once the CPU is in long mode with the console and exception
/// reporting set up.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn audiovm_main(info: &$crate::BootInfo) -> ! {
            let main: fn(&$crate::BootInfo) -> ! = $main;
            main(info)
        }
    };
}

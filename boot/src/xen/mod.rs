//! The real Xen interfaces behind the `xen-ring` traits: hypercalls, `shared_info`, event
//! channels (2-level ABI, polled), grant mapping and copying, and the xenstore connection.
//!
//! The same code runs whether the image was started as an HVM domain (Multiboot or the Linux
//! boot protocol, with the card) or as PVH: both find Xen through CPUID, get the hypercall
//! page through an MSR and their xenstore page through HVM parameters.
//!
//! Events are polled, not taken as interrupts: the domain wakes every millisecond on its
//! LAPIC timer anyway, and the backend's work is driven by that tick. This keeps interrupt
//! routing (callback vectors, per-vCPU upcalls) out of the picture.

mod abi;
pub mod console;
pub mod evtchn;
pub mod gnttab;
pub mod hypercall;
pub mod page;
pub mod store;

use core::cell::UnsafeCell;

use crate::cpu;

pub use console::PvConsole;
pub use evtchn::XenEvtchn;
pub use gnttab::XenGrants;
pub use store::XenStore;

/// Why Xen could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XenError {
    /// A hypercall failed with this `-errno`.
    Hypercall { op: &'static str, rc: i64 },
    /// An HVM parameter Xen should have set is zero.
    MissingParam(u32),
    /// The domain's RAM reaches into the window where guests' pages are mapped.
    RamInGrantWindow,
}

impl core::fmt::Display for XenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            XenError::Hypercall { op, rc } => write!(f, "{op} failed: {rc}"),
            XenError::MissingParam(p) => write!(f, "HVM parameter {p} is not set"),
            XenError::RamInGrantWindow => {
                write!(
                    f,
                    "more than 2 GiB of RAM: the grant window would overlap it"
                )
            }
        }
    }
}

/// Guest-physical window for mapping guests' pages: 16 MiB at 2 GiB, far above the few MiB
/// of RAM a driver domain has and below the PCI hole hvmloader puts at 3 GiB and up.
const GRANT_WINDOW: usize = 0x8000_0000;
const GRANT_PAGES: usize = 4096;

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// The CPUID leaf base at which Xen announces itself (it moves up by 0x100 when Xen also
/// presents Viridian or another interface first).
pub fn detect() -> Option<u32> {
    cpu::hypervisor_signature()?;
    (0x4000_0000..0x4001_0000).step_by(0x100).find(|&base| {
        let (max, b, c, d) = cpu::cpuid(base);
        b == u32::from_le_bytes(*b"XenV")
            && c == u32::from_le_bytes(*b"MMXe")
            && d == u32::from_le_bytes(*b"nVMM")
            && max >= base + 2
    })
}

#[repr(C, align(4096))]
struct SharedInfoPage(UnsafeCell<[u8; 4096]>);

// SAFETY: after `init` the page belongs to Xen; we only touch it through atomics.
unsafe impl Sync for SharedInfoPage {}

static SHARED_INFO: SharedInfoPage = SharedInfoPage(UnsafeCell::new([0; 4096]));

/// Xen, set up: the hypercall page installed and `shared_info` mapped.
#[derive(Debug, Clone, Copy)]
pub struct Xen {
    pub version: (u32, u32),
    shared_info: usize,
}

impl Xen {
    /// Installs the hypercall page and maps `shared_info`. Call once.
    pub fn init(base: u32) -> Result<Xen, XenError> {
        let (_, msr, _, _) = cpu::cpuid(base + 2);
        hypercall::install(msr);
        // SAFETY: XENVER_version takes no argument.
        let version = unsafe { hypercall::call(hypercall::XEN_VERSION, 0, 0, 0) } as u32;
        let shared_info = SHARED_INFO.0.get() as usize;
        let mut add = abi::AddToPhysmap {
            domid: DOMID_SELF,
            size: 0,
            space: abi::XENMAPSPACE_SHARED_INFO,
            idx: 0,
            gpfn: (shared_info >> 12) as u64,
        };
        // SAFETY: a valid xen_add_to_physmap for our own page-aligned static page, which
        // from now on is Xen's shared_info and only touched through atomics.
        let rc = unsafe {
            hypercall::call(
                hypercall::MEMORY_OP,
                abi::XENMEM_ADD_TO_PHYSMAP,
                &mut add as *mut _ as u64,
                0,
            )
        };
        if rc != 0 {
            return Err(XenError::Hypercall {
                op: "XENMEM_add_to_physmap(shared_info)",
                rc,
            });
        }
        Ok(Xen {
            version: (version >> 16, version & 0xffff),
            shared_info,
        })
    }

    /// An HVM parameter of our own domain.
    pub fn hvm_param(&self, index: u32) -> Result<u64, XenError> {
        let mut param = abi::HvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value: 0,
        };
        // SAFETY: a valid xen_hvm_param Xen fills in.
        let rc = unsafe {
            hypercall::call(
                hypercall::HVM_OP,
                abi::HVMOP_GET_PARAM,
                &mut param as *mut _ as u64,
                0,
            )
        };
        if rc != 0 {
            return Err(XenError::Hypercall {
                op: "HVMOP_get_param",
                rc,
            });
        }
        Ok(param.value)
    }

    /// Grant mapping into the window at 2 GiB, once `info`'s memory map shows no RAM there.
    pub fn grants(&self, info: &crate::BootInfo) -> Result<XenGrants, XenError> {
        let highest_ram = info
            .regions()
            .iter()
            .filter(|r| r.is_ram())
            .map(|r| r.base + r.len)
            .max()
            .unwrap_or(0);
        if highest_ram > GRANT_WINDOW as u64 {
            return Err(XenError::RamInGrantWindow);
        }
        // SAFETY: the window is above all our RAM (checked above), below the PCI hole, and
        // identity-mapped by the entry code; nothing else uses it.
        Ok(unsafe { XenGrants::new(GRANT_WINDOW, GRANT_PAGES) })
    }

    /// Our event channels.
    pub fn event_channels(&self) -> XenEvtchn {
        XenEvtchn::new(self.shared_info)
    }

    /// The PV console (its page and event channel from the HVM parameters).
    pub fn console(&self) -> Result<PvConsole, XenError> {
        let pfn = self.hvm_param(abi::HVM_PARAM_CONSOLE_PFN)?;
        let port = self.hvm_param(abi::HVM_PARAM_CONSOLE_EVTCHN)?;
        if pfn == 0 || port == 0 {
            return Err(XenError::MissingParam(abi::HVM_PARAM_CONSOLE_PFN));
        }
        // SAFETY: Xen set this page aside for the console (it is not in the RAM map the
        // heap and DMA pools come from), and the console is created once.
        let page = unsafe { page::PhysPage::new((pfn << 12) as usize) };
        Ok(PvConsole::new(page, port as u32, self.event_channels()))
    }

    /// The xenstore connection (its page and event channel from the HVM parameters).
    pub fn xenstore(&self) -> Result<XenStore, XenError> {
        let pfn = self.hvm_param(abi::HVM_PARAM_STORE_PFN)?;
        let port = self.hvm_param(abi::HVM_PARAM_STORE_EVTCHN)?;
        if pfn == 0 {
            return Err(XenError::MissingParam(abi::HVM_PARAM_STORE_PFN));
        }
        Ok(store::connect(
            (pfn << 12) as usize,
            port as u32,
            self.event_channels(),
        ))
    }
}

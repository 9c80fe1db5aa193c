//! The Linux `xen-snd-front` model, step by step (pv-sound.md §2). So far: the connect step
//! (`xen_snd_front_evtchnl_create_all` + `_publish_all`): per stream a request ring and an
//! event page granted read-write to the backend, two unbound event channels, the four keys
//! written in one transaction, then Initialised.

use std::rc::Rc;

use xen_ring::evtchn::Port;
use xen_ring::grant::{DomId, GrantRef};
use xen_ring::shmem::{AtomicPage, SharedMem};
use xen_ring::sndif::{EventConsumer, SndifFrontRing};
use xen_ring::xs::{Xenstore, XsError};

use super::evtchn::EvtchnHost;
use super::grant::GrantHost;
use super::toolstack::VsndDevice;
use super::xenstore::XenstoreHost;

/// A page of the guest's own memory (the frontend's side of a granted page).
#[derive(Clone)]
pub struct GuestPage(pub Rc<AtomicPage>);

impl SharedMem for GuestPage {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn load_u32(&self, offset: usize) -> u32 {
        self.0.load_u32(offset)
    }
    fn store_u32(&self, offset: usize, value: u32) {
        self.0.store_u32(offset, value)
    }
    fn read(&self, offset: usize, buf: &mut [u8]) {
        self.0.read(offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) {
        self.0.write(offset, data)
    }
}

/// One stream's frontend end.
pub struct FrontStream {
    pub name: String,
    pub ring: SndifFrontRing<GuestPage>,
    pub events: EventConsumer<GuestPage>,
    pub ring_ref: GrantRef,
    pub evt_ref: GrantRef,
    pub request_port: Port,
    pub event_port: Port,
}

/// What the frontend set up for a device.
pub struct FrontDevice {
    pub streams: Vec<FrontStream>,
}

/// The four keys' values a stream publishes; tests of hostile frontends change them.
pub type KeyEdit<'a> = &'a dyn Fn(&str, &str, String) -> Option<String>;

/// Connects the frontend of `device` as Linux does, once the backend is in InitWait.
/// `edit(stream, key, value)` may replace or drop (None) a value, to play a broken guest.
pub fn connect(
    xs: &XenstoreHost,
    grants: &GrantHost,
    evtchn: &EvtchnHost,
    device: &VsndDevice,
    edit: KeyEdit,
) -> Result<FrontDevice, XsError> {
    let fe = device.frontend_path();
    let mut guest = xs.connect(device.frontend);
    let mut streams = Vec::new();
    for d in 0..8u32 {
        if xs.peek(&format!("{fe}/{d}/name")).is_none() {
            break;
        }
        for s in 0..8u32 {
            if xs.peek(&format!("{fe}/{d}/{s}/type")).is_none() {
                break;
            }
            let ring_page = Rc::new(AtomicPage::new());
            let evt_page = Rc::new(AtomicPage::new());
            let ring = SndifFrontRing::init(GuestPage(ring_page.clone()));
            let events = EventConsumer::init(GuestPage(evt_page.clone()));
            let (front, back): (DomId, DomId) = (device.frontend, device.backend);
            let ring_ref = grants.grant(front, back, ring_page, false);
            let evt_ref = grants.grant(front, back, evt_page, false);
            let request_port = evtchn.alloc_unbound(front, back);
            let event_port = evtchn.alloc_unbound(front, back);
            streams.push(FrontStream {
                name: format!("{d}/{s}"),
                ring,
                events,
                ring_ref,
                evt_ref,
                request_port,
                event_port,
            });
        }
    }
    loop {
        let tx = guest.transaction_start()?;
        for stream in &streams {
            let keys = [
                ("ring-ref", stream.ring_ref.to_string()),
                ("event-channel", stream.request_port.to_string()),
                ("evt-ring-ref", stream.evt_ref.to_string()),
                ("evt-event-channel", stream.event_port.to_string()),
            ];
            for (key, value) in keys {
                if let Some(value) = edit(&stream.name, key, value) {
                    guest.write(tx, &format!("{fe}/{}/{key}", stream.name), value.as_bytes())?;
                }
            }
        }
        guest.write(tx, &format!("{fe}/state"), b"3")?;
        match guest.transaction_end(tx, true) {
            Err(XsError::Again) => continue,
            Err(e) => return Err(e),
            Ok(()) => return Ok(FrontDevice { streams }),
        }
    }
}

/// Publishes the keys unchanged.
pub fn as_linux(_: &str, _: &str, value: String) -> Option<String> {
    Some(value)
}

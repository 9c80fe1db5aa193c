//! A connected frontend: for every stream it published, the request ring and event page
//! mapped and both event channels bound (pv-sound.md §1.2, §2.3).
//!
//! Linux publishes `ring-ref`, `event-channel`, `evt-ring-ref` and `evt-event-channel` for
//! each stream `<device>/<stream>` (devices and streams numbered from 0, at most 8 each) in
//! one transaction before going Initialised. Every value is guest-written: parsed strictly,
//! and a mapping or binding that fails undoes everything done so far.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use xen_ring::evtchn::{EventChannels, EvtchnError, Port};
use xen_ring::grant::{Access, DomId, GrantError, GrantTable};
use xen_ring::shmem::SharedMem;
use xen_ring::sndif::{
    EventPage, SndifBackRing, XENSND_FIELD_EVT_CHNL, XENSND_FIELD_EVT_EVT_CHNL,
    XENSND_FIELD_EVT_RING_REF, XENSND_FIELD_RING_REF, XENSND_FIELD_TYPE,
};
use xen_ring::xs::{NO_TRANSACTION, Xenstore};

use crate::hints::Hints;
use crate::playback::PlaybackSource;
use crate::policy::EventIds;
use crate::stream::{Kind, StreamState};

/// Linux's limits: `SNDRV_PCM_DEVICES` devices, `VSND_MAX_STREAM` streams each.
const MAX_DEVICES: u32 = 8;
const MAX_STREAMS: u32 = 8;

/// Why a frontend could not be connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// No stream at all was published.
    NoStreams,
    /// A transport key is missing or not a decimal number.
    BadKey(String),
    /// A page could not be mapped.
    Grant(GrantError),
    /// An event channel could not be bound.
    Evtchn(EvtchnError),
    /// A stream's `type` is neither "p" nor "c".
    BadType(String),
}

/// One stream's transport.
pub struct StreamChannel<P> {
    /// `<device>/<stream>` in the frontend's tree.
    pub name: String,
    pub ring: SndifBackRing<P>,
    pub events: EventPage<P>,
    pub request_port: Port,
    pub event_port: Port,
    /// The sndif protocol state (open buffer, pipeline, position).
    pub state: StreamState<P>,
    /// What the guest's configuration says about the stream (hints only).
    pub hints: Hints,
}

/// Every stream of one frontend device.
pub struct Connection<P> {
    pub streams: Vec<StreamChannel<P>>,
}

fn read_u32<X: Xenstore>(xs: &mut X, path: &str) -> Result<u32, ConnectError> {
    let mut buf = [0u8; 16];
    let bad = || ConnectError::BadKey(String::from(path));
    let len = xs.read(NO_TRANSACTION, path, &mut buf).map_err(|_| bad())?;
    let text = core::str::from_utf8(&buf[..len]).map_err(|_| bad())?;
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// A stream's `type`: "p" or "c", case-insensitive as Linux reads it.
fn read_kind<X: Xenstore>(xs: &mut X, path: &str) -> Result<Kind, ConnectError> {
    let mut buf = [0u8; 4];
    let len = xs
        .read(NO_TRANSACTION, path, &mut buf)
        .map_err(|_| ConnectError::BadType(String::from(path)))?;
    match &buf[..len] {
        b"p" | b"P" => Ok(Kind::Playback),
        b"c" | b"C" => Ok(Kind::Capture),
        _ => Err(ConnectError::BadType(String::from(path))),
    }
}

fn exists<X: Xenstore>(xs: &mut X, path: &str) -> bool {
    let mut buf = [0u8; 16];
    !matches!(
        xs.read(NO_TRANSACTION, path, &mut buf),
        Err(xen_ring::xs::XsError::NotFound)
    )
}

/// One stream as the frontend published it: read from xenstore, not yet mapped or bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    device: u32,
    stream: u32,
    kind: Kind,
    hints: Hints,
    ring_ref: u32,
    request_channel: u32,
    evt_ref: u32,
    evt_channel: u32,
}

/// Reads every stream the frontend at `frontend_path` published. Only xenstore: the caller
/// may keep the card fed between these round trips.
pub fn published<X: Xenstore>(
    xs: &mut X,
    frontend_id: DomId,
    frontend_path: &str,
) -> Result<Vec<Published>, ConnectError> {
    let mut streams = Vec::new();
    for device in 0..MAX_DEVICES {
        if !exists(xs, &format!("{frontend_path}/{device}")) {
            break;
        }
        for stream in 0..MAX_STREAMS {
            let dir = format!("{frontend_path}/{device}/{stream}");
            if !exists(xs, &dir) {
                break;
            }
            let kind = read_kind(xs, &format!("{dir}/{XENSND_FIELD_TYPE}"))?;
            let hints = Hints::read(xs, frontend_path, device, stream);
            log::info!(
                "vsnd {frontend_id} {device}/{stream}: {kind:?}, guest offers formats {:#x}, rates {:#x}, {}-{} channels, {} byte buffers",
                hints.formats.0,
                hints.rates,
                hints.channels_min,
                hints.channels_max,
                hints.buffer_bytes
            );
            if !hints.compressed().is_empty() {
                log::warn!(
                    "vsnd {frontend_id} {device}/{stream}: compressed formats {:#x} will be refused",
                    hints.compressed().0
                );
            }
            streams.push(Published {
                device,
                stream,
                kind,
                hints,
                ring_ref: read_u32(xs, &format!("{dir}/{XENSND_FIELD_RING_REF}"))?,
                request_channel: read_u32(xs, &format!("{dir}/{XENSND_FIELD_EVT_CHNL}"))?,
                evt_ref: read_u32(xs, &format!("{dir}/{XENSND_FIELD_EVT_RING_REF}"))?,
                evt_channel: read_u32(xs, &format!("{dir}/{XENSND_FIELD_EVT_EVT_CHNL}"))?,
            });
        }
    }
    if streams.is_empty() {
        return Err(ConnectError::NoStreams);
    }
    Ok(streams)
}

impl<P: SharedMem> Connection<P> {
    /// Maps and binds every stream the frontend (domain `frontend_id`) published. On error
    /// nothing stays mapped or bound.
    pub fn attach<G, E>(
        grants: &mut G,
        evtchn: &mut E,
        frontend_id: DomId,
        published: &[Published],
        event_ids: EventIds,
    ) -> Result<Connection<P>, ConnectError>
    where
        G: GrantTable<Page = P>,
        E: EventChannels,
    {
        let mut connection = Connection {
            streams: Vec::new(),
        };
        for stream in published {
            match attach_stream(grants, evtchn, frontend_id, stream, event_ids) {
                Ok(channel) => connection.streams.push(channel),
                Err(e) => {
                    connection.disconnect(grants, evtchn);
                    return Err(e);
                }
            }
        }
        Ok(connection)
    }

    /// Closes the ports and unmaps the pages, as on CLOSE of the whole device: the guest
    /// frees its grants right after it sees us leave Connected. Returns the pipelines of the
    /// streams that were playing, to be faded out.
    pub fn disconnect<G, E>(&mut self, grants: &mut G, evtchn: &mut E) -> Vec<PlaybackSource>
    where
        G: GrantTable<Page = P>,
        E: EventChannels,
    {
        let mut playing = Vec::new();
        for mut stream in self.streams.drain(..) {
            playing.extend(stream.state.close_playing(grants));
            let _ = evtchn.close(stream.request_port);
            let _ = evtchn.close(stream.event_port);
            for page in [stream.ring.into_inner(), stream.events.into_inner()] {
                if let Err(e) = grants.unmap(page) {
                    log::warn!("vsnd: stream {}: unmap failed: {e}", stream.name);
                }
            }
        }
        playing
    }
}

/// Maps one stream's pages and binds its channels; undoes what it did on error.
fn attach_stream<P, G, E>(
    grants: &mut G,
    evtchn: &mut E,
    frontend_id: DomId,
    stream: &Published,
    event_ids: EventIds,
) -> Result<StreamChannel<P>, ConnectError>
where
    P: SharedMem,
    G: GrantTable<Page = P>,
    E: EventChannels,
{
    let ring_page = grants
        .map(frontend_id, stream.ring_ref, Access::ReadWrite)
        .map_err(ConnectError::Grant)?;
    let event_page = match grants.map(frontend_id, stream.evt_ref, Access::ReadWrite) {
        Ok(page) => page,
        Err(e) => {
            let _ = grants.unmap(ring_page);
            return Err(ConnectError::Grant(e));
        }
    };
    let ports = evtchn
        .bind_interdomain(frontend_id, stream.request_channel)
        .and_then(
            |request| match evtchn.bind_interdomain(frontend_id, stream.evt_channel) {
                Ok(event) => Ok((request, event)),
                Err(e) => {
                    let _ = evtchn.close(request);
                    Err(e)
                }
            },
        );
    let (request_port, event_port) = match ports {
        Ok(ports) => ports,
        Err(e) => {
            let _ = grants.unmap(ring_page);
            let _ = grants.unmap(event_page);
            return Err(ConnectError::Evtchn(e));
        }
    };
    Ok(StreamChannel {
        name: format!("{}/{}", stream.device, stream.stream),
        ring: SndifBackRing::attach(ring_page),
        events: EventPage::attach(event_page),
        request_port,
        event_port,
        state: StreamState::new(stream.kind, event_ids),
        hints: stream.hints,
    })
}

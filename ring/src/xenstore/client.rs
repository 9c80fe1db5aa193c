//! A xenstore client over the shared page: the real implementation of [`Xenstore`].
//!
//! One request at a time: encode, push through the request ring (in pieces if the ring is
//! full), kick the daemon, then read until the reply with our `req_id` arrives. Watch events
//! that arrive meanwhile are queued (bounded: a flood drops the newest and counts them; the
//! backend rescans everything on any event, so a dropped event loses nothing). Waiting is the
//! platform's business: [`Doorbell::wait`] returns false once it has waited too long, and the
//! request fails with `Transport` rather than hanging the domain.

use heapless::{Deque, String};

use super::{Decoder, codec::Message};
use super::{DomainInterface, HEADER_SIZE, MsgType, Reply, XENSTORE_PAYLOAD_MAX, encode, strings};
use crate::errno::Errno;
use crate::grant::DomId;
use crate::shmem::SharedMem;
use crate::xs::{Perm, TxId, Xenstore, XsError};

/// How the client signals xenstored and waits for it.
pub trait Doorbell {
    /// Notifies the daemon (the xenstore event channel).
    fn ring(&mut self);
    /// Waits for the daemon to notify us or a short while to pass. Returns false when the
    /// caller has waited long enough in total for this request (the daemon is gone).
    fn wait(&mut self) -> bool;
    /// A new request starts: the total waiting time starts from zero.
    fn start(&mut self) {}
}

/// Queued watch events.
const EVENTS: usize = 32;
const PATH_MAX: usize = 256;
const TOKEN_MAX: usize = 32;

type Event = (String<PATH_MAX>, String<TOKEN_MAX>);

/// A connection to xenstored through our domain's xenstore page.
pub struct Client<M, D> {
    page: DomainInterface<M>,
    doorbell: D,
    domid: DomId,
    decoder: Decoder,
    next_id: u32,
    events: Deque<Event, EVENTS>,
    /// Events dropped because the queue was full.
    pub dropped_events: u32,
    /// The reply to the request in flight, copied out of the decoder.
    reply: [u8; XENSTORE_PAYLOAD_MAX],
}

enum Outcome {
    Ok(usize),
    Err(Errno),
}

impl<M: SharedMem, D: Doorbell> Client<M, D> {
    /// A client on `page` for domain `domid` (read it from `domid` in xenstore, or from
    /// the boot information).
    pub fn new(page: M, doorbell: D, domid: DomId) -> Self {
        Client {
            page: DomainInterface::new(page),
            doorbell,
            domid,
            decoder: Decoder::new(),
            next_id: 1,
            events: Deque::new(),
            dropped_events: 0,
            reply: [0; XENSTORE_PAYLOAD_MAX],
        }
    }

    /// Sets our domain id once xenstore told us (`read("domid")`: relative paths are
    /// relative to our own domain's directory).
    pub fn set_domid(&mut self, domid: DomId) {
        self.domid = domid;
    }

    /// The doorbell (the image polls its event channel through it).
    pub fn doorbell(&mut self) -> &mut D {
        &mut self.doorbell
    }

    /// Sends one request and waits for its reply; returns the reply payload's length in
    /// `self.reply`.
    fn request(
        &mut self,
        kind: MsgType,
        tx: TxId,
        args: &[&[u8]],
        value: &[u8],
    ) -> Result<usize, XsError> {
        let mut message = [0u8; HEADER_SIZE + XENSTORE_PAYLOAD_MAX];
        let req_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let len =
            encode(kind, req_id, tx, args, value, &mut message).map_err(|_| XsError::Invalid)?;
        self.doorbell.start();
        let mut sent = 0;
        while sent < len {
            let n = self
                .page
                .write_request(&message[sent..len])
                .map_err(|_| XsError::Transport)?;
            sent += n;
            self.doorbell.ring();
            if n == 0 && !self.doorbell.wait() {
                return Err(XsError::Transport);
            }
        }
        loop {
            if let Some(outcome) = self.pump(Some(req_id))? {
                return match outcome {
                    Outcome::Ok(len) => Ok(len),
                    Outcome::Err(e) => Err(XsError::from_errno(e)),
                };
            }
            if !self.doorbell.wait() {
                return Err(XsError::Transport);
            }
        }
    }

    /// Reads what the daemon sent: queues watch events and, if `want` names a request,
    /// returns its outcome once it has arrived.
    fn pump(&mut self, want: Option<u32>) -> Result<Option<Outcome>, XsError> {
        let mut chunk = [0u8; 1024];
        let mut outcome = None;
        loop {
            let n = self
                .page
                .read_response(&mut chunk)
                .map_err(|_| XsError::Transport)?;
            if n == 0 {
                return Ok(outcome);
            }
            // The daemon may have stalled for lack of room: tell it there is some now.
            self.doorbell.ring();
            let (events, dropped, reply) =
                (&mut self.events, &mut self.dropped_events, &mut self.reply);
            self.decoder.feed(&chunk[..n], |message| {
                let Ok(message) = message else { return };
                handle(message, want, events, dropped, reply, &mut outcome);
            });
            if self.decoder.is_broken() {
                return Err(XsError::Transport);
            }
        }
    }

    fn path_request(&mut self, kind: MsgType, tx: TxId, path: &str) -> Result<usize, XsError> {
        self.request(kind, tx, &[path.as_bytes()], &[])
    }
}

/// Files one decoded message: a watch event into the queue, our reply into `reply`.
fn handle(
    message: Message<'_>,
    want: Option<u32>,
    events: &mut Deque<Event, EVENTS>,
    dropped: &mut u32,
    reply: &mut [u8; XENSTORE_PAYLOAD_MAX],
    outcome: &mut Option<Outcome>,
) {
    match message.reply() {
        Ok(Reply::WatchEvent { path, token }) => {
            let (Ok(path), Ok(token)) = (String::try_from(path), String::try_from(token)) else {
                *dropped += 1;
                return;
            };
            if events.push_back((path, token)).is_err() {
                *dropped += 1;
            }
        }
        Ok(Reply::Ok {
            req_id, payload, ..
        }) if Some(req_id) == want => {
            let n = payload.len().min(reply.len());
            reply[..n].copy_from_slice(&payload[..n]);
            *outcome = Some(Outcome::Ok(n));
        }
        Ok(Reply::Error { req_id, errno }) if Some(req_id) == want => {
            *outcome = Some(Outcome::Err(errno));
        }
        // Late replies to requests we gave up on, unknown types: nothing to do.
        _ => {}
    }
}

impl<M: SharedMem, D: Doorbell> Xenstore for Client<M, D> {
    fn domid(&self) -> DomId {
        self.domid
    }

    fn read(&mut self, tx: TxId, path: &str, buf: &mut [u8]) -> Result<usize, XsError> {
        let len = self.path_request(MsgType::Read, tx, path)?;
        if len > buf.len() {
            return Err(XsError::BufferTooSmall { needed: len });
        }
        buf[..len].copy_from_slice(&self.reply[..len]);
        Ok(len)
    }

    fn write(&mut self, tx: TxId, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.request(MsgType::Write, tx, &[path.as_bytes()], value)
            .map(|_| ())
    }

    fn directory(
        &mut self,
        tx: TxId,
        path: &str,
        child: &mut dyn FnMut(&str),
    ) -> Result<(), XsError> {
        let len = self.path_request(MsgType::Directory, tx, path)?;
        for name in strings(&self.reply[..len]) {
            if let Ok(name) = core::str::from_utf8(name) {
                child(name);
            }
        }
        Ok(())
    }

    fn remove(&mut self, tx: TxId, path: &str) -> Result<(), XsError> {
        self.path_request(MsgType::Rm, tx, path).map(|_| ())
    }

    fn set_perms(&mut self, tx: TxId, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        // Each entry is "<r|w|b|n><domid>".
        let mut texts: heapless::Vec<String<8>, 16> = heapless::Vec::new();
        for perm in perms {
            let mode = match (perm.read, perm.write) {
                (true, true) => 'b',
                (true, false) => 'r',
                (false, true) => 'w',
                (false, false) => 'n',
            };
            let mut text = String::new();
            use core::fmt::Write;
            write!(text, "{mode}{}", perm.domid).map_err(|_| XsError::Invalid)?;
            texts.push(text).map_err(|_| XsError::Invalid)?;
        }
        let mut args: heapless::Vec<&[u8], 17> = heapless::Vec::new();
        let _ = args.push(path.as_bytes());
        for text in &texts {
            let _ = args.push(text.as_bytes());
        }
        self.request(MsgType::SetPerms, tx, &args, &[]).map(|_| ())
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.request(MsgType::Watch, 0, &[path.as_bytes(), token.as_bytes()], &[])
            .map(|_| ())
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.request(
            MsgType::Unwatch,
            0,
            &[path.as_bytes(), token.as_bytes()],
            &[],
        )
        .map(|_| ())
    }

    fn take_watch_events(&mut self, event: &mut dyn FnMut(&str, &str)) {
        // A broken stream shows up as the next request's `Transport` error.
        let _ = self.pump(None);
        while let Some((path, token)) = self.events.pop_front() {
            event(&path, &token);
        }
    }

    fn transaction_start(&mut self) -> Result<TxId, XsError> {
        // The argument is an empty string.
        let len = self.request(MsgType::TransactionStart, 0, &[b""], &[])?;
        let text = strings(&self.reply[..len])
            .next()
            .or(Some(&self.reply[..len]))
            .and_then(|t| core::str::from_utf8(t).ok())
            .ok_or(XsError::Transport)?;
        text.trim_end_matches('\0')
            .parse()
            .map_err(|_| XsError::Transport)
    }

    fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError> {
        let verdict: &[u8] = if commit { b"T" } else { b"F" };
        self.request(MsgType::TransactionEnd, tx, &[verdict], &[])
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::AtomicPage;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::string::String as StdString;
    use std::vec::Vec;
    use std::{format, vec};

    /// xenstored in miniature: a map, watches, and the ring protocol on the daemon side.
    #[derive(Default)]
    struct Daemon {
        store: BTreeMap<StdString, Vec<u8>>,
        watches: Vec<(StdString, StdString)>,
        decoder: Option<Decoder>,
        pending: Vec<u8>,
        /// Simulate a dead daemon.
        dead: bool,
        next_tx: u32,
    }

    impl Daemon {
        fn serve(&mut self, page: &AtomicPage) {
            if self.dead {
                return;
            }
            let iface = DomainInterface::new(page);
            let mut buf = [0u8; 2048];
            let mut requests = Vec::new();
            loop {
                let n = iface.daemon_read_request(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                let decoder = self.decoder.get_or_insert_with(Decoder::new);
                decoder.feed(&buf[..n], |m| {
                    let m = m.unwrap();
                    requests.push((m.kind, m.req_id, m.tx_id, m.payload.to_vec()));
                });
            }
            for (kind, req_id, tx, payload) in requests {
                let out = self.answer(kind, req_id, tx, &payload);
                self.pending.extend_from_slice(&out);
            }
            // Deliver as much as the 1 KiB ring takes; the rest on the next kick.
            let n = iface.daemon_write_response(&self.pending).unwrap();
            self.pending.drain(..n);
        }

        fn reply(kind: MsgType, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
            let mut out = vec![0u8; HEADER_SIZE + payload.len()];
            let n = encode(kind, req_id, tx, &[], payload, &mut out).unwrap();
            out.truncate(n);
            out
        }

        fn answer(&mut self, kind: MsgType, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
            let args: Vec<StdString> = payload
                .split(|&b| b == 0)
                .map(|a| StdString::from_utf8_lossy(a).into_owned())
                .collect();
            let error = |name: &str| {
                let mut p = name.as_bytes().to_vec();
                p.push(0);
                Self::reply(MsgType::Error, req_id, tx, &p)
            };
            let ok = |p: &[u8]| Self::reply(kind, req_id, tx, p);
            match kind {
                MsgType::Read => match self.store.get(&args[0]) {
                    Some(v) => ok(&v.clone()),
                    None => error("ENOENT"),
                },
                MsgType::Write => {
                    let path = args[0].clone();
                    let value = payload[path.len() + 1..].to_vec();
                    self.store.insert(path.clone(), value);
                    let mut out = ok(b"OK\0");
                    for (w, token) in self.watches.clone() {
                        if path.starts_with(&w) {
                            let mut p = path.as_bytes().to_vec();
                            p.push(0);
                            p.extend_from_slice(token.as_bytes());
                            p.push(0);
                            out.extend(Self::reply(MsgType::WatchEvent, 0, 0, &p));
                        }
                    }
                    out
                }
                MsgType::Directory => {
                    let prefix = format!("{}/", args[0]);
                    let mut names: Vec<StdString> = self
                        .store
                        .keys()
                        .filter_map(|k| k.strip_prefix(&prefix))
                        .map(|rest| rest.split('/').next().unwrap().into())
                        .collect();
                    names.dedup();
                    let mut p = Vec::new();
                    for n in names {
                        p.extend_from_slice(n.as_bytes());
                        p.push(0);
                    }
                    ok(&p)
                }
                MsgType::Rm => {
                    self.store.retain(|k, _| !k.starts_with(&args[0]));
                    ok(b"OK\0")
                }
                MsgType::Watch => {
                    self.watches.push((args[0].clone(), args[1].clone()));
                    let mut out = ok(b"OK\0");
                    let mut p = args[0].as_bytes().to_vec();
                    p.push(0);
                    p.extend_from_slice(args[1].as_bytes());
                    p.push(0);
                    out.extend(Self::reply(MsgType::WatchEvent, 0, 0, &p));
                    out
                }
                MsgType::TransactionStart => {
                    self.next_tx += 1;
                    ok(format!("{}\0", self.next_tx).as_bytes())
                }
                MsgType::TransactionEnd if tx == 99 => error("EAGAIN"),
                _ => ok(b"OK\0"),
            }
        }
    }

    /// Rings by serving synchronously; waiting serves again, a bounded number of times.
    struct Bell<'a> {
        daemon: &'a RefCell<Daemon>,
        page: &'a AtomicPage,
        waits: u32,
    }

    impl Doorbell for Bell<'_> {
        fn ring(&mut self) {
            self.daemon.borrow_mut().serve(self.page);
        }
        fn wait(&mut self) -> bool {
            self.waits += 1;
            self.daemon.borrow_mut().serve(self.page);
            self.waits < 100
        }
        fn start(&mut self) {
            self.waits = 0;
        }
    }

    fn client<'a>(
        daemon: &'a RefCell<Daemon>,
        page: &'a AtomicPage,
    ) -> Client<&'a AtomicPage, Bell<'a>> {
        Client::new(
            page,
            Bell {
                daemon,
                page,
                waits: 0,
            },
            7,
        )
    }

    #[test]
    fn reads_writes_directories_and_removals_round_trip() {
        let daemon = RefCell::new(Daemon::default());
        let page = AtomicPage::new();
        let mut xs = client(&daemon, &page);
        xs.write(0, "/a/b", b"hello").unwrap();
        xs.write(0, "/a/c", b"").unwrap();
        let mut buf = [0u8; 16];
        let n = xs.read(0, "/a/b", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(xs.read(0, "/a/x", &mut buf), Err(XsError::NotFound));
        let mut tiny = [0u8; 2];
        assert_eq!(
            xs.read(0, "/a/b", &mut tiny),
            Err(XsError::BufferTooSmall { needed: 5 })
        );
        let mut children = Vec::new();
        xs.directory(0, "/a", &mut |c| children.push(StdString::from(c)))
            .unwrap();
        assert_eq!(children, ["b", "c"]);
        xs.remove(0, "/a/b").unwrap();
        assert_eq!(xs.read(0, "/a/b", &mut buf), Err(XsError::NotFound));
    }

    #[test]
    fn values_larger_than_the_ring_travel_in_pieces_both_ways() {
        let daemon = RefCell::new(Daemon::default());
        let page = AtomicPage::new();
        let mut xs = client(&daemon, &page);
        let big: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        xs.write(0, "/big", &big).unwrap();
        let mut buf = [0u8; 4096];
        let n = xs.read(0, "/big", &mut buf).unwrap();
        assert_eq!(&buf[..n], &big[..]);
    }

    #[test]
    fn watch_events_are_queued_while_waiting_for_replies() {
        let daemon = RefCell::new(Daemon::default());
        let page = AtomicPage::new();
        let mut xs = client(&daemon, &page);
        xs.watch("/local/domain/7/backend", "be").unwrap();
        xs.write(0, "/local/domain/7/backend/vsnd/5/0/state", b"1")
            .unwrap();
        let mut seen = Vec::new();
        xs.take_watch_events(&mut |p, t| seen.push((StdString::from(p), StdString::from(t))));
        assert_eq!(
            seen,
            [
                ("/local/domain/7/backend".into(), "be".into()),
                ("/local/domain/7/backend/vsnd/5/0/state".into(), "be".into())
            ]
        );
    }

    #[test]
    fn transactions_start_and_report_conflicts() {
        let daemon = RefCell::new(Daemon::default());
        let page = AtomicPage::new();
        let mut xs = client(&daemon, &page);
        let tx = xs.transaction_start().unwrap();
        assert_eq!(tx, 1);
        xs.transaction_end(tx, true).unwrap();
        assert_eq!(xs.transaction_end(99, true), Err(XsError::Again));
    }

    #[test]
    fn a_silent_daemon_is_a_transport_error_not_a_hang() {
        let daemon = RefCell::new(Daemon {
            dead: true,
            ..Daemon::default()
        });
        let page = AtomicPage::new();
        let mut xs = client(&daemon, &page);
        let mut buf = [0u8; 4];
        assert_eq!(xs.read(0, "/x", &mut buf), Err(XsError::Transport));
    }
}

//! The generic shared ring of `xen/include/public/io/ring.h`.
//!
//! One page holds a 64-byte header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`, padding)
//! followed by a power-of-two number of fixed-size slots, each holding a request or its
//! response. Each end keeps private indices; the shared ones are only ever read once per
//! decision, and every slot is copied out exactly once before it is looked at, so a peer that
//! rewrites the page under us cannot make us see two different values (no double fetch).
//!
//! Indices are free-running `u32`s (`RING_IDX`) compared with wrapping arithmetic, exactly as
//! the C macros do, so behaviour across the 2^32 wrap matches the peer's.

use crate::shmem::{PAGE_SIZE, SharedMem, mb, rmb, wmb};

/// Offset of `req_prod` in `struct *_sring`.
pub const REQ_PROD: usize = 0;
/// Offset of `req_event`.
pub const REQ_EVENT: usize = 4;
/// Offset of `rsp_prod`.
pub const RSP_PROD: usize = 8;
/// Offset of `rsp_event`.
pub const RSP_EVENT: usize = 12;
/// Offset of the `pvt` union (4 bytes), zeroed by `SHARED_RING_INIT`.
pub const PVT: usize = 16;
/// Offset of the first slot (`ring[0]`): the header is 64 bytes.
pub const ENTRIES: usize = 64;

/// `__RD32`: `x` rounded down to a power of two (0 stays 0).
pub const fn round_down_pow2(x: u32) -> u32 {
    if x == 0 {
        0
    } else {
        1 << (31 - x.leading_zeros())
    }
}

/// `__CONST_RING_SIZE` for one page: how many `entry_size`-byte slots the ring has.
pub const fn ring_size(entry_size: usize) -> u32 {
    round_down_pow2(((PAGE_SIZE - ENTRIES) / entry_size) as u32)
}

/// What a misbehaving peer did to a ring. Either way the connection is beyond repair: the
/// caller disconnects that peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The frontend published more requests than the ring can hold
    /// (`RING_REQUEST_PROD_OVERFLOW`): `req_prod` is the value it wrote.
    RequestOverflow { req_prod: u32, rsp_prod_pvt: u32 },
    /// The backend published responses for requests that were never made
    /// (`RING_RESPONSE_PROD_OVERFLOW`).
    ResponseOverflow { rsp_prod: u32, rsp_cons: u32 },
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::RequestOverflow {
                req_prod,
                rsp_prod_pvt,
            } => write!(
                f,
                "peer claims {} outstanding requests (req_prod {req_prod}, our rsp_prod {rsp_prod_pvt})",
                req_prod.wrapping_sub(*rsp_prod_pvt)
            ),
            RingError::ResponseOverflow { rsp_prod, rsp_cons } => write!(
                f,
                "peer claims {} responses (rsp_prod {rsp_prod}, our rsp_cons {rsp_cons})",
                rsp_prod.wrapping_sub(*rsp_cons)
            ),
        }
    }
}

/// Why a slot could not be queued. Both are our own flow-control state, not peer faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// Every slot holds a request that has no response yet (`RING_FULL`).
    Full,
    /// A response was pushed without an outstanding request to answer.
    NoRequest,
}

/// Writes the empty header a frontend publishes before granting the page
/// (`SHARED_RING_INIT`): indices 0, event thresholds 1, padding zeroed.
pub fn init_shared<M: SharedMem>(mem: &M) {
    mem.store_u32(REQ_PROD, 0);
    mem.store_u32(RSP_PROD, 0);
    mem.store_u32(REQ_EVENT, 1);
    mem.store_u32(RSP_EVENT, 1);
    mem.write(PVT, &[0; ENTRIES - PVT]);
}

/// `(new - event) < (new - old)`: did the producer move past the consumer's wake-up mark?
fn needs_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

fn slot_offset<const ENTRY: usize>(index: u32) -> usize {
    ENTRIES + (index & (ring_size(ENTRY) - 1)) as usize * ENTRY
}

/// The backend end: consumes requests, produces responses.
pub struct BackRing<M, const ENTRY: usize> {
    mem: M,
    req_cons: u32,
    rsp_prod_pvt: u32,
}

impl<M: SharedMem, const ENTRY: usize> BackRing<M, ENTRY> {
    /// Slots in this ring.
    pub const SIZE: u32 = ring_size(ENTRY);

    /// Attaches to a ring the frontend initialised, starting at its current response index
    /// (`BACK_RING_ATTACH` with `rsp_prod`): correct for a fresh ring (0) and for taking over
    /// a ring whose earlier requests were all answered.
    pub fn attach(mem: M) -> Self {
        let start = mem.load_u32(RSP_PROD);
        BackRing {
            mem,
            req_cons: start,
            rsp_prod_pvt: start,
        }
    }

    /// The shared memory, e.g. to release its mapping.
    pub fn into_inner(self) -> M {
        self.mem
    }

    /// Our private request consumer index.
    pub fn req_cons(&self) -> u32 {
        self.req_cons
    }

    /// Our private response producer index.
    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
    }

    /// Reads `req_prod` once and checks it (`RING_REQUEST_PROD_OVERFLOW`).
    fn req_prod(&self) -> Result<u32, RingError> {
        let req_prod = self.mem.load_u32(REQ_PROD);
        rmb(); // slots are read after the index that published them
        if req_prod.wrapping_sub(self.rsp_prod_pvt) > Self::SIZE {
            return Err(RingError::RequestOverflow {
                req_prod,
                rsp_prod_pvt: self.rsp_prod_pvt,
            });
        }
        Ok(req_prod)
    }

    /// Requests we may take now (`XEN_RING_NR_UNCONSUMED_REQUESTS`): published ones, limited
    /// by the room left for their responses.
    pub fn unconsumed_requests(&self) -> Result<u32, RingError> {
        let published = self.req_prod()?.wrapping_sub(self.req_cons);
        let room = Self::SIZE - self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        Ok(published.min(room))
    }

    /// Copies the next request out of its slot, once. `Ok(None)`: nothing to take now.
    pub fn next_request(&mut self) -> Result<Option<[u8; ENTRY]>, RingError> {
        if self.unconsumed_requests()? == 0 {
            return Ok(None);
        }
        let mut slot = [0u8; ENTRY];
        self.mem
            .read(slot_offset::<ENTRY>(self.req_cons), &mut slot);
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(slot))
    }

    /// Queues a response to the oldest unanswered request (not yet visible to the peer).
    pub fn push_response(&mut self, response: &[u8; ENTRY]) -> Result<(), PushError> {
        if self.rsp_prod_pvt == self.req_cons {
            return Err(PushError::NoRequest);
        }
        self.mem
            .write(slot_offset::<ENTRY>(self.rsp_prod_pvt), response);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes queued responses; `true` when the frontend asked to be notified
    /// (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    pub fn push_responses_and_check_notify(&mut self) -> bool {
        let old = self.mem.load_u32(RSP_PROD);
        let new = self.rsp_prod_pvt;
        wmb(); // responses are visible before the index that publishes them
        self.mem.store_u32(RSP_PROD, new);
        mb(); // the index is visible before we read the peer's wake-up mark
        needs_notify(old, new, self.mem.load_u32(RSP_EVENT))
    }

    /// Before going idle: asks to be notified of the next request, then checks once more so
    /// a request published meanwhile is not missed (`RING_FINAL_CHECK_FOR_REQUESTS`).
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        if self.unconsumed_requests()? > 0 {
            return Ok(true);
        }
        self.mem.store_u32(REQ_EVENT, self.req_cons.wrapping_add(1));
        mb();
        Ok(self.unconsumed_requests()? > 0)
    }
}

/// The frontend end: produces requests, consumes responses. Used by the simulated guests
/// and by tests; a backend never needs it.
pub struct FrontRing<M, const ENTRY: usize> {
    mem: M,
    req_prod_pvt: u32,
    rsp_cons: u32,
}

impl<M: SharedMem, const ENTRY: usize> FrontRing<M, ENTRY> {
    /// Slots in this ring.
    pub const SIZE: u32 = ring_size(ENTRY);

    /// Initialises the shared header and attaches (`XEN_FRONT_RING_INIT`).
    pub fn init(mem: M) -> Self {
        init_shared(&mem);
        FrontRing {
            mem,
            req_prod_pvt: 0,
            rsp_cons: 0,
        }
    }

    /// Attaches at index `start` without touching the page (`FRONT_RING_ATTACH`).
    pub fn attach(mem: M, start: u32) -> Self {
        FrontRing {
            mem,
            req_prod_pvt: start,
            rsp_cons: start,
        }
    }

    /// The shared memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Slots free for new requests (`RING_FREE_REQUESTS`).
    pub fn free_requests(&self) -> u32 {
        Self::SIZE - self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Queues a request (not yet visible to the peer).
    pub fn push_request(&mut self, request: &[u8; ENTRY]) -> Result<(), PushError> {
        if self.free_requests() == 0 {
            return Err(PushError::Full);
        }
        self.mem
            .write(slot_offset::<ENTRY>(self.req_prod_pvt), request);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes queued requests; `true` when the backend asked to be notified
    /// (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    pub fn push_requests_and_check_notify(&mut self) -> bool {
        let old = self.mem.load_u32(REQ_PROD);
        let new = self.req_prod_pvt;
        wmb();
        self.mem.store_u32(REQ_PROD, new);
        mb();
        needs_notify(old, new, self.mem.load_u32(REQ_EVENT))
    }

    fn rsp_prod(&self) -> Result<u32, RingError> {
        let rsp_prod = self.mem.load_u32(RSP_PROD);
        rmb();
        // A backend can answer at most what we asked.
        if rsp_prod.wrapping_sub(self.rsp_cons) > self.req_prod_pvt.wrapping_sub(self.rsp_cons) {
            return Err(RingError::ResponseOverflow {
                rsp_prod,
                rsp_cons: self.rsp_cons,
            });
        }
        Ok(rsp_prod)
    }

    /// Responses published and not yet taken.
    pub fn unconsumed_responses(&self) -> Result<u32, RingError> {
        Ok(self.rsp_prod()?.wrapping_sub(self.rsp_cons))
    }

    /// Copies the next response out of its slot, once.
    pub fn next_response(&mut self) -> Result<Option<[u8; ENTRY]>, RingError> {
        if self.unconsumed_responses()? == 0 {
            return Ok(None);
        }
        let mut slot = [0u8; ENTRY];
        self.mem
            .read(slot_offset::<ENTRY>(self.rsp_cons), &mut slot);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(slot))
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`.
    pub fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        if self.unconsumed_responses()? > 0 {
            return Ok(true);
        }
        self.mem.store_u32(RSP_EVENT, self.rsp_cons.wrapping_add(1));
        mb();
        Ok(self.unconsumed_responses()? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::AtomicPage;

    type Back<'a> = BackRing<&'a AtomicPage, 64>;
    type Front<'a> = FrontRing<&'a AtomicPage, 64>;

    fn msg(tag: u8) -> [u8; 64] {
        [tag; 64]
    }

    #[test]
    fn a_page_holds_32_slots_of_64_bytes() {
        assert_eq!(ring_size(64), 32);
        assert_eq!(ring_size(112), 32); // 36 rounds down to 32
        assert_eq!(ring_size(4032), 1);
        assert_eq!(round_down_pow2(0), 0);
    }

    #[test]
    fn requests_and_responses_round_trip_in_order() {
        let page = AtomicPage::new();
        let mut front = Front::init(&page);
        let mut back = Back::attach(&page);
        for tag in 0..5 {
            front.push_request(&msg(tag)).unwrap();
        }
        assert!(
            front.push_requests_and_check_notify(),
            "first publish wakes the backend"
        );
        for tag in 0..5 {
            let req = back.next_request().unwrap().unwrap();
            assert_eq!(req, msg(tag));
            back.push_response(&msg(tag + 100)).unwrap();
        }
        assert_eq!(back.next_request().unwrap(), None);
        assert!(back.push_responses_and_check_notify());
        for tag in 0..5 {
            assert_eq!(front.next_response().unwrap().unwrap(), msg(tag + 100));
        }
    }

    #[test]
    fn notify_only_when_the_peer_armed_its_event() {
        let page = AtomicPage::new();
        let mut front = Front::init(&page);
        let mut back = Back::attach(&page);
        front.push_request(&msg(1)).unwrap();
        assert!(front.push_requests_and_check_notify());
        // The backend has not re-armed req_event (still 1): no second kick.
        front.push_request(&msg(2)).unwrap();
        assert!(!front.push_requests_and_check_notify());
        while back.next_request().unwrap().is_some() {}
        assert!(!back.final_check_for_requests().unwrap());
        assert_eq!(page.load_u32(REQ_EVENT), 3);
        front.push_request(&msg(3)).unwrap();
        assert!(
            front.push_requests_and_check_notify(),
            "re-armed backend is woken"
        );
    }

    #[test]
    fn final_check_sees_requests_published_before_it() {
        let page = AtomicPage::new();
        let mut front = Front::init(&page);
        let mut back = Back::attach(&page);
        front.push_request(&msg(1)).unwrap();
        front.push_requests_and_check_notify();
        assert!(back.final_check_for_requests().unwrap());
    }

    #[test]
    fn frontend_claiming_too_many_requests_is_broken() {
        let page = AtomicPage::new();
        Front::init(&page);
        let mut back = Back::attach(&page);
        page.store_u32(REQ_PROD, 33);
        assert_eq!(
            back.next_request(),
            Err(RingError::RequestOverflow {
                req_prod: 33,
                rsp_prod_pvt: 0
            })
        );
        page.store_u32(REQ_PROD, u32::MAX);
        assert!(
            back.next_request().is_err(),
            "a backwards jump is an overflow too"
        );
    }

    #[test]
    fn backend_never_takes_more_requests_than_it_can_answer() {
        let page = AtomicPage::new();
        let mut front = Front::init(&page);
        let mut back = Back::attach(&page);
        for i in 0..32 {
            front.push_request(&msg(i)).unwrap();
        }
        assert_eq!(front.push_request(&msg(99)), Err(PushError::Full));
        front.push_requests_and_check_notify();
        for _ in 0..32 {
            back.next_request().unwrap().unwrap();
        }
        // The frontend lies: it claims 32 more while none are answered.
        page.store_u32(REQ_PROD, 64);
        assert!(back.next_request().is_err());
    }

    #[test]
    fn responses_need_requests() {
        let page = AtomicPage::new();
        Front::init(&page);
        let mut back = Back::attach(&page);
        assert_eq!(back.push_response(&msg(0)), Err(PushError::NoRequest));
    }

    #[test]
    fn backend_publishing_unasked_responses_is_broken() {
        let page = AtomicPage::new();
        let mut front = Front::init(&page);
        page.store_u32(RSP_PROD, 1);
        assert!(matches!(
            front.next_response(),
            Err(RingError::ResponseOverflow { .. })
        ));
    }

    #[test]
    fn indices_wrap_at_u32_max() {
        let page = AtomicPage::new();
        init_shared(&page);
        let start = u32::MAX - 40;
        page.store_u32(REQ_PROD, start);
        page.store_u32(RSP_PROD, start);
        page.store_u32(REQ_EVENT, start.wrapping_add(1));
        page.store_u32(RSP_EVENT, start.wrapping_add(1));
        let mut front = Front::attach(&page, start);
        let mut back = Back::attach(&page);
        for round in 0..100u32 {
            let tag = round as u8;
            front.push_request(&msg(tag)).unwrap();
            front.push_requests_and_check_notify();
            assert_eq!(back.next_request().unwrap(), Some(msg(tag)));
            back.push_response(&msg(tag ^ 0xff)).unwrap();
            back.push_responses_and_check_notify();
            assert_eq!(front.next_response().unwrap(), Some(msg(tag ^ 0xff)));
        }
        assert_eq!(back.req_cons(), start.wrapping_add(100));
    }
}

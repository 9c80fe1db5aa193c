//! The event page: the backend produces events (only `XENSND_EVT_CUR_POS` exists) into 63
//! slots that the frontend consumes.
//!
//! The slot count is not a power of two, so slots are `index % 63`. There is no hold-off
//! like `req_event`: the producer notifies after every batch. A full page drops nothing
//! silently and consumes nothing: the caller decides to coalesce (only the newest position
//! matters) and must not spend an event id on an event it did not enqueue.

use zerocopy::{FromBytes, IntoBytes};

use super::wire::{CurPosEvt, EVT_IN_CONS, EVT_IN_PROD, Event};
use super::{XENSND_EVT_CUR_POS, XENSND_IN_RING_LEN, XENSND_IN_RING_OFFS};
use crate::shmem::{SharedMem, mb, rmb, wmb};

const LEN: u32 = XENSND_IN_RING_LEN as u32;

/// Why an event could not be enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPageError {
    /// All 63 slots hold events the frontend has not consumed.
    Full,
    /// The frontend's `in_cons` is not within the 63 slots behind `in_prod`: it wrote
    /// garbage. The connection is beyond repair.
    Broken { in_prod: u32, in_cons: u32 },
}

/// Our producer end of one stream's event page.
pub struct EventPage<M> {
    mem: M,
    in_prod: u32,
}

fn slot_offset(index: u32) -> usize {
    XENSND_IN_RING_OFFS + (index % LEN) as usize * core::mem::size_of::<Event>()
}

impl<M: SharedMem> EventPage<M> {
    /// Attaches, continuing from the `in_prod` on the page (0 for a fresh page).
    pub fn attach(mem: M) -> Self {
        let in_prod = mem.load_u32(EVT_IN_PROD);
        EventPage { mem, in_prod }
    }

    /// The shared memory, e.g. to release its mapping.
    pub fn into_inner(self) -> M {
        self.mem
    }

    /// Events enqueued and not yet consumed.
    pub fn pending(&self) -> Result<u32, EventPageError> {
        let in_cons = self.mem.load_u32(EVT_IN_CONS);
        rmb(); // the frontend finished reading slots before it moved in_cons
        let pending = self.in_prod.wrapping_sub(in_cons);
        if pending > LEN {
            return Err(EventPageError::Broken {
                in_prod: self.in_prod,
                in_cons,
            });
        }
        Ok(pending)
    }

    /// Enqueues a position event. On success the caller notifies the frontend.
    pub fn push_cur_pos(&mut self, id: u16, position: u64) -> Result<(), EventPageError> {
        if self.pending()? >= LEN {
            return Err(EventPageError::Full);
        }
        let mut event = Event {
            id,
            kind: XENSND_EVT_CUR_POS,
            reserved: [0; 5],
            op: [0; 56],
        };
        CurPosEvt { position }.write_to_prefix(&mut event.op).ok();
        self.mem.write(slot_offset(self.in_prod), event.as_bytes());
        wmb(); // the slot is visible before the index that publishes it
        self.in_prod = self.in_prod.wrapping_add(1);
        self.mem.store_u32(EVT_IN_PROD, self.in_prod);
        Ok(())
    }
}

/// A decoded event, as a frontend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurPos {
    pub id: u16,
    pub kind: u8,
    pub position: u64,
}

/// The frontend's consumer end, for simulated guests and tests.
pub struct EventConsumer<M> {
    mem: M,
}

impl<M: SharedMem> EventConsumer<M> {
    /// Zeroes the page's indices, as a frontend does before granting it.
    pub fn init(mem: M) -> Self {
        mem.store_u32(EVT_IN_CONS, 0);
        mem.store_u32(EVT_IN_PROD, 0);
        EventConsumer { mem }
    }

    /// Takes the next event, if any.
    /// The event page (tests play a broken frontend through it).
    pub fn mem(&self) -> &M {
        &self.mem
    }

    pub fn take(&mut self) -> Option<CurPos> {
        let in_cons = self.mem.load_u32(EVT_IN_CONS);
        let in_prod = self.mem.load_u32(EVT_IN_PROD);
        rmb();
        if in_cons == in_prod {
            return None;
        }
        let mut bytes = [0u8; 64];
        self.mem.read(slot_offset(in_cons), &mut bytes);
        let event = Event::read_from_bytes(&bytes).unwrap_or_else(|_| unreachable!("64 bytes"));
        let position = CurPosEvt::read_from_prefix(&event.op)
            .map(|(p, _)| p.position)
            .unwrap_or(0);
        mb();
        self.mem.store_u32(EVT_IN_CONS, in_cons.wrapping_add(1));
        Some(CurPos {
            id: event.id,
            kind: event.kind,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shmem::AtomicPage;

    #[test]
    fn events_arrive_in_order_with_their_ids() {
        let page = AtomicPage::new();
        let mut consumer = EventConsumer::init(&page);
        let mut producer = EventPage::attach(&page);
        producer.push_cur_pos(0, 4096).unwrap();
        producer.push_cur_pos(1, 8192).unwrap();
        assert_eq!(
            consumer.take(),
            Some(CurPos {
                id: 0,
                kind: XENSND_EVT_CUR_POS,
                position: 4096
            })
        );
        assert_eq!(consumer.take().unwrap().position, 8192);
        assert_eq!(consumer.take(), None);
    }

    #[test]
    fn a_full_page_refuses_without_moving_in_prod() {
        let page = AtomicPage::new();
        let mut consumer = EventConsumer::init(&page);
        let mut producer = EventPage::attach(&page);
        for i in 0..63 {
            producer.push_cur_pos(i, u64::from(i)).unwrap();
        }
        assert_eq!(producer.push_cur_pos(63, 63), Err(EventPageError::Full));
        assert_eq!(page.load_u32(EVT_IN_PROD), 63);
        consumer.take().unwrap();
        producer.push_cur_pos(63, 63).unwrap();
    }

    #[test]
    fn slots_wrap_modulo_63_not_64() {
        let page = AtomicPage::new();
        let mut consumer = EventConsumer::init(&page);
        let mut producer = EventPage::attach(&page);
        for i in 0..200u16 {
            producer.push_cur_pos(i, u64::from(i) * 10).unwrap();
            assert_eq!(consumer.take().unwrap().id, i);
        }
        assert_eq!(slot_offset(63), slot_offset(0));
    }

    #[test]
    fn garbage_in_cons_is_a_broken_peer() {
        let page = AtomicPage::new();
        EventConsumer::init(&page);
        let mut producer = EventPage::attach(&page);
        page.store_u32(EVT_IN_CONS, 1000);
        assert!(matches!(
            producer.push_cur_pos(0, 0),
            Err(EventPageError::Broken { .. })
        ));
    }
}

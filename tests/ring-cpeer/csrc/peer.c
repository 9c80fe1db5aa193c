/* The peer our ring code is checked against: both ends of the sndif request ring and the
 * consumer of the event page, written with nothing but the real Xen ring.h/sndif.h macros.
 * Rust calls these functions through FFI (see src/lib.rs). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The current interface, so ring.h leaves the barriers to us (older ones map them to the
 * kernel's mb()/rmb()/wmb()); these are the fences Linux uses on x86. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#include <xen/xen.h>
#include <xen/io/ring.h>
#include <xen/io/sndif.h>

#define PAGE 4096

struct c_front { struct xen_sndif_front_ring ring; };
struct c_back { struct xen_sndif_back_ring ring; };

struct c_front *c_front_new(void *page, int init, uint32_t start)
{
    struct c_front *f = calloc(1, sizeof(*f));
    struct xen_sndif_sring *s = page;
    if (init)
        SHARED_RING_INIT(s);
    FRONT_RING_ATTACH(&f->ring, s, start, PAGE);
    return f;
}

void c_front_free(struct c_front *f) { free(f); }

/* 1 when queued, 0 when the ring is full. */
int c_front_push(struct c_front *f, const uint8_t req[64])
{
    if (RING_FULL(&f->ring))
        return 0;
    memcpy(RING_GET_REQUEST(&f->ring, f->ring.req_prod_pvt), req, 64);
    f->ring.req_prod_pvt++;
    return 1;
}

int c_front_publish(struct c_front *f)
{
    int notify;
    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f->ring, notify);
    return notify;
}

/* 1 when a response was copied out, 0 when none is there. */
int c_front_take(struct c_front *f, uint8_t rsp[64])
{
    if (!RING_HAS_UNCONSUMED_RESPONSES(&f->ring))
        return 0;
    xen_rmb();
    RING_COPY_RESPONSE(&f->ring, f->ring.rsp_cons, (struct xensnd_resp *)rsp);
    f->ring.rsp_cons++;
    return 1;
}

int c_front_final_check(struct c_front *f)
{
    int more;
    RING_FINAL_CHECK_FOR_RESPONSES(&f->ring, more);
    return more;
}

struct c_back *c_back_new(void *page, uint32_t start)
{
    struct c_back *b = calloc(1, sizeof(*b));
    BACK_RING_ATTACH(&b->ring, (struct xen_sndif_sring *)page, start, PAGE);
    return b;
}

void c_back_free(struct c_back *b) { free(b); }

/* 1 when a request was copied out, 0 when none may be taken, -1 for a broken frontend. */
int c_back_take(struct c_back *b, uint8_t req[64])
{
    RING_IDX prod = b->ring.sring->req_prod;
    xen_rmb();
    if (RING_REQUEST_PROD_OVERFLOW(&b->ring, prod))
        return -1;
    if (b->ring.req_cons == prod || RING_REQUEST_CONS_OVERFLOW(&b->ring, b->ring.req_cons))
        return 0;
    RING_COPY_REQUEST(&b->ring, b->ring.req_cons, (struct xensnd_req *)req);
    b->ring.req_cons++;
    return 1;
}

void c_back_respond(struct c_back *b, const uint8_t rsp[64])
{
    memcpy(RING_GET_RESPONSE(&b->ring, b->ring.rsp_prod_pvt), rsp, 64);
    b->ring.rsp_prod_pvt++;
}

int c_back_publish(struct c_back *b)
{
    int notify;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b->ring, notify);
    return notify;
}

int c_back_final_check(struct c_back *b)
{
    int more;
    RING_FINAL_CHECK_FOR_REQUESTS(&b->ring, more);
    return more;
}

/* The frontend's event consumer, as xen-snd-front does it: 1 when an event was taken. */
int c_evt_take(void *page, uint16_t *id, uint8_t *type, uint64_t *position)
{
    struct xensnd_event_page *p = page;
    uint32_t cons = p->in_cons;
    uint32_t prod = p->in_prod;
    xen_rmb();
    if (cons == prod)
        return 0;
    struct xensnd_evt evt = XENSND_IN_RING_REF(p, cons);
    *id = evt.id;
    *type = evt.type;
    *position = evt.op.cur_pos.position;
    xen_mb();
    p->in_cons = cons + 1;
    return 1;
}

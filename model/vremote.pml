/*
 * vremote.pml -- SPIN model of the core of the vremote MSI coherence protocol
 * (docs/design/protocol.md, sections 2, 3, 4 and 6).
 *
 * WHAT IS MODELLED
 *   * 3 nodes (0, 1, 2) and 2 pages of one file whose home is node 0.
 *   * Every node runs one engine (one Promela process `Node`): a node-side cache controller
 *     and, on node 0 only, the home-side directory.  Node 0 caches its own pages through
 *     exactly the same protocol: its cache controller sends GetS/GetM/PutS/PutM/acks to its
 *     own directory as messages on the 0->0 link (section 1, section 6 "The home reads or
 *     writes a page that a remote node holds in M").
 *   * One FIFO link per ordered (sender, receiver) pair that the protocol uses:
 *     0->0, 1->0, 2->0, 0->1, 0->2.  (1->2 and 2->1 carry nothing with a single home and are
 *     left out.)  Links are buffered, so messages cross.  By default the 0->0 link is ONE
 *     FIFO that carries both directions (directory->cache and cache->directory); compile
 *     with -DSPLIT_LOOPBACK to give the loopback two independent FIFOs instead (weaker
 *     ordering; the protocol must not depend on the stronger one).
 *   * Node-side page states (section 2): I, S, M, IS_D, IM_AD, SM_AD, MI_A.
 *   * Directory (section 3): per page `owner` and a `sharers` bitmask, at most one active
 *     transaction per page, a per-file FIFO wait queue admitted in order ("admitted when no
 *     page of its range is busy and no earlier waiting request overlaps it" -- with one-page
 *     ranges this is per-page FIFO, but the queue is kept per file as in the doc).
 *   * Messages (section 4): GetS, GetM, DataS, DataM (with or without data), Inv/InvAck,
 *     Recall{to S | to I}/RecallAck(data), PutS, PutM(data)/PutAck.
 *   * The store ("memory") is the home's copy; data replies read it when they are sent.
 *
 * WHAT IS ABSTRACTED AWAY, AND WHY
 *   * Leases, sessions, Join/Hello/Stale, restarts, Reclaim, Nack, timeouts: the brief limits
 *     the model to the failure-free core.  (The engine's `req`/`txn` ids are not modelled:
 *     with no timeouts/restarts every ack belongs to the one active transaction of its page,
 *     which the model asserts by tracking exactly whom it waits for.)
 *   * The kernel page cache: no kernel_cached bit, no KernelInvalidate; the held messages
 *     (InvAck, RecallAck, PutS, PutM) are sent at once.  Hence SI_K and MI_K are dropped:
 *     an S eviction goes S -> I and sends PutS in the same step, which is exactly the
 *     ordering SI_K exists to guarantee (PutS precedes any later GetS on the FIFO link).
 *   * fsync / Flush / StoreSync / durability: left out.
 *   * Ranges: every request covers exactly one page, so "data wanted for first/last page" is
 *     reduced to one flag.  Every write is modelled as a PARTIAL-page write (it needs the
 *     current contents), so a GetM always wants data, and the home sends data iff the
 *     requester is not in `sharers` when the transaction is granted (section 3).
 *   * Page contents: one value per page.  Write number k (k = 1, 2, ...) stores the value k
 *     (global counter `wcount`); the initial store value is 0; BOGUS marks a node copy that
 *     is not valid.  At most MAXW writes are performed in a run (the only bound on the
 *     workload); reads and evictions are unbounded.  A node may issue a request only for a
 *     page in a stable state (I, S, M): the engine's per-page pending-request queue is not
 *     modelled, only its effect (one outstanding request per node and page).
 *   * Atomicity: the engine is a deterministic state machine that handles one input at a
 *     time, so each message handling step and each local request is one d_step.
 *
 * PROPERTIES (all checked in a safety run: pan -E is NOT used; invalid end states count)
 *   P1 SWMR: process `Monitor` asserts at every state that a page in M on one node is not in
 *      M, S or SM_AD on another (doc section 7.1).
 *   P2 Data value: a read hit (in S, M, SM_AD), a fill (DataS), and the copy a write is
 *      applied to when M is granted (DataM, or the kept S copy from SM_AD) all equal
 *      latest[page], the value of the most recent write (which is well defined because M is
 *      exclusive; a write completes only after every InvAck/RecallAck has reached the home,
 *      and each node's InvAck follows its own DataS on the links, so an S copy is current
 *      while its Inv is still in flight).
 *   P3 No invalid end states / deadlock freedom: process `Checker` may at any time set
 *      `stop` (no new local requests); the system must then drain to a state where no
 *      process can move, and there (`timeout`) it asserts: every link is empty, no page is
 *      busy, the wait queue is empty, every node page is stable (no request is stuck), the
 *      directory equals the nodes' states (doc 7.4) and the store/copies hold latest[].
 *      Because `stop` can be set in every reachable state, a request that can never
 *      complete in some reachable state is found as a violation.  All idle loops carry
 *      end labels, so pan's own invalid-end-state check applies as well.
 *   P4 The doc's invariants 7.2 and 7.3 (and the owner/sharers exclusion of section 3),
 *      checked after every step.  As written in the doc they are FALSE (see README.md);
 *      the model checks corrected versions, or the literal ones with -DDOC_INV_LITERAL.
 *   Link capacity: every send asserts the link is not full, so nodes never block on a send.
 *
 * PLANTED BUGS (each must be found; see run.sh)
 *   BUG_SKIP_INV          GetM: the home drops sharer 2 from `sharers` without sending Inv.
 *   BUG_NO_WB             PutM from the owner clears the owner but does not write the store.
 *   BUG_DATAM_BY_FLAG     the home sends DataM data iff the node said it wanted it (i.e.
 *                         it sent GetM from I), not iff the node is not a sharer at grant:
 *                         breaks race 6.1 (SM_AD -> IM_AD after an Inv).
 *   BUG_SHARER_ANY        RecallAck{to S} makes the sender a sharer even when it is no
 *                         longer the owner (its PutM got there first): breaks race 6.4.
 */

#define N     3          /* nodes 0..2 */
#define P     2          /* pages 0..1 of the one file */
#define HOME  0          /* the file's home node */
#define NONE  3          /* no node (owner / recall target) */
#define NODATA 255       /* DataM without data */
#define BOGUS 254        /* contents of a node copy that is not valid */

#ifndef MAXW
#define MAXW  3          /* writes performed in one run, over all nodes */
#endif
#ifndef CAP
#define CAP   4          /* capacity of each link (asserted never exceeded) */
#endif

/* Node-side page states (doc section 2).  SI_K / MI_K are not needed without a kernel. */
#define I      0
#define S      1
#define M      2
#define IS_D   3
#define IM_AD  4
#define SM_AD  5
#define MI_A   6

#define TO_S   1         /* Recall field: to S (GetS) or to I (GetM) */
#define TO_I   0

mtype = { GetS, GetM, PutS, PutM, InvAck, RecallAck,   /* node -> home */
          DataS, DataM, Inv, Recall, PutAck };          /* home -> node */

/* ---------------------------------------------------------------------------------------
 * Links.  Each message is { type, page, value }.  value = data (DataS, DataM, PutM,
 * RecallAck; NODATA for a DataM without data), TO_S/TO_I (Recall), data wanted (GetM).
 *   link[n]  (n = 0..2): n -> home (link[0] is the 0->0 loopback)
 *   link[3], link[4]  : home -> node 1, node 2
 *   link[5]           : home -> node 0, only with SPLIT_LOOPBACK
 * ------------------------------------------------------------------------------------- */
#ifdef SPLIT_LOOPBACK
chan link[6] = [CAP] of { mtype, byte, byte };
#define TO_NODE(n) link[((n) == 0 -> 5 : (n) + 2)]
#else
chan link[5] = [CAP] of { mtype, byte, byte };
#define TO_NODE(n) link[((n) == 0 -> 0 : (n) + 2)]
#endif
#define TO_HOME(n) link[n]

#define INFLIGHT(ch, t, p) (ch??[t, eval(p), _])

/* ---------------------------------------------------------------------------------------
 * Node-side state: st[n*P+p], dat[n*P+p] (node n's copy of page p).
 * ------------------------------------------------------------------------------------- */
byte st[N * P] = I;
byte dat[N * P] = BOGUS;
#define ST(n, p)  st[(n) * P + (p)]
#define DAT(n, p) dat[(n) * P + (p)]

/* Global write order (property 2): latest[p] is the value of the most recent write. */
byte latest[P] = 0;
byte wcount = 0;         /* number of completed writes = value of the last write */
byte wleft = MAXW;       /* writes that may still be issued */
#ifndef OPS_PER_NODE
#define OPS_PER_NODE 3   /* requests (GetS/GetM/PutS/PutM) one node may send in a run */
#endif
byte budget[N] = OPS_PER_NODE;

/* ---------------------------------------------------------------------------------------
 * Home-side directory (node 0), doc section 3.
 * ------------------------------------------------------------------------------------- */
byte store[P] = 0;       /* the home's on-disk copy */
byte owner[P] = NONE;
byte sharers[P] = 0;     /* bit n = node n */
/* the active transaction of each page */
bool busy[P] = false;
bool txGetM[P] = false;  /* GetM (else GetS) */
byte txReq[P] = 0;       /* requester r */
bool txWant[P] = false;  /* r said it wants data (only used by BUG_DATAM_BY_FLAG) */
byte invWait[P] = 0;     /* nodes whose InvAck is still awaited */
byte recWait[P] = NONE;  /* node whose RecallAck is still awaited */
/* The wait queue.  The doc keeps one FIFO per file and admits an entry "when no page of its
 * range is busy and no earlier waiting request overlaps it".  With one-page ranges two
 * requests overlap iff they are for the same page, so that is exactly one FIFO per page;
 * the model keeps one per page (same behaviour, fewer states: the relative order of
 * waiting requests for different pages is irrelevant).  Each node has at most one request
 * per page outstanding, so N entries per page suffice (asserted).
 * Entry = want*8 + getm*4 + node. */
#define QP N
byte q[P * QP];
byte qlen[P] = 0;
#define QE(want, getm, n) ((want) * 8 + (getm) * 4 + (n))
#define QE_NODE(e) ((e) & 3)
#define QE_GETM(e) (((e) >> 2) & 1)
#define QE_WANT(e) (((e) >> 3) & 1)

/* Scratch variables of one d_step (written before being read in every step, so they are
 * not part of the state vector). */
hidden mtype mt;
hidden byte pg, val, x, r, k, j, e, want;

inline send(ch, t, p, v) {
  assert(nfull(ch));     /* links never fill up: a node never blocks on a send */
  ch!t, p, v
}

/* ------------------------------------------------------------------------------------- */
/* Invariants checked after every step (P4) and the data invariant of stable copies.     */
/* ------------------------------------------------------------------------------------- */
inline check_state() {
  for (x : 0 .. P - 1) {
    /* section 3: an owner and sharers never coexist */
    assert(owner[x] == NONE || sharers[x] == 0);
    /* 7.2: the directory's owner is the node in M or a node giving it up (MI_A, RecallAck
     * in flight).  The doc forgets the owner whose DataM is still in flight (IM_AD/SM_AD). */
    if
    :: owner[x] != NONE ->
       assert(ST(owner[x], x) == M || ST(owner[x], x) == MI_A ||
              INFLIGHT(TO_HOME(owner[x]), RecallAck, x)
#ifndef DOC_INV_LITERAL
              || INFLIGHT(TO_NODE(owner[x]), DataM, x)
#endif
             )
    :: else -> skip
    fi;
    for (k : 0 .. N - 1) {
      /* 7.3: every node in S (SM_AD counts as S) is in the sharer set or an Inv to it is
       * in flight.  The doc forgets two cases where the node is the recorded OWNER:
       * an old owner recalled to S whose RecallAck (which makes it a sharer) is still in
       * flight, and a node in SM_AD whose DataM (the grant) is still in flight. */
      if
      :: ST(k, x) == S || ST(k, x) == SM_AD ->
         assert((sharers[x] & (1 << k)) != 0 || INFLIGHT(TO_NODE(k), Inv, x)
#ifndef DOC_INV_LITERAL
                || (owner[x] == k && INFLIGHT(TO_HOME(k), RecallAck, x))
                || (owner[x] == k && INFLIGHT(TO_NODE(k), DataM, x))
#endif
               )
      :: else -> skip
      fi;
      /* section 3 says `sharers` is "a superset of the real sharers while Invs are in
       * flight".  In fact a node is removed when its Inv is SENT, so during an Inv the set
       * is a SUBSET; it is a superset only while a PutS (or the DataS of a fetch) is in
       * flight: */
      if
      :: (sharers[x] & (1 << k)) != 0 ->
         assert(ST(k, x) == S || ST(k, x) == SM_AD ||
                INFLIGHT(TO_HOME(k), PutS, x) || INFLIGHT(TO_NODE(k), DataS, x))
      :: else -> skip
      fi
    }
  }
}

/* ------------------------------------------------------------------------------------- */
/* Node side: a message from the home (DataS, DataM, Inv, Recall, PutAck) at node `me`.  */
/* ------------------------------------------------------------------------------------- */
inline node_recv(me) {
  x = me * P + pg;
  if
  :: mt == DataS ->                         /* fetch granted: IS_D -> S, the read completes */
     assert(st[x] == IS_D);
     dat[x] = val;
     st[x] = S;
     assert(dat[x] == latest[pg])           /* P2: a fill returns the latest write */
  :: mt == DataM ->                         /* upgrade granted: IM_AD/SM_AD -> M */
     assert(st[x] == IM_AD || st[x] == SM_AD);
     if
     :: val != NODATA -> dat[x] = val
     :: else -> skip                        /* keep the S copy (SM_AD) */
     fi;
     assert(dat[x] == latest[pg]);          /* P2: the partial write applies to current data */
     st[x] = M;
     wcount++;                              /* the write that asked for M completes */
     dat[x] = wcount;
     latest[pg] = wcount
  :: mt == Inv ->                           /* invalidate: ack from any non-M state */
     if
     :: st[x] == S -> st[x] = I; dat[x] = BOGUS
     :: st[x] == SM_AD -> st[x] = IM_AD; dat[x] = BOGUS     /* race 6.1 */
     :: st[x] == I || st[x] == IS_D || st[x] == IM_AD -> skip /* races 6.2, 6.5 */
     :: else -> assert(false)               /* Inv in M / MI_A: not in the tables */
     fi;
     send(TO_HOME(me), InvAck, pg, 0)
  :: mt == Recall ->
     if
     :: st[x] == M ->
        send(TO_HOME(me), RecallAck, pg, dat[x]);
        if
        :: val == TO_S -> st[x] = S
        :: else -> st[x] = I; dat[x] = BOGUS
        fi
     :: st[x] == MI_A ->                    /* races 6.3, 6.4: answer with the data, stay */
        send(TO_HOME(me), RecallAck, pg, dat[x])
     :: else -> assert(false)
     fi
  :: mt == PutAck ->
     assert(st[x] == MI_A);
     st[x] = I;
     dat[x] = BOGUS
  :: else -> assert(false)
  fi
}

/* ------------------------------------------------------------------------------------- */
/* Home side.                                                                             */
/* ------------------------------------------------------------------------------------- */

/* Admit the request in `e` for page p: send Inv / Recall; the grant follows when no ack is
 * awaited (try_complete). */
inline admit(p) {
  busy[p] = true;
  txGetM[p] = QE_GETM(e);
  txWant[p] = QE_WANT(e);
  txReq[p] = QE_NODE(e);
  invWait[p] = 0;
  recWait[p] = NONE;
  assert(owner[p] != txReq[p]);   /* a requester is never the recorded owner (FIFO) */
  if
  :: !txGetM[p] ->
     /* GetS: Recall{to S} to the owner */
     if
     :: owner[p] != NONE ->
        send(TO_NODE(owner[p]), Recall, p, TO_S);
        recWait[p] = owner[p]
     :: else -> skip
     fi
  :: else ->
     /* GetM: Inv to every sharer other than r (removed when sent), Recall{to I} to owner */
     for (k : 0 .. N - 1) {
       if
       :: k != txReq[p] && (sharers[p] & (1 << k)) != 0 ->
#ifdef BUG_SKIP_INV
          if
          :: k == N - 1 -> sharers[p] = sharers[p] & ~(1 << k)   /* forgotten, not invalidated */
          :: else ->
#endif
          send(TO_NODE(k), Inv, p, 0);
          sharers[p] = sharers[p] & ~(1 << k);
          invWait[p] = invWait[p] | (1 << k)
#ifdef BUG_SKIP_INV
          fi
#endif
       :: else -> skip
       fi
     };
     if
     :: owner[p] != NONE ->
        send(TO_NODE(owner[p]), Recall, p, TO_I);
        recWait[p] = owner[p]
     :: else -> skip
     fi
  fi
}

/* Grant the active transaction of page p (all acks are in) and release the page. */
inline grant(p) {
  r = txReq[p];
  assert(owner[p] == NONE);       /* the recall (or a crossing PutM) cleared it */
  if
  :: !txGetM[p] ->
     sharers[p] = sharers[p] | (1 << r);
     send(TO_NODE(r), DataS, p, store[p])          /* data read from the store now */
  :: else ->
#ifdef BUG_DATAM_BY_FLAG
     want = txWant[p];
#else
     want = ((sharers[p] & (1 << r)) == 0);        /* data iff r does not share the page */
#endif
     sharers[p] = sharers[p] & ~(1 << r);
     assert(sharers[p] == 0);
     owner[p] = r;
     if
     :: want -> send(TO_NODE(r), DataM, p, store[p])
     :: else -> send(TO_NODE(r), DataM, p, NODATA)
     fi
  fi;
  busy[p] = false
}

/* Admit the waiting requests of page p in FIFO order while the page is free.  Admitting
 * may complete at once (no acks needed), which frees the page for the next entry. */
inline drain_queue(p) {
  do
  :: !busy[p] && qlen[p] > 0 ->
     e = q[p * QP];
     for (j : 1 .. QP - 1) { q[p * QP + j - 1] = q[p * QP + j] };
     q[p * QP + QP - 1] = 0;
     qlen[p]--;
     admit(p);
     if
     :: invWait[p] == 0 && recWait[p] == NONE -> grant(p)
     :: else -> skip
     fi
  :: else -> break
  od
}

inline try_complete(p) {
  if
  :: invWait[p] == 0 && recWait[p] == NONE ->
     grant(p);
     drain_queue(p)
  :: else -> skip
  fi
}

/* A message from node `src` to the directory. */
inline dir_recv(src) {
  if
  :: mt == GetS || mt == GetM ->
     /* queued behind anything waiting, then admitted in FIFO order */
     assert(qlen[pg] < QP);
     q[pg * QP + qlen[pg]] = QE(val, (mt == GetM), src);
     qlen[pg]++;
     drain_queue(pg)
  :: mt == PutS ->                          /* never queued; no-op if already removed */
     sharers[pg] = sharers[pg] & ~(1 << src)
  :: mt == PutM ->                          /* never queued */
     if
     :: owner[pg] == src ->
#ifndef BUG_NO_WB
        store[pg] = val;
#endif
        owner[pg] = NONE
     :: else -> skip                        /* stale: the data is discarded */
     fi;
     send(TO_NODE(src), PutAck, pg, 0)
  :: mt == InvAck ->
     assert(busy[pg] && (invWait[pg] & (1 << src)) != 0);
     invWait[pg] = invWait[pg] & ~(1 << src);
     try_complete(pg)
  :: mt == RecallAck ->
     assert(busy[pg] && recWait[pg] == src);
     recWait[pg] = NONE;
     if
     :: owner[pg] == src ->                 /* applied only if the sender is still owner */
        store[pg] = val;
        owner[pg] = NONE;
        if
        :: !txGetM[pg] -> sharers[pg] = sharers[pg] | (1 << src)  /* to S: becomes sharer */
        :: else -> skip
        fi
     :: else ->                             /* a PutM got there first (races 6.3, 6.4) */
#ifdef BUG_SHARER_ANY
        if
        :: !txGetM[pg] -> sharers[pg] = sharers[pg] | (1 << src)
        :: else -> skip
        fi;
#endif
        skip
     fi;
     try_complete(pg)
  :: else -> assert(false)
  fi
}

/* A message received by node `me` from `src`: on the shared loopback, messages of both
 * directions arrive on one link, so dispatch on the type. */
inline dispatch(src, me) {
  if
  :: mt == DataS || mt == DataM || mt == Inv || mt == Recall || mt == PutAck ->
     node_recv(me)
  :: else ->
     assert(me == HOME);
     dir_recv(src)
  fi;
  check_state();
  skip      /* a d_step must not end in a compound statement (spin limitation) */
}

/* ------------------------------------------------------------------------------------- */
/* Local requests of node `me` on page `p` (reads, writes, evictions).                  */
/* ------------------------------------------------------------------------------------- */
/* GetM's "data wanted" field: a (partial) write always wants data; the home leaves it out
 * if the requester still shares the page.  BUG_DATAM_BY_FLAG lets a node upgrading from S
 * say it wants none, and the home trust that. */
#ifdef BUG_DATAM_BY_FLAG
#define WANT_FROM_S 0
#else
#define WANT_FROM_S 1
#endif
#define OPS(me, p) \
  /* read hit (S, M, SM_AD: the daemon serves it) */ \
  :: d_step { budget[me] > 0 && (ST(me, p) == S || ST(me, p) == M || ST(me, p) == SM_AD) -> \
       assert(DAT(me, p) == latest[p]); skip } \
  /* read miss: fetch */ \
  :: d_step { budget[me] > 0 && ST(me, p) == I -> \
       budget[me]--; send(TO_HOME(me), GetS, p, 0); ST(me, p) = IS_D; check_state(); skip } \
  /* write hit in M */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == M -> \
       wleft--; wcount++; DAT(me, p) = wcount; latest[p] = wcount; skip } \
  /* write from S: upgrade (the S copy stays valid) */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == S -> \
       budget[me]--; wleft--; send(TO_HOME(me), GetM, p, WANT_FROM_S); ST(me, p) = SM_AD; check_state(); skip } \
  /* write from I: upgrade without a valid copy */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == I -> \
       budget[me]--; wleft--; send(TO_HOME(me), GetM, p, 1); ST(me, p) = IM_AD; check_state(); skip } \
  /* evict S */ \
  :: d_step { budget[me] > 0 && ST(me, p) == S -> \
       budget[me]--; send(TO_HOME(me), PutS, p, 0); ST(me, p) = I; DAT(me, p) = BOGUS; check_state(); skip } \
  /* evict M: write back */ \
  :: d_step { budget[me] > 0 && ST(me, p) == M -> \
       budget[me]--; send(TO_HOME(me), PutM, p, DAT(me, p)); ST(me, p) = MI_A; check_state(); skip }


proctype Node0() {
end_idle:
  do
  :: d_step { TO_HOME(0)?mt, pg, val -> dispatch(0, 0) }   /* the 0->0 loopback */
#ifdef SPLIT_LOOPBACK
  :: d_step { TO_NODE(0)?mt, pg, val -> dispatch(0, 0) }
#endif
  :: d_step { TO_HOME(1)?mt, pg, val -> dispatch(1, 0) }
  :: d_step { TO_HOME(2)?mt, pg, val -> dispatch(2, 0) }
  OPS(0, 0)
  OPS(0, 1)
  od
}

proctype NodeR(byte me) {
end_idle:
  do
  :: d_step { TO_NODE(me)?mt, pg, val -> dispatch(HOME, me) }
  OPS(me, 0)
  OPS(me, 1)
  od
}

/* P1: SWMR, checked in every state. */
#define HASM(n, p) (ST(n, p) == M)
#define HASMS(n, p) (ST(n, p) == M || ST(n, p) == S || ST(n, p) == SM_AD)
#define SWMR(p) (!(HASM(0, p) && (HASMS(1, p) || HASMS(2, p))) && \
                 !(HASM(1, p) && (HASMS(0, p) || HASMS(2, p))) && \
                 !(HASM(2, p) && (HASMS(0, p) || HASMS(1, p))))

active proctype Monitor() {
end_mon:
  atomic { !(SWMR(0) && SWMR(1)) -> assert(false) }
}

/* P3: the workload may stop at any time (all budgets set to 0: no more local requests);
 * once nothing can move (timeout), everything must be quiescent and consistent.  Zeroing
 * the budgets (rather than setting a separate flag) merges the stopped states with the
 * states where the budgets ran out by themselves, and the loop keeps Checker's control
 * state unchanged, so stopping costs almost no extra states. */
active proctype Checker() {
  do
  :: d_step { (budget[0] + budget[1] + budget[2] + wleft) > 0 ->
       budget[0] = 0; budget[1] = 0; budget[2] = 0; wleft = 0 }
  :: timeout -> break
  od;
  skip;     /* (a break may not jump straight into a d_step) */
  d_step {
    for (x : 0 .. 4) { assert(len(link[x]) == 0) };
#ifdef SPLIT_LOOPBACK
    assert(len(link[5]) == 0);
#endif
    for (x : 0 .. P - 1) {
      assert(!busy[x] && qlen[x] == 0);
      for (k : 0 .. N - 1) {
        /* no request stuck; directory equals the nodes (doc 7.4) */
        assert(ST(k, x) == I || ST(k, x) == S || ST(k, x) == M);
        assert((owner[x] == k) == (ST(k, x) == M));
        assert(((sharers[x] & (1 << k)) != 0) == (ST(k, x) == S));
        assert(ST(k, x) == I || DAT(k, x) == latest[x])
      };
      assert(owner[x] != NONE || store[x] == latest[x])
    };
    skip
  }
}

init {
  atomic {
    run Node0();
    run NodeR(1);
    run NodeR(2)
  }
}

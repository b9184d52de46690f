/*
 * vremote.pml -- SPIN model of the core of the vremote MSI coherence protocol, as described
 * in docs/design/protocol.md (sections 2, 3, 4 and 6).  Run it with model/run.sh.
 *
 * WHAT IS MODELLED
 *   * 3 nodes (0, 1, 2) and 2 pages of one file whose home is node 0.
 *   * Every node runs one engine, one Promela process (Node0, NodeR(1), NodeR(2)): the
 *     node-side cache controller and, on node 0 only, the home-side directory.  Node 0 caches
 *     its own pages through exactly the same protocol: its cache controller sends GetS, GetM,
 *     PutS, PutM and acks to its own directory as messages on the 0->0 link (doc section 1;
 *     race "The home reads or writes a page that a remote node holds in M").
 *   * One FIFO link per ordered (sender, receiver) pair that the protocol uses:
 *     0->0, 1->0, 2->0, 0->1, 0->2 (1->2 and 2->1 would carry nothing: there is one home).
 *     Links are buffered, so messages cross.  By default the 0->0 link is ONE FIFO carrying
 *     both directions (directory->cache and cache->directory).  -DSPLIT_LOOPBACK gives the
 *     loopback two independent FIFOs instead (weaker ordering; run.sh checks both).
 *   * Node-side page states (section 2): I, S, M, IS_D, IM_AD, SM_AD, MI_A.
 *   * Directory (section 3): per page `owner` and a `sharers` bitmask, at most one active
 *     transaction per page, FIFO wait queues admitted in order, Inv to the sharers (removed
 *     from `sharers` when the Inv is sent), Recall to the owner (who stays recorded until its
 *     RecallAck), PutS/PutM/acks never queued, a PutM from the owner written to the store,
 *     RecallAck data applied and the old owner made a sharer (Recall to S) only if the sender
 *     is still the owner, data replies read from the store when they are sent, DataM with
 *     data iff the requester is not in `sharers` when the GetM is granted.
 *   * Messages (section 4): GetS, GetM, DataS, DataM (with or without data), Inv/InvAck,
 *     Recall{to S | to I}/RecallAck(data), PutS, PutM(data)/PutAck.
 *
 * WHAT IS ABSTRACTED AWAY, AND WHY
 *   * Leases, sessions, Join/Hello/Stale, restarts, Reclaim, Nack, timeouts and node death:
 *     the model is the failure-free core.  The engine's `req`/`txn` ids are not modelled:
 *     without timeouts and restarts every ack belongs to the one active transaction of its
 *     page; the model asserts that by tracking exactly whose acks it waits for.
 *   * The kernel page cache (kernel_cached, KernelInvalidate, held messages): by default the
 *     messages that give a right away (InvAck, RecallAck, PutS, PutM) are sent at once, so
 *     SI_K and MI_K are not needed.  An S eviction goes S -> I and sends PutS in the same
 *     step, which is what SI_K guarantees (the PutS precedes any later GetS on the FIFO
 *     link).  -DKERNEL_EVICT adds the two eviction states SI_K and MI_K with their held
 *     messages (see KERNEL_OPS), because the order in which MI_K releases its held PutM and
 *     RecallAck matters (BUG_HELD_ACK_FIRST).
 *   * fsync (Flush, StoreSync, FsyncAck) and durability.
 *   * Ranges: every request covers exactly one page.  The doc's per-file wait queue admits a
 *     request "when no page of its range is busy and no earlier waiting request overlaps
 *     it"; with one-page ranges that is exactly one FIFO per page, which is what the model
 *     keeps (same behaviour, fewer states).  "Data wanted for first/last page" becomes one
 *     flag: every write is a PARTIAL-page write (it needs the current contents), so a GetM
 *     always wants data and the home decides by the sharer set.
 *   * Page contents are one small number.  The k-th write in the global order stores k
 *     (counter `wcount`), the store starts at 0, BOGUS marks a copy that is not valid.
 *   * Workload bounds (needed for an exhaustive search to finish in about a minute):
 *     node n sends at most OPSn requests (GetS, GetM, PutS, PutM) in a run and at most MAXW
 *     writes happen in a run; read hits and write hits in M are free apart from that.  A node
 *     issues a request only for a page in a stable state (I, S, M): the engine's queue of
 *     pending local requests is not modelled, only its effect (at most one outstanding
 *     request per node and page).  run.sh's coverage probes show that every race of
 *     section 6 is reached within these bounds.
 *   * Atomicity: the engine is a deterministic state machine that handles one input at a
 *     time, so each message handled and each local request is one atomic step (d_step).
 *
 * PROPERTIES (safety run, exhaustive: no bitstate, no depth truncation; pan -E is NOT used)
 *   Each assertion names its property (a hidden constant 1, so that pan's report says which):
 *   P1_SWMR   process Monitor, in every state: a page in M on one node is not in M, S or SM_AD
 *             on another (doc 7.1).
 *   P2_DATA   every read returns the most recent write, latest[page] (well defined since M
 *             is exclusive): a fill (DataS), the copy a write is applied to when M is granted
 *             (DataM, or the S copy kept from SM_AD), every read hit (S, M, SM_AD), and, as a
 *             state invariant checked by Monitor in every state, every copy in S, M or SM_AD.
 *             Note an S copy whose Inv is still in flight is still current: a write
 *             completes only after every InvAck has reached the home, and a node's InvAck
 *             follows its own DataS on the FIFO links.
 *   P3_LIVE   no deadlock, no stuck request: process Checker may at any time stop the
 *             workload (all budgets set to 0).  The system must then drain to a state where
 *             nothing can move, and there (`timeout`) Checker asserts: all links empty, no
 *             page busy, no request waiting, every node page stable (I, S or M), and the
 *             directory equals the nodes' states (doc 7.4), the store and every copy hold
 *             latest[] (tagged P2_DATA).  As the workload can stop in every reachable state,
 *             a request that cannot complete from some reachable state is found.  The idle
 *             loops have end labels, so pan's own invalid-end-state check applies too.
 *   P4_DIR    after every step: an owner and sharers never coexist (section 3), and
 *             corrected versions of the doc's invariants 7.2 and 7.3, which are FALSE as
 *             written (see check_state and README.md; -DDOC_INV72_LITERAL and
 *             -DDOC_INV73_LITERAL check the doc's wording and fail).
 *   PROTO     the transition tables: a message arriving in a state where the doc does not
 *             allow it, an unexpected ack, a requester that is the recorded owner.
 *   LINKCAP   a send never finds its link full, so a node never blocks except on receive.
 *
 * PLANTED BUGS (run.sh checks that each is found; it runs them with -DNO_AUX_INV so that a
 * headline property P1/P2/P3 must catch them, not the auxiliary invariants)
 *   BUG_SKIP_INV          GetM: the home drops sharer 2 from `sharers` without sending it Inv.
 *   BUG_NO_WB             PutM from the owner clears the owner but does not write the store.
 *   BUG_DATAM_BY_FLAG     the home sends DataM data iff the node asked for it, and a node
 *                         upgrading from S asks for none: breaks race 6.1 (SM_AD -> IM_AD).
 *   BUG_SHARER_ANY        RecallAck{to S} makes its sender a sharer even when it is no longer
 *                         the owner (its PutM got there first): breaks race 6.4.
 *   BUG_IGNORE_STALE_INV  a node in IS_D / IM_AD drops an Inv instead of acking it (race 6.5).
 *   BUG_NO_DRAIN          the home admits waiting requests only when a new request arrives,
 *                         not when a transaction completes.
 *   BUG_HELD_ACK_FIRST    (with -DKERNEL_EVICT) when MI_K's kernel invalidation is done, the
 *                         held RecallAck is sent before the held PutM.
 *
 * OPTIONAL KERNEL EVICTIONS (-DKERNEL_EVICT): SI_K and MI_K with held messages, see
 * KERNEL_OPS.  The kernel_cached bit is abstracted to a nondeterministic choice between the
 * kernel and the no-kernel eviction; the other kernel invalidations (Inv, Recall to I,
 * direct writes) and the page-cache fill rule of section 2 are not modelled.
 */

#define N      3         /* nodes 0..2 */
#define P      2         /* pages 0..1 of the one file */
#define HOME   0         /* the file's home node */
#define NONE   3         /* no node (owner, recall target) */
#define NODATA 255       /* DataM without data */
#define BOGUS  254       /* contents of a node copy that is not valid */

/* Workload bounds.  The defaults are those of run.sh's main verification: nodes 0, 1, 2 may
 * send 3, 3, 2 requests (GetS/GetM/PutS/PutM), and 2 writes happen in all.
 * -DOPS_PER_NODE=n sets all three request budgets. */
#ifndef MAXW
#define MAXW 2
#endif
#ifdef OPS_PER_NODE
#define OPS0 OPS_PER_NODE
#define OPS1 OPS_PER_NODE
#define OPS2 OPS_PER_NODE
#endif
#ifndef OPS0
#define OPS0 3
#endif
#ifndef OPS1
#define OPS1 3
#endif
#ifndef OPS2
#define OPS2 2
#endif
#ifndef CAP
#define CAP 4            /* capacity of each link (LINKCAP asserts it is never exceeded) */
#endif

/* Node-side page states (doc section 2).  SI_K and MI_K exist only with -DKERNEL_EVICT. */
#define I      0
#define S      1
#define M      2
#define IS_D   3
#define IM_AD  4
#define SM_AD  5
#define MI_A   6
#define SI_K   7         /* only with -DKERNEL_EVICT */
#define MI_K   8         /* only with -DKERNEL_EVICT */

#define TO_I   0         /* Recall field: to I (for a GetM) or to S (for a GetS) */
#define TO_S   1

mtype = { GetS, GetM, PutS, PutM, InvAck, RecallAck,   /* node -> home */
          DataS, DataM, Inv, Recall, PutAck };          /* home -> node */

/* Property tags: hidden (not in the state vector) constants that only name the property in
 * pan's "assertion violated (...)" report. */
hidden byte P1_SWMR = 1, P2_DATA = 1, P3_LIVE = 1, P4_DIR = 1, PROTO = 1, LINKCAP = 1,
            DOC_CLAIM = 1, PROBE_HIT = 1;

/* ---------------------------------------------------------------------------------------
 * Links.  A message is { type, page, value }; value is the data (DataS, DataM, PutM,
 * RecallAck; NODATA for a DataM without data), TO_S/TO_I (Recall) or "data wanted" (GetM).
 *   link[n], n = 0..2 : node n -> home (link[0] is the 0->0 loopback)
 *   link[3], link[4]  : home -> node 1, home -> node 2
 *   link[5]           : home -> node 0, only with SPLIT_LOOPBACK
 * ------------------------------------------------------------------------------------- */
#ifdef SPLIT_LOOPBACK
#define NLINK 6
#define TO_NODE(n) link[((n) == 0 -> 5 : (n) + 2)]
#else
#define NLINK 5
#define TO_NODE(n) link[((n) == 0 -> 0 : (n) + 2)]
#endif
#define TO_HOME(n) link[n]
chan link[NLINK] = [CAP] of { mtype, byte, byte };

/* is a message of type t for page p in flight on link ch? */
#define INFLIGHT(ch, t, p) (ch??[t, eval(p), _])

/* ---------------------------------------------------------------------------------------
 * Node side: node n's copy of page p is st[n*P+p] (its state) and dat[n*P+p] (its data).
 * ------------------------------------------------------------------------------------- */
byte st[N * P] = I;
byte dat[N * P] = BOGUS;
#ifdef KERNEL_EVICT
bool held[N * P] = false; /* SI_K / MI_K: an InvAck / RecallAck is held behind the eviction */
#endif
#define ST(n, p)  st[(n) * P + (p)]
#define DAT(n, p) dat[(n) * P + (p)]

/* The global order of writes (P2): latest[p] is the value of the most recent write to p. */
byte latest[P] = 0;
byte wcount = 0;         /* writes completed so far = the value of the last one */
byte wleft = MAXW;       /* writes that may still be started */
byte budget[N];          /* requests node n may still send; 0 = the node has stopped */

/* ---------------------------------------------------------------------------------------
 * Home side (node 0): the directory of doc section 3.
 * ------------------------------------------------------------------------------------- */
byte store[P] = 0;       /* the home's on-disk copy, the "memory" */
byte owner[P] = NONE;
byte sharers[P] = 0;     /* bit n = node n */
/* the active transaction of each page */
bool busy[P] = false;
bool txGetM[P] = false;  /* a GetM (else a GetS) */
byte txReq[P] = 0;       /* its requester r */
bool txWant[P] = false;  /* r asked for data (used only by BUG_DATAM_BY_FLAG) */
byte invWait[P] = 0;     /* nodes whose InvAck is awaited */
byte recWait[P] = NONE;  /* node whose RecallAck is awaited */
/* the wait queue of each page, in arrival order; each node has at most one request per page
 * outstanding, so N entries suffice (PROTO asserts it).  entry = want*8 + getm*4 + node */
#define QP N
byte q[P * QP];
byte qlen[P] = 0;
#define QE(want, getm, n) ((want) * 8 + (getm) * 4 + (n))
#define QE_NODE(e) ((e) & 3)
#define QE_GETM(e) (((e) >> 2) & 1)
#define QE_WANT(e) (((e) >> 3) & 1)

/* Scratch variables of one atomic step: always written before being read within the step,
 * so they are hidden (not part of the state vector). */
hidden mtype mt;
hidden byte pg, val, x, r, k, j, e, want;

/* Coverage probes.  Compiled with -DPROBE=n, reaching probe n is an assertion violation, so
 * a run that reports it proves the situation reachable within the bounds (run.sh). */
#ifdef PROBE
#define REACH(n) assert(PROBE_HIT && PROBE != (n))
#else
#define REACH(n) skip
#endif

inline send(ch, t, p, v) {
  assert(LINKCAP && nfull(ch));
  ch!t, p, v
}

/* ------------------------------------------------------------------------------------- */
/* P4_DIR: directory invariants, checked after every step.                               */
/* ------------------------------------------------------------------------------------- */
inline check_state() {
#ifdef NO_AUX_INV
  skip
#else
  for (x : 0 .. P - 1) {
    /* section 3: an owner and sharers never coexist */
    assert(P4_DIR && (owner[x] == NONE || sharers[x] == 0));
    /* doc 7.2: "The directory's owner of a page is the node in M, or a node that is giving
     * it up (MI_K, MI_A, or has a RecallAck held or in flight)."  That misses the NEW owner
     * whose DataM is still in flight (it is in IM_AD or SM_AD): the home records the owner
     * when it sends the DataM.  Corrected here; -DDOC_INV72_LITERAL checks the doc's text. */
    if
    :: owner[x] != NONE ->
       assert(P4_DIR && (ST(owner[x], x) == M || ST(owner[x], x) == MI_A ||
                         ST(owner[x], x) == MI_K ||
                         INFLIGHT(TO_HOME(owner[x]), RecallAck, x)
#ifndef DOC_INV72_LITERAL
                         || INFLIGHT(TO_NODE(owner[x]), DataM, x)
#endif
                        ))
    :: else -> skip
    fi;
    for (k : 0 .. N - 1) {
      /* doc 7.3: "Every node in S is in the directory's sharer set, or an Inv to it is in
       * flight" (SM_AD counts as S).  That misses two cases in which the node is the
       * recorded OWNER instead: (a) an owner recalled to S, whose RecallAck (which makes it
       * a sharer at the home) is still in flight, and (b) a node in SM_AD whose DataM is in
       * flight (the home removed it from `sharers` when it made it the owner).  Corrected
       * here; -DDOC_INV73_LITERAL checks the doc's text, -DDOC_INV73_GAP_A / _GAP_B put back
       * only case (b) / only case (a), to show that each is needed. */
      if
      :: ST(k, x) == S || ST(k, x) == SM_AD ->
#ifdef DOC_SUPERSET
         /* section 3: `sharers` is "a superset of the real sharers while Invs are in
          * flight".  False: a sharer is removed when its Inv is SENT, so while the Inv is in
          * flight the set LACKS a real sharer. */
         assert(DOC_CLAIM && (!INFLIGHT(TO_NODE(k), Inv, x) || (sharers[x] & (1 << k)) != 0));
#endif
         assert(P4_DIR && ((sharers[x] & (1 << k)) != 0 || INFLIGHT(TO_NODE(k), Inv, x)
#if !defined(DOC_INV73_LITERAL) && !defined(DOC_INV73_GAP_A)
                           || (owner[x] == k && INFLIGHT(TO_HOME(k), RecallAck, x))
#endif
#if !defined(DOC_INV73_LITERAL) && !defined(DOC_INV73_GAP_B)
                           || (owner[x] == k && INFLIGHT(TO_NODE(k), DataM, x))
#endif
                          ))
      :: else -> skip
      fi;
      /* what does hold of `sharers`: it holds a node that is not a sharer only while that
       * node's PutS (or, with KERNEL_EVICT, its held PutS in SI_K), or the DataS of its
       * fetch, is in flight */
      if
      :: (sharers[x] & (1 << k)) != 0 ->
         assert(P4_DIR && (ST(k, x) == S || ST(k, x) == SM_AD || ST(k, x) == SI_K ||
                           INFLIGHT(TO_HOME(k), PutS, x) || INFLIGHT(TO_NODE(k), DataS, x)))
      :: else -> skip
      fi
    }
  }
#endif
}

/* ------------------------------------------------------------------------------------- */
/* Cache controller of node `me`: a message from the home (DataS, DataM, Inv, Recall,     */
/* PutAck) for page pg.                                                                   */
/* ------------------------------------------------------------------------------------- */
inline node_recv(me) {
  x = me * P + pg;
  if
  :: mt == DataS ->                         /* fetch granted: IS_D -> S, the read completes */
     assert(PROTO && st[x] == IS_D);
     dat[x] = val;
     st[x] = S;
     assert(P2_DATA && dat[x] == latest[pg])
  :: mt == DataM ->                         /* upgrade granted: IM_AD / SM_AD -> M */
     assert(PROTO && (st[x] == IM_AD || st[x] == SM_AD));
     if
     :: val != NODATA -> dat[x] = val
     :: else -> REACH(12)                   /* no data: keep the S copy of SM_AD */
     fi;
     assert(P2_DATA && dat[x] == latest[pg]);   /* the (partial) write needs current data */
     st[x] = M;
     wcount++;                              /* the write that asked for M completes */
     dat[x] = wcount;
     latest[pg] = wcount
  :: mt == Inv ->                           /* acked from every state but M and MI_A */
     if
     :: st[x] == S -> st[x] = I; dat[x] = BOGUS
     :: st[x] == SM_AD -> st[x] = IM_AD; dat[x] = BOGUS; REACH(1)   /* race 6.1 */
     :: st[x] == I -> REACH(2)                                      /* race 6.2 */
     :: st[x] == IS_D -> REACH(7)                                   /* race 6.5 */
     :: st[x] == IM_AD -> REACH(8)                                  /* race 6.5 */
#ifdef KERNEL_EVICT
     :: st[x] == SI_K -> REACH(16)          /* InvAck held behind the eviction (race 6.2) */
#endif
     :: else -> assert(PROTO && false)      /* Inv in M or MI_A */
     fi;
#ifdef KERNEL_EVICT
     if
     :: st[x] == SI_K -> assert(PROTO && !held[x]); held[x] = true
     :: else ->
#endif
#ifdef BUG_IGNORE_STALE_INV
     if
     :: st[x] == IS_D || st[x] == IM_AD -> skip     /* the "stale" Inv is dropped */
     :: else ->
#endif
     send(TO_HOME(me), InvAck, pg, 0)
#ifdef BUG_IGNORE_STALE_INV
     fi
#endif
#ifdef KERNEL_EVICT
     fi
#endif
  :: mt == Recall ->
     if
     :: st[x] == M ->
        send(TO_HOME(me), RecallAck, pg, dat[x]);
        if
        :: val == TO_S -> st[x] = S
        :: else -> st[x] = I; dat[x] = BOGUS
        fi
     :: st[x] == MI_A ->                    /* races 6.3 / 6.4: answer with the data, stay */
        if
        :: val == TO_I -> REACH(4)
        :: else -> REACH(6)
        fi;
        send(TO_HOME(me), RecallAck, pg, dat[x])
#ifdef KERNEL_EVICT
     :: st[x] == MI_K ->                    /* RecallAck held behind the eviction */
        REACH(17);
        assert(PROTO && !held[x]);
        held[x] = true
#endif
     :: else -> assert(PROTO && false)
     fi
  :: mt == PutAck ->
     assert(PROTO && st[x] == MI_A);
     st[x] = I;
     dat[x] = BOGUS
  :: else -> assert(PROTO && false)
  fi
}

/* ------------------------------------------------------------------------------------- */
/* Directory (node 0).                                                                    */
/* ------------------------------------------------------------------------------------- */

/* Admit the request `e` for page p: send Inv / Recall.  The grant follows once no ack is
 * awaited (at once if none is needed). */
inline admit(p) {
  busy[p] = true;
  txGetM[p] = QE_GETM(e);
  txWant[p] = QE_WANT(e);
  txReq[p] = QE_NODE(e);
  invWait[p] = 0;
  recWait[p] = NONE;
  assert(PROTO && owner[p] != txReq[p]);    /* a requester is never the recorded owner */
  if
  :: txReq[p] == HOME && owner[p] != NONE -> REACH(10)   /* 6.7: the home recalls */
  :: else -> skip
  fi;
  if
  :: busy[1 - p] && (owner[p] != NONE || sharers[p] != 0) -> REACH(15)  /* 2 pages busy */
  :: else -> skip
  fi;
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
     /* GetM: Inv to every sharer other than r, removed from `sharers` when sent;
      * Recall{to I} to the owner */
     for (k : 0 .. N - 1) {
       if
       :: k != txReq[p] && (sharers[p] & (1 << k)) != 0 ->
#ifdef BUG_SKIP_INV
          if
          :: k == N - 1 -> sharers[p] = sharers[p] & ~(1 << k)   /* forgotten, no Inv */
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

/* All acks are in: grant the active transaction of page p and release the page. */
inline grant(p) {
  r = txReq[p];
  assert(PROTO && owner[p] == NONE);        /* the RecallAck (or a crossing PutM) cleared it */
  if
  :: !txGetM[p] ->
     sharers[p] = sharers[p] | (1 << r);
     send(TO_NODE(r), DataS, p, store[p])           /* data read from the store now */
  :: else ->
#ifdef BUG_DATAM_BY_FLAG
     want = txWant[p];
#else
     want = ((sharers[p] & (1 << r)) == 0);         /* data iff r does not share the page */
#endif
     /* r leaves `sharers` as it becomes the owner (the doc does not say so, but an owner and
      * sharers never coexist) */
     sharers[p] = sharers[p] & ~(1 << r);
     assert(P4_DIR && sharers[p] == 0);
     owner[p] = r;
     if
     :: want -> send(TO_NODE(r), DataM, p, store[p])
     :: else -> send(TO_NODE(r), DataM, p, NODATA)
     fi
  fi;
  busy[p] = false
}

/* Admit the waiting requests of page p in FIFO order while the page is free; one that needs
 * no ack is granted at once, which frees the page for the next. */
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
#ifndef BUG_NO_DRAIN
     drain_queue(p)
#else
     skip
#endif
  :: else -> skip
  fi
}

/* A message from node `src` to the directory. */
inline dir_recv(src) {
  if
  :: mt == GetS || mt == GetM ->            /* queued, admitted in FIFO order */
     assert(PROTO && qlen[pg] < QP);
     if
     :: qlen[pg] > 0 -> REACH(9)            /* 6.6: behind a busy page and another waiter */
     :: else -> skip
     fi;
     q[pg * QP + qlen[pg]] = QE(val, (mt == GetM), src);
     qlen[pg]++;
     drain_queue(pg)
  :: mt == PutS ->                          /* never queued; a no-op if already removed */
     if
     :: (sharers[pg] & (1 << src)) == 0 -> REACH(3)   /* race 6.2 */
     :: else -> skip
     fi;
     sharers[pg] = sharers[pg] & ~(1 << src)
  :: mt == PutM ->                          /* never queued */
     if
     :: owner[pg] == src ->
#ifndef BUG_NO_WB
        store[pg] = val;
#endif
        owner[pg] = NONE
     :: else -> REACH(13)                   /* not the owner: the data is discarded */
     fi;
     send(TO_NODE(src), PutAck, pg, 0)
  :: mt == InvAck ->
     assert(PROTO && busy[pg] && (invWait[pg] & (1 << src)) != 0);
     invWait[pg] = invWait[pg] & ~(1 << src);
     try_complete(pg)
  :: mt == RecallAck ->
     assert(PROTO && busy[pg] && recWait[pg] == src);
     recWait[pg] = NONE;
     if
     :: owner[pg] == src ->                 /* applied only if the sender is still owner */
        store[pg] = val;
        owner[pg] = NONE;
        if
        :: !txGetM[pg] -> sharers[pg] = sharers[pg] | (1 << src)   /* to S: a sharer now */
        :: else -> skip
        fi
     :: else ->                             /* its PutM got here first: races 6.3, 6.4 */
        REACH(5);
#ifdef BUG_SHARER_ANY
        if
        :: !txGetM[pg] -> sharers[pg] = sharers[pg] | (1 << src)
        :: else -> skip
        fi;
#endif
        skip
     fi;
     try_complete(pg)
  :: else -> assert(PROTO && false)
  fi
}

/* One message received by node `me` from node `src`.  On the shared loopback both
 * directions arrive on one link, so dispatch on the type. */
inline dispatch(src, me) {
  if
  :: mt == DataS || mt == DataM || mt == Inv || mt == Recall || mt == PutAck ->
     node_recv(me)
  :: else ->
     assert(PROTO && me == HOME);
     dir_recv(src)
  fi;
  check_state();
  skip      /* (spin: a d_step may not end in a compound statement) */
}

/* ------------------------------------------------------------------------------------- */
/* Local requests of node `me` on page `p`: read, write, evict (one atomic step each).   */
/* ------------------------------------------------------------------------------------- */
/* GetM's "data wanted": a partial write always wants data, and the home leaves it out if
 * the requester still shares the page.  BUG_DATAM_BY_FLAG: a node upgrading from S asks
 * for none, and the home trusts the flag. */
#ifdef BUG_DATAM_BY_FLAG
#define WANT_FROM_S 0
#else
#define WANT_FROM_S 1
#endif

#define OPS(me, p) \
  /* read hit: served in S, M and SM_AD */ \
  :: d_step { budget[me] > 0 && (ST(me, p) == S || ST(me, p) == M || ST(me, p) == SM_AD) -> \
       assert(P2_DATA && DAT(me, p) == latest[p]); skip } \
  /* read miss: fetch */ \
  :: d_step { budget[me] > 0 && ST(me, p) == I -> \
       if :: INFLIGHT(TO_HOME(me), PutS, p) -> REACH(11) :: else -> skip fi; /* 6.8 */ \
       budget[me]--; send(TO_HOME(me), GetS, p, 0); ST(me, p) = IS_D; check_state(); skip } \
  /* write hit in M */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == M -> \
       wleft--; wcount++; DAT(me, p) = wcount; latest[p] = wcount; skip } \
  /* write in S: upgrade, the S copy stays valid */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == S -> \
       budget[me]--; wleft--; send(TO_HOME(me), GetM, p, WANT_FROM_S); ST(me, p) = SM_AD; \
       check_state(); skip } \
  /* write in I: upgrade without a valid copy */ \
  :: d_step { budget[me] > 0 && wleft > 0 && ST(me, p) == I -> \
       budget[me]--; wleft--; send(TO_HOME(me), GetM, p, 1); ST(me, p) = IM_AD; \
       check_state(); skip } \
  /* evict S */ \
  :: d_step { budget[me] > 0 && ST(me, p) == S -> \
       budget[me]--; send(TO_HOME(me), PutS, p, 0); ST(me, p) = I; DAT(me, p) = BOGUS; \
       check_state(); skip } \
  /* evict M: write back */ \
  :: d_step { budget[me] > 0 && ST(me, p) == M -> \
       budget[me]--; send(TO_HOME(me), PutM, p, DAT(me, p)); ST(me, p) = MI_A; \
       check_state(); skip } \
  KERNEL_OPS(me, p)

#ifndef KERNEL_EVICT
#define KERNEL_OPS(me, p)
#else
/* -DKERNEL_EVICT: evictions while the kernel holds a copy (doc section 2 and the tables):
 * S -> SI_K with PutS held, M -> MI_K with PutM held; an Inv (Recall) arriving meanwhile has
 * its InvAck (RecallAck) held behind the eviction's invalidation.  When the kernel is done
 * (a local event, not bounded by the budget), the held messages are sent in the order they
 * were held.  BUG_HELD_ACK_FIRST sends MI_K's held RecallAck before its held PutM. */
#ifdef BUG_HELD_ACK_FIRST
#define MI_K_RELEASE(me, p) \
       if :: held[(me) * P + (p)] -> send(TO_HOME(me), RecallAck, p, DAT(me, p)) \
          :: else -> skip fi; \
       send(TO_HOME(me), PutM, p, DAT(me, p));
#else
#define MI_K_RELEASE(me, p) \
       send(TO_HOME(me), PutM, p, DAT(me, p)); \
       if :: held[(me) * P + (p)] -> send(TO_HOME(me), RecallAck, p, DAT(me, p)) \
          :: else -> skip fi;
#endif
#define KERNEL_OPS(me, p) \
  :: d_step { budget[me] > 0 && ST(me, p) == S -> \
       budget[me]--; ST(me, p) = SI_K; check_state(); skip } \
  :: d_step { budget[me] > 0 && ST(me, p) == M -> \
       budget[me]--; ST(me, p) = MI_K; check_state(); skip } \
  :: d_step { ST(me, p) == SI_K -> \
       send(TO_HOME(me), PutS, p, 0); \
       if :: held[(me) * P + (p)] -> send(TO_HOME(me), InvAck, p, 0) :: else -> skip fi; \
       held[(me) * P + (p)] = false; ST(me, p) = I; DAT(me, p) = BOGUS; check_state(); skip } \
  :: d_step { ST(me, p) == MI_K -> \
       MI_K_RELEASE(me, p) \
       held[(me) * P + (p)] = false; ST(me, p) = MI_A; check_state(); skip }
#endif

/* Node 0: the home (directory) and a cache controller.  It never blocks but on receive. */
proctype Node0() {
end_idle:
  do
  :: d_step { TO_HOME(0)?mt, pg, val -> dispatch(0, 0) }    /* the 0->0 loopback */
#ifdef SPLIT_LOOPBACK
  :: d_step { TO_NODE(0)?mt, pg, val -> dispatch(0, 0) }    /* its home -> cache half */
#endif
  :: d_step { TO_HOME(1)?mt, pg, val -> dispatch(1, 0) }
  :: d_step { TO_HOME(2)?mt, pg, val -> dispatch(2, 0) }
  OPS(0, 0)
  OPS(0, 1)
  od
}

/* Nodes 1 and 2: a cache controller. */
proctype NodeR(byte me) {
end_idle:
  do
  :: d_step { TO_NODE(me)?mt, pg, val -> dispatch(HOME, me) }
  OPS(me, 0)
  OPS(me, 1)
  od
}

/* P1 (SWMR) and P2 as a state invariant (a read served now from S, M or SM_AD would return
 * latest[]), in every state.  A branch is enabled only in a violating state. */
/* With KERNEL_EVICT the kernel's copy of a page in SI_K (MI_K) can still be read until the
 * invalidation is done, so SI_K counts as S and MI_K as M. */
#define HASM(n, p)  (ST(n, p) == M || ST(n, p) == MI_K)
#define HASMS(n, p) (HASM(n, p) || ST(n, p) == S || ST(n, p) == SM_AD || ST(n, p) == SI_K)
#define SWMR(p) (!(HASM(0, p) && (HASMS(1, p) || HASMS(2, p))) && \
                 !(HASM(1, p) && (HASMS(0, p) || HASMS(2, p))) && \
                 !(HASM(2, p) && (HASMS(0, p) || HASMS(1, p))))
#define FRESH1(n, p) (!HASMS(n, p) || DAT(n, p) == latest[p])
#define FRESH(p) (FRESH1(0, p) && FRESH1(1, p) && FRESH1(2, p))

proctype Monitor() {
end_mon:
  do
  :: atomic { !(SWMR(0) && SWMR(1)) -> assert(P1_SWMR && SWMR(0) && SWMR(1)) }
  :: atomic { !(FRESH(0) && FRESH(1)) -> assert(P2_DATA && FRESH(0) && FRESH(1)) }
  od
}

/* P3: the workload may stop at any time (every budget set to 0: no more local requests).
 * Once nothing can move (timeout), everything must be quiescent and consistent.  Zeroing the
 * budgets, rather than setting a separate flag, merges the stopped states with those whose
 * budgets ran out by themselves, so the check costs few extra states. */
proctype Checker() {
  do
  :: d_step { (budget[0] + budget[1] + budget[2] + wleft) > 0 ->
       budget[0] = 0; budget[1] = 0; budget[2] = 0; wleft = 0 }
  :: timeout -> break
  od;
  skip;     /* (spin: a break may not jump straight into a d_step) */
  d_step {
    for (x : 0 .. NLINK - 1) { assert(P3_LIVE && len(link[x]) == 0) };
    for (x : 0 .. P - 1) {
      assert(P3_LIVE && !busy[x] && qlen[x] == 0);
      for (k : 0 .. N - 1) {
        /* no request stuck, and the directory equals the nodes' states (doc 7.4) */
        assert(P3_LIVE && (ST(k, x) == I || ST(k, x) == S || ST(k, x) == M));
        assert(P3_LIVE && (owner[x] == k) == (ST(k, x) == M));
        assert(P3_LIVE && ((sharers[x] & (1 << k)) != 0) == (ST(k, x) == S));
        assert(P2_DATA && (ST(k, x) == I || DAT(k, x) == latest[x]))
      };
      /* with no owner the store holds the latest write */
      assert(P2_DATA && (owner[x] != NONE || store[x] == latest[x]))
    };
    if
    :: wcount == MAXW -> REACH(14)          /* quiescence after all the writes */
    :: else -> skip
    fi
  }
}

init {
  atomic {
    budget[0] = OPS0;
    budget[1] = OPS1;
    budget[2] = OPS2;
    run Node0();
    run NodeR(1);
    run NodeR(2);
    run Monitor();
    run Checker()
  }
}

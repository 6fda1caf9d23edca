/* srchain SR node: sizes, constants and type names shared by every part of the program.
 * Change a size here, not in a control; docs/p4.md lists the resource assumptions they imply. */
#ifndef _SRCHAIN_DEFINES_P4_
#define _SRCHAIN_DEFINES_P4_

/* Build profile: the modules compiled in (p4/build --profile; docs/p4.md "Profiles"). `full` has both; a
 * bf-p4c 1.2.5.16 (9.13.4) fits `full` in a Tofino 1's 12 stages (docs/p4.md "Stages on a Tofino 1"). */
#ifndef SRCHAIN_FLOW_FEATURES
#define SRCHAIN_FLOW_FEATURES 1
#endif
#ifndef SRCHAIN_PRIORITY
#define SRCHAIN_PRIORITY 1
#endif
/* The L4S dual-queue coupled AQM (control/l4s.p4): off in `full` (docs/p4.md "L4S module": profile `l4s` is the
 * SR core + L4S). */
#ifndef SRCHAIN_L4S
#define SRCHAIN_L4S 0
#endif
#define SRCHAIN_LOCAL_MODULES (SRCHAIN_FLOW_FEATURES || SRCHAIN_PRIORITY || SRCHAIN_L4S)

/* The SR core over SRv6 instead of SR-MPLS (profile srv6, docs/p4.md "SRv6 profile"): IPv6 + SRH (RFC 8754),
 * H.Encaps(.Red) at the classifier and on reports, End / End.X / End.DX4 / End.DT4 and module SIDs (RFC 8986).
 * The l4s module's egress parser walks an MPLS stack to the IPv4 header it marks: not in this profile. */
#ifndef SRCHAIN_SRV6
#define SRCHAIN_SRV6 0
#endif
#if SRCHAIN_SRV6 && SRCHAIN_L4S
#error "SRCHAIN_SRV6 without SRCHAIN_L4S: the l4s module's egress parser and ECN marking are SR-MPLS only"
#endif
/* Inter-site transport (issue 20, docs/multisite.md "Data plane"; control/wan.p4): a border switch encapsulates a
 * labelled packet whose next segment crosses a WAN link in MPLS-in-UDP (RFC 7510) or MPLS-in-GRE (RFC 4023)
 * and decapsulates either when addressed to it. Off in `full` (no stage to spare there, docs/p4.md "Profiles"): profile `wan` is the SR core +
 * WAN. SR-MPLS only (an SRv6 WAN is native IPv6), and not beside the l4s module (its egress parser walks
 * Ethernet -> labels, not the outer IPv4/UDP). */
#ifndef SRCHAIN_WAN
#define SRCHAIN_WAN 0
#endif
#if SRCHAIN_WAN && (SRCHAIN_SRV6 || SRCHAIN_L4S)
#error "SRCHAIN_WAN is SR-MPLS only and not beside SRCHAIN_L4S (docs/multisite.md)"
#endif
/* SRv6: the most segments an SRH may list (Last Entry + 1); a longer list is dropped as stack_too_deep. */
#ifndef SRV6_MAX_SEGS
#define SRV6_MAX_SEGS 4
#endif

/* Maximum stack depth: labels the parser accepts. A deeper stack is dropped and counted. */
#ifndef MSD
#define MSD 8
#endif

#define CLASSIFIER_SIZE   1024
#define LOCAL_SID_SIZE    256
#define SID_FORWARD_SIZE  4096
#define ROUTES_SIZE       4096
#define REPORT_SESSIONS   256
#define QUEUE_MAP_SIZE    256
#define FLOW_SLOTS        32768   /* flow-features: one slot per flow direction (2^15: see docs/p4.md "Stages") */
#define SESSION_SLOTS     65536   /* priority: one slot per session (both directions) */
#define N_QUEUES          32      /* QueueId_t is 5 bits */
#define QUEUE_STATS_SIZE  16384   /* egress_port (9 bits) ++ qid (5 bits) */
#define L4S_CONFIG_SIZE   64      /* l4s: SIDs (one per l4s segment and switch) */
#define L4S_QUEUE_MAP_SIZE 256    /* l4s: (SID, ECN codepoint) -> queue, 4 per SID */
#define L4S_PI_SIZE       4096    /* l4s: (SID, queue-delay bucket) -> PI terms, 256 per SID */
#define L4S_PORTS         512     /* l4s: PI state per egress port (9 bits) */
#define WAN_DECAP_SIZE    64      /* wan: (far border, this border) address pairs, one per WAN link direction */

typedef bit<48> mac_addr_t;
typedef bit<32> ipv4_addr_t;
typedef bit<128> ipv6_addr_t;
typedef bit<20> sid_t;
typedef bit<4>  lb_bucket_t;      /* 16 load-balancing buckets (plan/tables.py LB_BUCKET_BITS) */
typedef bit<15> flow_slot_t;      /* FLOW_SLOTS = 2^15: the slot is the low 15 bits of the CRC-32 */
typedef bit<8>  class_id_t;
typedef bit<14> queue_index_t;    /* queue_stats: egress_port ++ qid */

const bit<16> ETHERTYPE_IPV4 = 0x0800;
const bit<16> ETHERTYPE_MPLS = 0x8847;
const bit<16> ETHERTYPE_IPV6 = 0x86DD;
const bit<8>  IP_PROTO_IPV4 = 4;           /* IPv6 next header of an encapsulated IPv4 packet */
const bit<8>  IP_PROTO_ROUTING = 43;       /* IPv6 routing header; routing type 4 is the SRH */
const bit<8>  ROUTING_TYPE_SRH = 4;
const bit<8>  IP_PROTO_TCP = 6;
const bit<8>  IP_PROTO_UDP = 17;

/* MPLS-in-UDP (RFC 7510): the destination port the parser takes as MPLS (a parser constant: the parser decides
 * what follows the UDP header before any table runs), the outer header's fixed fields, and the UDP source
 * port's entropy: wan_entropy_t (14 bits) of the inner 5-tuple's CRC-32, added to the entry's udp_src_min
 * (49152: the dynamic range, RFC 7510 3). MPLS-in-GRE (RFC 4023): IPv4 protocol 47, GRE protocol 0x8847. */
const bit<16> MPLS_UDP_PORT = 6635;
const bit<16> WAN_IPV4_UDP_BYTES = 28;     /* outer IPv4 20 + UDP 8 */
const bit<16> WAN_IPV4_GRE_BYTES = 24;     /* outer IPv4 20 + GRE 4 (RFC 4023, no checksum or key) */
const bit<8>  IP_PROTO_GRE = 47;
const bit<16> UDP_HEADER_BYTES = 8;
const bit<3>  IPV4_FLAG_DF = 2;            /* outer header: DF, identification 0 (an atomic datagram, RFC 6864) */
typedef bit<14> wan_entropy_t;

/* Records (docs/records.md, srchain.records): common head and UDP ports. */
const bit<16> RECORD_MAGIC = 0x5352;
const bit<8>  RECORD_VERSION = 1;
const bit<8>  RECORD_FEATURE_REPORT = 1;
const bit<8>  RECORD_DECISION = 2;
const bit<16> FEATURE_REPORT_PORT = 47001;
const bit<16> DECISION_PORT = 47002;
const bit<16> FEATURE_REPORT_LEN = 72;
const bit<32> IAT_NONE = 0xFFFFFFFF;
const bit<8>  FLAG_DIRECTION = 1;          /* feature report flags (docs/records.md) */
const bit<8>  FLAG_COLLISION = 2;

/* A local SID's module (ingress_metadata_t.ls0/ls1.module). */
const bit<8> LOCAL_NONE = 0;
const bit<8> LOCAL_FLOW_FEATURES = 1;
const bit<8> LOCAL_PRIORITY = 2;
const bit<8> LOCAL_L4S = 3;

/* The bridged header's kind: what follows it. A packet with a feature report due carries the report's key and
 * record after the bridged header; the packet replication engine copies it (mcast_grp_a, RID REPORT_RID) to the
 * report port while the unicast copy goes on: egress builds the report from the copy with REPORT_RID and
 * strips both headers from the other. */
const bit<8> PKT_BRIDGED = 0;
const bit<8> PKT_REPORT = 1;               /* report attached, the data copy goes on */
const bit<8> PKT_REPORT_DATA_DROPPED = 2;  /* report attached, ingress dropped the data: egress drops it */
const bit<16> REPORT_RID = 0xFEED;         /* the $pre.node RID of report copies (plan/tables.py REPORT_RID) */
/* Decision fan-out (docs/p4.md "Pipes"): a Tofino keeps registers per pipe, so a decision record written only
 * where it arrives would miss data entering in another pipe. A valid decision is replicated instead (group
 * DECISION_MGID, one $pre.node of RID DECISION_RID with each pipe's recirculation port, plan/tables.py) and
 * every copy, back in its pipe's ingress on 68 + 128 * pipe, writes that pipe's session registers. */
const bit<8> PKT_DECISION = 4;             /* a decision being replicated: only the DECISION_RID copies go on */
const MulticastGroupId_t DECISION_MGID = 0xDEC1;
const bit<16> DECISION_RID = 0xDEC1;
const bit<7> RECIRC_LOCAL_PORT = 68;       /* Tofino 1: a pipe's recirculation port is 68 + 128 * pipe */
/* The finished report leaves as an E2E mirror of itself, truncated by its session ($mirror.cfg EGRESS, id
 * REPORT_SESSION_BASE + port, max_pkt_len plan/tables.py REPORT_TRUNCATE): a Tofino 1 cannot cut a packet's
 * tail otherwise, and the report copy still holds the whole data frame behind the record. The copy comes
 * back to egress behind a one-byte mirror header of kind PKT_REPORT_TRUNCATED and leaves unchanged. */
const bit<8> PKT_REPORT_TRUNCATED = 3;
const MirrorType_t MIRROR_TYPE_REPORT = 1;
const bit<10> REPORT_SESSION_BASE = 1;

/* Drop reasons: the index into SwitchIngress.drops (a Counter read through BF Runtime). */
typedef bit<4> drop_reason_t;
const drop_reason_t DROP_STACK_TOO_DEEP = 1;  /* more than MSD labels */
const drop_reason_t DROP_TTL_EXPIRED    = 2;  /* top label TTL <= 1 on arrival, or 0 after a pop */
const drop_reason_t DROP_UNKNOWN_LABEL  = 3;  /* top label neither local nor forwardable */
const drop_reason_t DROP_NO_ROUTE       = 4;  /* IPv4 destination without a route */
const drop_reason_t DROP_IP_TTL         = 5;  /* IPv4 TTL <= 1 when routed */
const drop_reason_t DROP_BAD_CHECKSUM   = 6;  /* IPv4 header checksum wrong */
const drop_reason_t DROP_NOT_IPV4       = 7;  /* neither MPLS nor IPv4, or non-IPv4 below the bottom label */
const drop_reason_t DROP_DECISION       = 8;  /* a decision record consumed by the priority module (not an error) */
const drop_reason_t DROP_BAD_DECISION   = 9;  /* a record on a priority SID that is not a valid decision */
/* SRv6 (profile srv6) counts into the same counter: stack_too_deep = an SRH listing more than SRV6_MAX_SEGS
 * segments; ttl_expired = IPv6 Hop Limit <= 1 where a segment is processed or an IPv6 packet forwarded;
 * unknown_label = a destination neither a local SID nor routable; not_ipv4 also for neither IPv4 nor IPv6. */
const drop_reason_t DROP_SRH_INVALID    = 10; /* routing header not an SRH this node parses: type != 4,
                                                 Segments Left > Last Entry + 1, TLVs after the list */
const drop_reason_t DROP_SEGMENTS_LEFT  = 11; /* End/End.X/module SID with Segments Left 0, End.DX4/DT4 with
                                                 Segments Left != 0 (RFC 8986 4.1/4.4: ICMP, discard) */
/* profile wan: MPLS-in-UDP/GRE addressed to this border (a wan.decap hit) that cannot be decapsulated: a
 * fragment of the outer IPv4 packet (MF or an offset: nothing here reassembles), a UDP length that is not the
 * outer IPv4 total length - 20, or a GRE header with checksum, key, sequence number or a version */
const drop_reason_t DROP_WAN_MALFORMED  = 12;
/* profile srv6: an IPv6 packet to a multicast (ff00::/8) or link-local unicast (fe80::/10) destination: a
 * neighbour's Neighbor Discovery or MLD (Linux SRv6 nodes send MLD reports with Hop Limit 1 for seconds after
 * their link comes up), for a control plane this data plane does not have; never forwarded (and not counted as
 * ttl_expired, which would read as a routing loop) */
const drop_reason_t DROP_LINK_LOCAL     = 13;
#define DROP_REASONS 16

#endif

/* srchain SR node for Tofino (TNA, P4_16): SR-MPLS service chaining with P4 micro-services (profile srv6: the
 * same over SRv6, control/srv6.p4 in place of control/sr.p4; docs/p4.md "SRv6 profile").
 *
 *   ingress: parse (Ethernet, up to MSD labels, IPv4, TCP/UDP ports, decision records)
 *            -> classifier (push a chain's stack on plain IPv4)
 *            -> sr (pop up to two local SIDs, remember their modules)
 *            -> modules: flow_features (per-flow registers, feature report by a PRE copy), priority (class -> qid)
 *            -> sid_forward by the top label, or ipv4 routes once the bottom label is gone
 *   egress:  report copies (egress_rid REPORT_RID) -> feature report frames; other packets -> queueing-delay
 *            statistics
 *
 * The controller addresses the tables by the names listed in docs/p4.md and plugin/srchain/plan/tables.py.
 * Build: p4/build (bf-p4c on an SDE host, or the emulator bundle). */
#include <core.p4>
#include <tna.p4>

#include "include/defines.p4"
#include "include/headers.p4"
#include "include/parser.p4"
#include "control/classifier.p4"
#if SRCHAIN_SRV6
#include "control/srv6.p4"
#else
#include "control/sr.p4"
#endif
#include "control/ipv4.p4"
#if SRCHAIN_WAN
#include "control/wan.p4"
#endif
#if SRCHAIN_FLOW_FEATURES
#include "control/flow_features.p4"
#include "control/report.p4"
#endif
#if SRCHAIN_PRIORITY
#include "control/priority.p4"
#endif
#if SRCHAIN_L4S
#include "control/l4s.p4"
#endif
#include "control/queue_stats.p4"

control SwitchIngress(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        in ingress_intrinsic_metadata_t ig_intr_md,
        in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
        inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    /* Both directions of a session land in the same load-balancing bucket (bf-p4c: CRC with paired inputs). */
    @symmetric("hdr.ipv4.src_addr", "hdr.ipv4.dst_addr")
    @symmetric("ig_md.src_port", "ig_md.dst_port")
    Hash<lb_bucket_t>(HashAlgorithm_t.CRC32) lb_hash;
    Counter<bit<32>, drop_reason_t>(DROP_REASONS, CounterType_t.PACKETS) drops;
#if SRCHAIN_WAN
    /* MPLS-in-UDP's source port: 14 bits of the inner 5-tuple's CRC-32, one port per flow (RFC 7510 3) */
    Hash<wan_entropy_t>(HashAlgorithm_t.CRC32) wan_hash;
    Wan() wan;
#endif

    Classifier() classifier;
#if SRCHAIN_SRV6
    Srv6() srv6;
#else
    SegmentRouting() sr;
#endif
#if SRCHAIN_FLOW_FEATURES
    FlowFeatures() flow_features;
#endif
#if SRCHAIN_PRIORITY
    Priority() priority;
#endif
#if SRCHAIN_L4S
    L4sClassify() l4s;
#endif
    Ipv4Routing() ipv4;

    action hash_lb() {
        ig_md.lb_bucket = lb_hash.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, ig_md.src_port, ig_md.dst_port,
                                       hdr.ipv4.protocol});
    }

    /* The canonical 5-tuple (docs/records.md): a is the lower (address, port) pair. */
    action key_a_to_b() {
        ig_md.key.ip_a = hdr.ipv4.src_addr;
        ig_md.key.ip_b = hdr.ipv4.dst_addr;
        ig_md.key.port_a = ig_md.src_port;
        ig_md.key.port_b = ig_md.dst_port;
        ig_md.key.direction = 1;
    }

    action key_b_to_a() {
        ig_md.key.ip_a = hdr.ipv4.dst_addr;
        ig_md.key.ip_b = hdr.ipv4.src_addr;
        ig_md.key.port_a = ig_md.dst_port;
        ig_md.key.port_b = ig_md.src_port;
        ig_md.key.direction = 0;
    }

    /* src < dst as gateways allow it: src is the lower address when min(src, dst) ^ src == 0 */
    action order_lows() {
        ig_md.order.ip_low = min(hdr.ipv4.src_addr, hdr.ipv4.dst_addr);
        ig_md.order.port_low = min(ig_md.src_port, ig_md.dst_port);
        ig_md.order.ip_diff = hdr.ipv4.src_addr ^ hdr.ipv4.dst_addr;
    }

    action order_diffs() {
        ig_md.order.src_ip_not_low = ig_md.order.ip_low ^ hdr.ipv4.src_addr;
        ig_md.order.src_port_not_low = ig_md.order.port_low ^ ig_md.src_port;
    }

    action drop_for(drop_reason_t reason) {
        ig_md.drop_reason = reason;
    }

#if SRCHAIN_WAN
    action wan_entropy() {
        ig_md.wan.entropy = (bit<16>)wan_hash.get({hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.ipv4.protocol,
                                                   ig_md.src_port, ig_md.dst_port});
    }

    /* the bytes an encapsulation would carry: the labels the parser took + the inner IPv4 packet */
    action wan_inner_len() {
        ig_md.wan.inner_len = hdr.ipv4.total_len + ig_md.wan.label_bytes;
    }

    action route_by_ipv4() {
        ig_md.wan.route_dst = hdr.ipv4.dst_addr;
        ig_md.wan.route_ttl = hdr.ipv4.ttl;
    }
#endif

#if SRCHAIN_PRIORITY
    /* a decision's copy back through this pipe's recirculation port: it writes the priority registers and
       ends here (consumed, counted as DROP_DECISION), without the classifier or forwarding */
    action decision_copy() {
        ig_md.decision_copy = true;
        ig_md.drop_reason = DROP_DECISION;
    }
#endif

    /* A flat sequence of short gated steps in stage order (see control/sr.p4 on Tofino 1's next-table chains):
       each module's steps are gated by its own run flag, so the modules share stages. */
    apply {
        hdr.bridged.setValid();
        hdr.bridged.kind = PKT_BRIDGED;
        hdr.bridged.ingress_tstamp = ig_intr_md.ingress_mac_tstamp;
#if SRCHAIN_L4S
        hdr.bridged.l4s_sid = 0;
#endif

#if SRCHAIN_WAN
        /* stage 0: MPLS-in-UDP/GRE addressed to this border loses its outer headers; any other is routed by them */
        if (hdr.wan_ipv4.isValid()) {
            wan.apply(hdr, ig_md);
        } else if (hdr.ipv4.isValid()) {
            route_by_ipv4();
        }
        if (hdr.ipv4.isValid()) {
            wan_entropy();
            wan_inner_len();
        }
#endif
        /* stage 0: what the parser found; the load-balancing bucket */
#if SRCHAIN_SRV6
        if (ig_md.stack_too_deep) {
            drop_for(DROP_STACK_TOO_DEEP);
        } else if (ig_md.srh_invalid) {
            drop_for(DROP_SRH_INVALID);
        } else if (hdr.ipv4.isValid() && ig_md.checksum_err) {
            drop_for(DROP_BAD_CHECKSUM);
        } else if (!hdr.ipv4.isValid() && !hdr.ipv6.isValid()) {
            drop_for(DROP_NOT_IPV4);
        } else if (hdr.ipv6.isValid() && hdr.ipv6.dst_addr[127:120] == 0xff) {
            drop_for(DROP_LINK_LOCAL);  /* multicast: a neighbour's MLD report or ND solicitation */
        } else if (hdr.ipv6.isValid() && hdr.ipv6.dst_addr[127:118] == 0x3fa) {
            drop_for(DROP_LINK_LOCAL);  /* fe80::/10 */
        } else if (hdr.srh.isValid() && hdr.srh.segments_left != 0 && hdr.ipv6.hop_limit <= 1) {
            drop_for(DROP_TTL_EXPIRED);  /* a segment to process with Hop Limit <= 1 (RFC 8986 4.1 S04) */
#if SRCHAIN_PRIORITY
        } else if (hdr.decision.isValid() && ig_intr_md.ingress_port[6:0] == RECIRC_LOCAL_PORT) {
            decision_copy();  /* as under SR-MPLS: the copy carries the SRH as egress left it */
#endif
        }
#elif SRCHAIN_WAN
        /* as below, and: a bad outer checksum is dropped like any; a transit packet's labels and inner header are
           its payload (not checked); a decapsulated fragment, UDP length mismatch or GRE with options is
           wan_malformed */
        if (ig_md.wan.checksum_err) {
            drop_for(DROP_BAD_CHECKSUM);
        } else if (ig_md.wan.transit) {
        } else if (ig_md.wan.decapped && (ig_md.wan.fragment || ig_md.wan.len_diff != 20 || ig_md.wan.gre_options)) {
            drop_for(DROP_WAN_MALFORMED);
        } else if (ig_md.stack_too_deep) {
            drop_for(DROP_STACK_TOO_DEEP);
        } else if (hdr.ipv4.isValid() && ig_md.checksum_err) {
            drop_for(DROP_BAD_CHECKSUM);
        } else if (!hdr.ipv4.isValid() && !hdr.mpls[0].isValid()) {
            drop_for(DROP_NOT_IPV4);
        } else if (hdr.mpls[0].isValid() && hdr.mpls[0].ttl <= 1) {
            drop_for(DROP_TTL_EXPIRED);
#if SRCHAIN_PRIORITY
        } else if (hdr.decision.isValid() && ig_intr_md.ingress_port[6:0] == RECIRC_LOCAL_PORT) {
            decision_copy();
#endif
        }
#else
        if (ig_md.stack_too_deep) {
            drop_for(DROP_STACK_TOO_DEEP);
        } else if (hdr.ipv4.isValid() && ig_md.checksum_err) {
            drop_for(DROP_BAD_CHECKSUM);
        } else if (!hdr.ipv4.isValid() && !hdr.mpls[0].isValid()) {
            drop_for(DROP_NOT_IPV4);
        } else if (hdr.mpls[0].isValid() && hdr.mpls[0].ttl <= 1) {
            drop_for(DROP_TTL_EXPIRED);
#if SRCHAIN_PRIORITY
        } else if (hdr.decision.isValid() && ig_intr_md.ingress_port[6:0] == RECIRC_LOCAL_PORT) {
            decision_copy();
#endif
        }
#endif
        if (hdr.ipv4.isValid()) {
            hash_lb();
            order_lows();
            ig_md.key.protocol = hdr.ipv4.protocol;
        }
        /* stage 1 */
        if (hdr.ipv4.isValid()) {
            order_diffs();
        }
#if SRCHAIN_SRV6
        if (ig_md.drop_reason == 0 && hdr.ipv4.isValid() && !hdr.ipv6.isValid()) {
#else
        if (ig_md.drop_reason == 0 && hdr.ipv4.isValid() && !hdr.mpls[0].isValid()) {
#endif
            classifier.apply(hdr, ig_md, ig_intr_md);
        }
        /* stage 2: the canonical order; a gateway compares a field with a constant only (bf-p4c
           mau/gateway.cpp), so the order is read from min() and XOR above */
        if (hdr.ipv4.isValid()) {
            if (ig_md.order.ip_diff == 0) {
                if (ig_md.order.src_port_not_low == 0) {
                    key_a_to_b();
                } else {
                    key_b_to_a();
                }
            } else if (ig_md.order.src_ip_not_low == 0) {
                key_a_to_b();
            } else {
                key_b_to_a();
            }
        }
        /* stages 2-4: local SIDs, pops, forwarding */
#if SRCHAIN_SRV6
        srv6.apply(hdr, ig_md, ig_tm_md);
#else
        sr.apply(hdr, ig_md, ig_tm_md);
#endif
        /* the modules, from stage 4 (their steps are gated inside) */
#if SRCHAIN_FLOW_FEATURES
        flow_features.apply(hdr, ig_md, ig_intr_md, ig_tm_md);
#endif
#if SRCHAIN_PRIORITY
        priority.apply(hdr, ig_md, ig_tm_md);
#endif
#if SRCHAIN_L4S
        l4s.apply(hdr, ig_md, ig_tm_md);
#endif
#if SRCHAIN_SRV6
        /* plain IPv4, or decapsulated by End.DT4 (End.DX4 went to its next hop) */
        if (ig_md.drop_reason == 0 && !hdr.ipv6.isValid() && hdr.ipv4.isValid() && !ig_md.srv6.fixed_nh) {
            ipv4.apply(hdr, ig_md, ig_tm_md);
        }
#else
#if SRCHAIN_WAN
        /* (a WAN transit packet is routed by its outer header, whatever it carries) */
        if (ig_md.drop_reason == 0 && !hdr.mpls[0].isValid() && !hdr.ipv4.isValid() && !ig_md.wan.transit) {
#else
        if (ig_md.drop_reason == 0 && !hdr.mpls[0].isValid() && !hdr.ipv4.isValid()) {
#endif
            drop_for(DROP_NOT_IPV4);  /* the bottom label carried no IPv4 packet */
        }
#if SRCHAIN_WAN
        /* an encapsulation needs the inner IPv4 packet's length */
        if (ig_md.drop_reason == 0 && ig_md.wan.encapped && !hdr.ipv4.isValid()) {
            drop_for(DROP_NOT_IPV4);
        }
#endif
#if SRCHAIN_PRIORITY && SRCHAIN_WAN
        if (ig_md.drop_reason == 0 && ((!hdr.mpls[0].isValid() && hdr.ipv4.isValid()) || ig_md.wan.transit) &&
                !ig_md.decision_fanout) {
#elif SRCHAIN_PRIORITY
        if (ig_md.drop_reason == 0 && !hdr.mpls[0].isValid() && hdr.ipv4.isValid() && !ig_md.decision_fanout) {
#elif SRCHAIN_WAN
        if (ig_md.drop_reason == 0 && ((!hdr.mpls[0].isValid() && hdr.ipv4.isValid()) || ig_md.wan.transit)) {
#else
        if (ig_md.drop_reason == 0 && !hdr.mpls[0].isValid() && hdr.ipv4.isValid()) {
#endif
            ipv4.apply(hdr, ig_md, ig_tm_md);
        }
#endif
        if (ig_md.drop_reason != 0) {
            drops.count(ig_md.drop_reason);
        }
        if (ig_md.drop_reason != 0 && hdr.report.isValid()) {
            /* drop_ctl would drop the PRE's report copy too: egress drops the data copy instead */
            hdr.bridged.kind = PKT_REPORT_DATA_DROPPED;
        } else if (ig_md.drop_reason != 0) {
            ig_dprsr_md.drop_ctl = 1;
#if SRCHAIN_PRIORITY
        } else if (ig_md.decision_fanout) {
            hdr.bridged.kind = PKT_DECISION;  /* egress lets only the PRE's DECISION_RID copies go on */
#endif
        }
    }
}

control SwitchEgress(
        inout headers_t hdr,
        inout egress_metadata_t eg_md,
        in egress_intrinsic_metadata_t eg_intr_md,
        in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
        inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
        inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
#if SRCHAIN_FLOW_FEATURES
    Report() report;
#endif
#if SRCHAIN_L4S
    L4sAqm() l4s;
#endif
    QueueStats() queue_stats;

    apply {
#if SRCHAIN_L4S
        /* flat gated steps (no enclosing block: it would hold the steps after it); they act only on packets an
           l4s SID classified, whose IPv4 header the egress parser read */
        l4s.apply(hdr, eg_intr_md, eg_prsr_md, eg_dprsr_md);
#endif
        if (eg_md.trunc.isValid()) {
            /* a finished report, truncated: out as it is */
#if SRCHAIN_FLOW_FEATURES
        } else if (hdr.report.isValid() && eg_intr_md.egress_rid == REPORT_RID) {
            report.apply(hdr, eg_md, eg_intr_md, eg_dprsr_md);
#endif
        } else if (hdr.bridged.kind == PKT_REPORT_DATA_DROPPED) {
            eg_dprsr_md.drop_ctl = 1;
#if SRCHAIN_PRIORITY
        } else if (hdr.bridged.kind == PKT_DECISION) {
            /* a decision's copy to a pipe's recirculation port goes out as it is; any unicast copy of it (a label
               below its SID) is dropped */
            if (eg_intr_md.egress_rid != DECISION_RID) {
                eg_dprsr_md.drop_ctl = 1;
            }
#endif
        } else {
            queue_stats.apply(hdr, eg_intr_md, eg_prsr_md);
            hdr.report.setInvalid();  /* the data copy of a packet that carried a report */
        }

    }
}

Pipeline(SwitchIngressParser(), SwitchIngress(), SwitchIngressDeparser(),
         SwitchEgressParser(), SwitchEgress(), SwitchEgressDeparser()) pipe;
Switch(pipe) main;

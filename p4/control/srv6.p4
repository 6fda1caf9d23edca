/* SR core over SRv6 (profile srv6; RFC 8754 SRH, RFC 8986 behaviours), in place of control/sr.p4.
 * SwitchIngress.srv6.local_sid (exact on the IPv6 destination): end, end_x (port, dst_mac), end_dx4 (port,
 *   dst_mac), end_dt4, end_flow_features (sid, report_every) / end_priority (sid): the module's key, as the
 *   MPLS SID's. Each local SID is one segment:
 *   one per pass (a segment's next SID on the same switch would need a second pass).
 * SwitchIngress.srv6.sid_forward (LPM on the IPv6 destination, after End): egress port + next-hop MAC,
 *   Hop Limit - 1. Also forwards IPv6 transit traffic (a locator's prefix, or any IPv6 route).
 * End (4.1): Segments Left 0 -> drop segments_left (the node does not terminate SRv6 to an upper layer);
 *   else SL - 1, DA = Segment List[SL], forwarded by the new DA. End.X (4.2): the same to a fixed next hop.
 *   End.DX4 (4.4) / End.DT4 (4.6): SL != 0 -> drop segments_left; else the outer IPv6 header and SRH go, the
 *   inner IPv4 goes to the fixed next hop with TTL - 1 (DX4) or through SwitchIngress.ipv4.routes (DT4).
 * Hop Limit: SwitchIngress drops a packet whose SRH still has segments left and whose Hop Limit is <= 1 on
 *   arrival (ttl_expired, before any module runs: End S04); a forwarded IPv6 packet needs Hop Limit > 1 and
 *   loses 1. Decapsulation ignores the outer Hop Limit (4.4 has no check); the inner TTL is checked as routed.
 * The parser guarantees 1 <= Last Entry + 1 <= SRV6_MAX_SEGS and Segments Left <= Last Entry + 1 (else
 *   srh_invalid / stack_too_deep), so Segment List[SL - 1] is one of the parsed segments. */
#ifndef _SRCHAIN_SRV6_P4_
#define _SRCHAIN_SRV6_P4_

#define SRV6_FORWARD_SIZE 1024   /* 128-bit LPM in TCAM: 3 x 2 TCAMs per 512 entries */

control Srv6(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) local_counter;
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) forward_counter;

    /* The lookup only records the behaviour; the SRH is processed in the next stage. */
    action end() {
        ig_md.srv6.end = true;
        local_counter.count();
    }
    action end_x(PortId_t port, mac_addr_t dst_mac) {
        ig_md.srv6.end = true;
        ig_md.srv6.fixed_nh = true;
        ig_md.srv6.port = port;
        ig_md.srv6.dst_mac = dst_mac;
        local_counter.count();
    }
    action end_dx4(PortId_t port, mac_addr_t dst_mac) {
        ig_md.srv6.decap = true;
        ig_md.srv6.fixed_nh = true;
        ig_md.srv6.port = port;
        ig_md.srv6.dst_mac = dst_mac;
        local_counter.count();
    }
    action end_dt4() {
        ig_md.srv6.decap = true;
        local_counter.count();
    }
#if SRCHAIN_FLOW_FEATURES
    /* End, and the flow-features module with this SID as its key (as control/sr.p4's pop_flow_features). */
    action end_flow_features(sid_t sid, bit<16> report_every) {
        ig_md.srv6.end = true;
        ig_md.ls0.module = LOCAL_FLOW_FEATURES;
        ig_md.ls0.sid = sid;
        ig_md.ls0.report_every = report_every;
        local_counter.count();
    }
#endif
#if SRCHAIN_PRIORITY
    /* End, and the priority module with this SID as its key (ig_md.ls0, as control/sr.p4's pop_priority). */
    action end_priority(sid_t sid) {
        ig_md.srv6.end = true;
        ig_md.ls0.module = LOCAL_PRIORITY;
        ig_md.ls0.sid = sid;
        local_counter.count();
    }
#endif
    action not_local() {}

    table local_sid {
        key = { hdr.ipv6.dst_addr : exact @name("dst_addr"); }
        actions = {
            end; end_x; end_dx4; end_dt4;
#if SRCHAIN_FLOW_FEATURES
            end_flow_features;
#endif
#if SRCHAIN_PRIORITY
            end_priority;
#endif
            @defaultonly not_local;
        }
        const default_action = not_local;
        counters = local_counter;
        size = LOCAL_SID_SIZE;
    }

#if SRCHAIN_FLOW_FEATURES
    action flow_features_first() {
        ig_md.run_flow_features = true;
        ig_md.ff_sid = ig_md.ls0.sid;
        ig_md.report_every = ig_md.ls0.report_every;
    }
#endif
#if SRCHAIN_PRIORITY
    action priority_first() {
        ig_md.run_priority = true;
        ig_md.prio_sid = ig_md.ls0.sid;
    }
#endif

    /* End's SL - 1 and DA = Segment List[SL], one action per arriving SL (a stack index must be constant). */
    action advance_to_0() {
        hdr.srh.segments_left = 0;
        hdr.ipv6.dst_addr = hdr.srh_segments[0].sid;
    }
    action advance_to_1() {
        hdr.srh.segments_left = 1;
        hdr.ipv6.dst_addr = hdr.srh_segments[1].sid;
    }
    action advance_to_2() {
        hdr.srh.segments_left = 2;
        hdr.ipv6.dst_addr = hdr.srh_segments[2].sid;
    }
    action advance_to_3() {
        hdr.srh.segments_left = 3;
        hdr.ipv6.dst_addr = hdr.srh_segments[3].sid;
    }

    action segments_left_wrong() {
        ig_md.drop_reason = DROP_SEGMENTS_LEFT;
    }
    action no_inner_ipv4() {
        ig_md.drop_reason = DROP_NOT_IPV4;
    }
    action decap() {
        hdr.ipv6.setInvalid();
        hdr.srh.setInvalid();
        hdr.srh_segments[0].setInvalid();
        hdr.srh_segments[1].setInvalid();
        hdr.srh_segments[2].setInvalid();
        hdr.srh_segments[3].setInvalid();
        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
    }

    action forward_x() {
        ig_tm_md.ucast_egress_port = ig_md.srv6.port;
        hdr.ethernet.dst_addr = ig_md.srv6.dst_mac;
        hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
    }
    action forward_dx4() {
        ig_tm_md.ucast_egress_port = ig_md.srv6.port;
        hdr.ethernet.dst_addr = ig_md.srv6.dst_mac;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    action inner_ttl_expired() {
        ig_md.drop_reason = DROP_IP_TTL;
    }
    action hop_limit_expired() {
        ig_md.drop_reason = DROP_TTL_EXPIRED;
    }

    action forward(PortId_t port, mac_addr_t dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ipv6.hop_limit = hdr.ipv6.hop_limit - 1;
        forward_counter.count();
    }
    action unknown_sid() {
        ig_md.drop_reason = DROP_UNKNOWN_LABEL;
    }

    table sid_forward {
        key = { hdr.ipv6.dst_addr : lpm @name("dst_addr"); }
        actions = { forward; @defaultonly unknown_sid; }
        const default_action = unknown_sid;
        counters = forward_counter;
        size = SRV6_FORWARD_SIZE;
    }

    /* Called after the arrival checks; flat gated steps in stage order (control/sr.p4 on Tofino 1). */
    apply {
        /* stage A: the lookup */
        if (ig_md.drop_reason == 0 && hdr.ipv6.isValid()) {
            local_sid.apply();
        }
        /* stage A + 1: the module of a module SID that will advance (read before the SRH changes below) */
#if SRCHAIN_FLOW_FEATURES
        if (ig_md.ls0.module == LOCAL_FLOW_FEATURES && hdr.srh.isValid() && hdr.srh.segments_left != 0) {
            flow_features_first();
        }
#endif
#if SRCHAIN_PRIORITY
        if (ig_md.ls0.module == LOCAL_PRIORITY && hdr.srh.isValid() && hdr.srh.segments_left != 0) {
            priority_first();
        }
#endif
        /* and the SRH: End's advance, or the decapsulation */
        if (ig_md.srv6.end && !hdr.srh.isValid()) {
            segments_left_wrong();
        } else if (ig_md.srv6.end && hdr.srh.segments_left == 0) {
            segments_left_wrong();
        } else if (ig_md.srv6.end && hdr.srh.segments_left == 1) {
            advance_to_0();
        } else if (ig_md.srv6.end && hdr.srh.segments_left == 2) {
            advance_to_1();
        } else if (ig_md.srv6.end && hdr.srh.segments_left == 3) {
            advance_to_2();
        } else if (ig_md.srv6.end) {
            advance_to_3();  /* SL 4: the parser took nothing higher */
        } else if (ig_md.srv6.decap && hdr.srh.isValid() && hdr.srh.segments_left != 0) {
            segments_left_wrong();
        } else if (ig_md.srv6.decap && !hdr.ipv4.isValid()) {
            no_inner_ipv4();
        } else if (ig_md.srv6.decap) {
            decap();
        }
        /* stage A + 2: End.X and End.DX4 to their next hop; End, module SIDs and transit by the DA */
        if (ig_md.drop_reason == 0 && ig_md.srv6.fixed_nh && hdr.ipv6.isValid()) {
            forward_x();
        } else if (ig_md.drop_reason == 0 && ig_md.srv6.fixed_nh && hdr.ipv4.ttl <= 1) {
            inner_ttl_expired();
        } else if (ig_md.drop_reason == 0 && ig_md.srv6.fixed_nh) {
            forward_dx4();
        }
        if (ig_md.drop_reason == 0 && !ig_md.srv6.fixed_nh && hdr.ipv6.isValid() && hdr.ipv6.hop_limit <= 1) {
            hop_limit_expired();
        } else if (ig_md.drop_reason == 0 && !ig_md.srv6.fixed_nh && hdr.ipv6.isValid()) {
            sid_forward.apply();
        }
    }
}

#endif

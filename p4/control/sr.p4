/* SR core: local SIDs and label forwarding.
 * SwitchIngress.sr.local_sid_0 (exact on the top label) and local_sid_1 (exact on the label below it; the
 *   planner writes the same SIDs in both, with pop_* actions in the first and second_* in the second): looked
 *   up side by side in one stage, each into its own metadata (ig_md.ls0 / ls1), so a packet can pop two local
 *   SIDs in one pass without a lookup after a pop. The next stage decides: the top local -> pop it; the label
 *   below local too -> pop both; each popped SID's module runs with that SID as its key.
 * SwitchIngress.sr.sid_forward (exact on the top label after the pops): egress port + next-hop MAC.
 * TTL (RFC 3032, one hop per label processed): processing a label sends its TTL - 1 onward, so a label
 *   processed with TTL <= 1 is dropped (ttl_expired). A pop copies the popped TTL - 1 into the label it
 *   exposes, which then leaves without a further decrement (the pop was this hop's); a forwarded label
 *   loses 1. So the top label is checked on arrival (SwitchIngress), and a second pop checks the TTL the first
 *   exposed (top - 1 <= 1, i.e. top == 2).
 * Tofino 1 layout (bf-p4c): the apply body is a flat sequence of short gated steps, written in stage order. A
 * gated block spanning stages would hold every later step behind its last stage (no long branches on
 * Tofino 1: a table's next table lies in a later stage), which is what put the modules one after another. */
#ifndef _SRCHAIN_SR_P4_
#define _SRCHAIN_SR_P4_

control SegmentRouting(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    /* The pop actions are shared by both local_sid tables, so those tables cannot carry direct counters
     * (a TNA direct counter is counted by its own table's actions); forwarding is counted. */
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) forward_counter;

#if SRCHAIN_LOCAL_MODULES
    /* The lookups only record what they found; the pops and the modules follow in the next stage. */
    action pop_flow_features(sid_t sid, bit<16> report_every) {
        ig_md.ls0.module = LOCAL_FLOW_FEATURES;
        ig_md.ls0.sid = sid;
        ig_md.ls0.report_every = report_every;
    }

    action pop_priority(sid_t sid) {
        ig_md.ls0.module = LOCAL_PRIORITY;
        ig_md.ls0.sid = sid;
    }

    action second_flow_features(sid_t sid, bit<16> report_every) {
        ig_md.ls1.module = LOCAL_FLOW_FEATURES;
        ig_md.ls1.sid = sid;
        ig_md.ls1.report_every = report_every;
    }

    action second_priority(sid_t sid) {
        ig_md.ls1.module = LOCAL_PRIORITY;
        ig_md.ls1.sid = sid;
    }

#if SRCHAIN_L4S
    action pop_l4s(sid_t sid) {
        ig_md.ls0.module = LOCAL_L4S;
        ig_md.ls0.sid = sid;
    }

    action second_l4s(sid_t sid) {
        ig_md.ls1.module = LOCAL_L4S;
        ig_md.ls1.sid = sid;
    }
#endif

    action not_local() {}

    table local_sid_0 {
        key = { hdr.mpls[0].label : exact @name("label"); }
        actions = {
#if SRCHAIN_FLOW_FEATURES
            pop_flow_features;
#endif
#if SRCHAIN_PRIORITY
            pop_priority;
#endif
#if SRCHAIN_L4S
            pop_l4s;
#endif
            @defaultonly not_local;
        }
        const default_action = not_local;
        size = LOCAL_SID_SIZE;
    }

    table local_sid_1 {
        key = { hdr.mpls[1].label : exact @name("label"); }
        actions = {
#if SRCHAIN_FLOW_FEATURES
            second_flow_features;
#endif
#if SRCHAIN_PRIORITY
            second_priority;
#endif
#if SRCHAIN_L4S
            second_l4s;
#endif
            @defaultonly not_local;
        }
        const default_action = not_local;
        size = LOCAL_SID_SIZE;
    }

    action flow_features_first() {
        ig_md.run_flow_features = true;
        ig_md.ff_sid = ig_md.ls0.sid;
        ig_md.report_every = ig_md.ls0.report_every;
    }
    action flow_features_second() {
        ig_md.run_flow_features = true;
        ig_md.ff_sid = ig_md.ls1.sid;
        ig_md.report_every = ig_md.ls1.report_every;
    }
    action priority_first() {
        ig_md.run_priority = true;
        ig_md.prio_sid = ig_md.ls0.sid;
    }
    action priority_second() {
        ig_md.run_priority = true;
        ig_md.prio_sid = ig_md.ls1.sid;
    }
#if SRCHAIN_L4S
    action l4s_first() {
        ig_md.run_l4s = true;
        ig_md.l4s_sid = ig_md.ls0.sid;
    }
    action l4s_second() {
        ig_md.run_l4s = true;
        ig_md.l4s_sid = ig_md.ls1.sid;
    }
#endif
#endif

    action forward(PortId_t port, mac_addr_t dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.mpls[0].ttl = hdr.mpls[0].ttl - ig_md.ttl_dec;
        forward_counter.count();
    }

#if SRCHAIN_WAN
    /* The label's next hop is across the WAN: MPLS-in-UDP toward the far border (control/wan.p4 says why this is
       an action of sid_forward and how the lengths are counted). The label is processed here as by forward. */
    action encap_mpls_in_udp(PortId_t port, mac_addr_t src_mac, mac_addr_t dst_mac, ipv4_addr_t src_addr,
                             ipv4_addr_t dst_addr, bit<8> ttl, bit<16> udp_dst_port, bit<16> udp_src_min) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
        hdr.mpls[0].ttl = hdr.mpls[0].ttl - ig_md.ttl_dec;
        hdr.wan_ipv4.setValid();
        hdr.wan_ipv4.version = 4;
        hdr.wan_ipv4.ihl = 5;
        hdr.wan_ipv4.diffserv = 0;
        hdr.wan_ipv4.total_len = ig_md.wan.inner_len + WAN_IPV4_UDP_BYTES;
        hdr.wan_ipv4.identification = 0;
        hdr.wan_ipv4.flags = IPV4_FLAG_DF;
        hdr.wan_ipv4.frag_offset = 0;
        hdr.wan_ipv4.ttl = ttl;
        hdr.wan_ipv4.protocol = IP_PROTO_UDP;
        hdr.wan_ipv4.hdr_checksum = 0;  /* the ingress deparser computes it */
        hdr.wan_ipv4.src_addr = src_addr;
        hdr.wan_ipv4.dst_addr = dst_addr;
        hdr.wan_udp.setValid();
        hdr.wan_udp.src_port = ig_md.wan.entropy + udp_src_min;
        hdr.wan_udp.dst_port = udp_dst_port;
        hdr.wan_udp.length = ig_md.wan.inner_len + UDP_HEADER_BYTES;
        hdr.wan_udp.checksum = 0;
        ig_md.wan.encapped = true;
        forward_counter.count();
    }

    /* The same over GRE (RFC 4023 / RFC 2784: no checksum, key or sequence number), IPv4 protocol 47. */
    action encap_mpls_in_gre(PortId_t port, mac_addr_t src_mac, mac_addr_t dst_mac, ipv4_addr_t src_addr,
                             ipv4_addr_t dst_addr, bit<8> ttl, bit<16> gre_protocol) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.src_addr = src_mac;
        hdr.ethernet.dst_addr = dst_mac;
        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
        hdr.mpls[0].ttl = hdr.mpls[0].ttl - ig_md.ttl_dec;
        hdr.wan_ipv4.setValid();
        hdr.wan_ipv4.version = 4;
        hdr.wan_ipv4.ihl = 5;
        hdr.wan_ipv4.diffserv = 0;
        hdr.wan_ipv4.total_len = ig_md.wan.inner_len + WAN_IPV4_GRE_BYTES;
        hdr.wan_ipv4.identification = 0;
        hdr.wan_ipv4.flags = IPV4_FLAG_DF;
        hdr.wan_ipv4.frag_offset = 0;
        hdr.wan_ipv4.ttl = ttl;
        hdr.wan_ipv4.protocol = IP_PROTO_GRE;
        hdr.wan_ipv4.hdr_checksum = 0;
        hdr.wan_ipv4.src_addr = src_addr;
        hdr.wan_ipv4.dst_addr = dst_addr;
        hdr.wan_gre.setValid();
        hdr.wan_gre.flags_version = 0;
        hdr.wan_gre.protocol = gre_protocol;
        ig_md.wan.encapped = true;
        forward_counter.count();
    }
#endif

    action unknown_label() {
        ig_md.drop_reason = DROP_UNKNOWN_LABEL;
    }

    table sid_forward {
        key = { hdr.mpls[0].label : exact @name("label"); }
#if SRCHAIN_WAN
        actions = { forward; encap_mpls_in_udp; encap_mpls_in_gre; @defaultonly unknown_label; }
#else
        actions = { forward; @defaultonly unknown_label; }
#endif
        const default_action = unknown_label;
        counters = forward_counter;
        size = SID_FORWARD_SIZE;
    }

#if SRCHAIN_LOCAL_MODULES
    /* A pop hands the popped TTL - 1 to the label it exposes (written before the stack moves up; on a stack
       with nothing below, the write lands on an invalid header and is dropped with it). */
    action pop_one() {
        hdr.mpls[1].ttl = hdr.mpls[0].ttl - 1;
        hdr.mpls.pop_front(1);
        ig_md.ttl_dec = 0;
#if SRCHAIN_WAN
        ig_md.wan.inner_len = ig_md.wan.inner_len - 4;
#endif
    }

    action pop_two() {
        hdr.mpls[2].ttl = hdr.mpls[0].ttl - 2;
        hdr.mpls.pop_front(2);
        ig_md.ttl_dec = 0;
#if SRCHAIN_WAN
        ig_md.wan.inner_len = ig_md.wan.inner_len - 8;
#endif
    }

    action second_ttl_expired() {
        ig_md.drop_reason = DROP_TTL_EXPIRED;
    }
#endif

    action bottom_popped() {
        hdr.ethernet.ether_type = ETHERTYPE_IPV4;
    }

#if SRCHAIN_WAN
/* a WAN transit packet's labels are its payload: not looked up */
#define SR_LABELS(i) (hdr.mpls[i].isValid() && !ig_md.wan.transit)
#else
#define SR_LABELS(i) hdr.mpls[i].isValid()
#endif

    /* Called with drop_reason 0 after the arrival checks (TTL <= 1 on the top label among them). */
    apply {
#if SRCHAIN_LOCAL_MODULES
        /* stage A: both lookups, side by side */
        if (ig_md.drop_reason == 0 && SR_LABELS(0)) {
            local_sid_0.apply();
        }
        if (ig_md.drop_reason == 0 && SR_LABELS(1)) {
            local_sid_1.apply();
        }
        /* stage A + 1: the modules to run, each from the first table that names it (before the pops in program
           order: these read the TTL as it arrived, and may share the pops' stage) */
#if SRCHAIN_FLOW_FEATURES
        if (ig_md.ls0.module == LOCAL_FLOW_FEATURES && (ig_md.ls1.module == LOCAL_NONE || hdr.mpls[0].ttl != 2)) {
            flow_features_first();
        } else if (ig_md.ls0.module != LOCAL_NONE && ig_md.ls1.module == LOCAL_FLOW_FEATURES &&
                   hdr.mpls[0].ttl != 2) {
            flow_features_second();
        }
#endif
#if SRCHAIN_PRIORITY
        if (ig_md.ls0.module == LOCAL_PRIORITY && (ig_md.ls1.module == LOCAL_NONE || hdr.mpls[0].ttl != 2)) {
            priority_first();
        } else if (ig_md.ls0.module != LOCAL_NONE && ig_md.ls1.module == LOCAL_PRIORITY &&
                   hdr.mpls[0].ttl != 2) {
            priority_second();
        }
#endif
#if SRCHAIN_L4S
        if (ig_md.ls0.module == LOCAL_L4S && (ig_md.ls1.module == LOCAL_NONE || hdr.mpls[0].ttl != 2)) {
            l4s_first();
        } else if (ig_md.ls0.module != LOCAL_NONE && ig_md.ls1.module == LOCAL_L4S && hdr.mpls[0].ttl != 2) {
            l4s_second();
        }
#endif
        /* and the pops (the label below counts only under a local top) */
        if (ig_md.ls0.module != LOCAL_NONE && ig_md.ls1.module != LOCAL_NONE && hdr.mpls[0].ttl == 2) {
            second_ttl_expired();  /* the second label was processed with TTL 1: it would leave with 0 */
        } else if (ig_md.ls0.module != LOCAL_NONE && ig_md.ls1.module != LOCAL_NONE) {
            pop_two();
        } else if (ig_md.ls0.module != LOCAL_NONE) {
            pop_one();
        }
#endif
        /* stage A + 2: forward by the top label left, or hand the packet to IPv4 */
        if (ig_md.drop_reason == 0 && SR_LABELS(0)) {
            sid_forward.apply();
        }
        if (ig_md.drop_reason == 0 && !hdr.mpls[0].isValid() && hdr.ethernet.ether_type == ETHERTYPE_MPLS) {
            bottom_popped();
        }
    }
}

#endif

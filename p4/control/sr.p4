/* SR core: local SIDs and label forwarding.
 * SwitchIngress.sr.local_sid_0 (exact on the top label) and local_sid_1 (exact on the label below it; the
 *   same entries in both): looked up in one stage, so a packet can pop two local SIDs in one pass without
 *   a lookup after a pop (bf-p4c placed the pop-then-lookup chain in 13 stages, one over a Tofino 1's 12).
 *   An entry names its module and carries its own SID as action data (the module's key).
 * SwitchIngress.sr.sid_forward (exact on the top label after the pops): egress port + next-hop MAC.
 * TTL (RFC 3032, one hop per label processed): processing a label sends its TTL - 1 onward, so a label
 *   processed with TTL <= 1 is dropped (ttl_expired). A pop copies the popped TTL - 1 into the label it
 *   exposes, which then leaves without a further decrement (the pop was this hop's); a forwarded label
 *   loses 1. So the top label is checked on arrival, and a second pop checks the TTL it exposed (top - 1). */
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
    /* A local SID's module: set in the lookup stage; the pops follow once both lookups are known. */
    action pop_flow_features(sid_t sid, bit<16> report_every) {
        ig_md.run_flow_features = true;
        ig_md.ff_sid = sid;
        ig_md.report_every = report_every;
    }

    action pop_priority(sid_t sid) {
        ig_md.run_priority = true;
        ig_md.prio_sid = sid;
    }

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
            @defaultonly not_local;
        }
        const default_action = not_local;
        size = LOCAL_SID_SIZE;
    }

    table local_sid_1 {
        key = { hdr.mpls[1].label : exact @name("label"); }
        actions = {
#if SRCHAIN_FLOW_FEATURES
            pop_flow_features;
#endif
#if SRCHAIN_PRIORITY
            pop_priority;
#endif
            @defaultonly not_local;
        }
        const default_action = not_local;
        size = LOCAL_SID_SIZE;
    }
#endif

    action forward(PortId_t port, mac_addr_t dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dst_mac;
        forward_counter.count();
    }

    action unknown_label() {
        ig_md.drop_reason = DROP_UNKNOWN_LABEL;
    }

    table sid_forward {
        key = { hdr.mpls[0].label : exact @name("label"); }
        actions = { forward; @defaultonly unknown_label; }
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
    }

    action pop_two() {
        hdr.mpls[2].ttl = hdr.mpls[0].ttl - 2;
        hdr.mpls.pop_front(2);
    }
#endif

    apply {
        if (hdr.mpls[0].ttl <= 1) {
            ig_md.drop_reason = DROP_TTL_EXPIRED;
        } else {
            bool popped = false;
#if SRCHAIN_LOCAL_MODULES
            if (local_sid_0.apply().hit) {
                popped = true;
                /* a table applies alone in its `if` (bf-p4c common/extract_maupipe.cpp) */
                bool second = false;
                if (hdr.mpls[1].isValid()) {
                    if (local_sid_1.apply().hit) {
                        second = true;
                    }
                }
                if (!second) {
                    pop_one();
                } else if (hdr.mpls[0].ttl == 2) {
                    /* the second label was processed with TTL 1: it would leave with 0 */
                    ig_md.drop_reason = DROP_TTL_EXPIRED;
                } else {
                    pop_two();  /* the exposed label (TTL >= 1) is forwarded as it is */
                }
            }
#endif
            if (ig_md.drop_reason == 0) {
                if (hdr.mpls[0].isValid()) {
                    if (sid_forward.apply().hit) {
                        if (!popped) {
                            hdr.mpls[0].ttl = hdr.mpls[0].ttl - 1;
                        }
                    }
                } else {
                    hdr.ethernet.ether_type = ETHERTYPE_IPV4;
                }
            }
        }
    }
}

#endif

/* IPv4 forwarding for plain packets and for packets whose bottom label was popped:
 * SwitchIngress.ipv4.routes (LPM on the destination) -> route(port, next-hop MAC); TTL - 1. */
#ifndef _SRCHAIN_IPV4_P4_
#define _SRCHAIN_IPV4_P4_

control Ipv4Routing(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) route_counter;

    action route(PortId_t port, mac_addr_t dst_mac) {
        ig_tm_md.ucast_egress_port = port;
        hdr.ethernet.dst_addr = dst_mac;
#if SRCHAIN_WAN
        /* a WAN transit packet (MPLS-in-UDP not for this border) is routed by its outer header: the outer TTL
           loses 1, the inner packet none (on any other packet wan_ipv4 is invalid and the write goes nowhere) */
        hdr.ipv4.ttl = hdr.ipv4.ttl - ig_md.wan.inner_ttl_dec;
        hdr.wan_ipv4.ttl = hdr.wan_ipv4.ttl - 1;
#else
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
#endif
        route_counter.count();
    }

    action no_route() {
        ig_md.drop_reason = DROP_NO_ROUTE;
    }

    table routes {
#if SRCHAIN_WAN
        key = { ig_md.wan.route_dst : lpm @name("dst_addr"); }  /* the inner destination, or the outer in transit */
#else
        key = { hdr.ipv4.dst_addr : lpm @name("dst_addr"); }
#endif
        actions = { route; @defaultonly no_route; }
        const default_action = no_route;
        counters = route_counter;
        size = ROUTES_SIZE;
    }

    apply {
#if SRCHAIN_WAN
        if (ig_md.wan.route_ttl <= 1) {
#else
        if (hdr.ipv4.ttl <= 1) {
#endif
            ig_md.drop_reason = DROP_IP_TTL;
        } else {
            routes.apply();
        }
    }
}

#endif

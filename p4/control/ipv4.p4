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
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
        route_counter.count();
    }

    action no_route() {
        ig_md.drop_reason = DROP_NO_ROUTE;
    }

    table routes {
        key = { hdr.ipv4.dst_addr : lpm @name("dst_addr"); }
        actions = { route; @defaultonly no_route; }
        const default_action = no_route;
        counters = route_counter;
        size = ROUTES_SIZE;
    }

    apply {
        if (hdr.ipv4.ttl <= 1) {
            ig_md.drop_reason = DROP_IP_TTL;
        } else {
            routes.apply();
        }
    }
}

#endif

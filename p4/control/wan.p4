/* Inter-site transport over an IPv4 WAN: MPLS-in-UDP (RFC 7510) at a border switch (profile wan, SRCHAIN_WAN;
 * issue 20, docs/multisite.md "Data plane encapsulation").
 *
 * Decapsulation (here): the parser takes an IPv4 packet without options whose UDP destination port is 6635 as
 *   outer IPv4 (hdr.wan_ipv4) + UDP (hdr.wan_udp) + the label stack + what is below it. SwitchIngress.wan.decap,
 *   exact on (outer source, outer destination) = (far border, this border), one row per WAN link direction:
 *     hit  -> decap_mpls_in_udp: the outer headers are removed and the label lookup goes on as for any SR-MPLS
 *             packet (local SIDs, pops, sid_forward: the label is the same on both sides, one global SR block);
 *             a fragment or a UDP length that disagrees with the outer IPv4 length is dropped (wan_malformed);
 *     miss -> not_ours: not for this border: routed by its outer header (ipv4.routes on the outer destination,
 *             outer TTL - 1), labels and inner packet untouched, as plain IPv4 would be.
 *   The UDP destination port is not a table parameter: the parser decides what follows the UDP header before any
 *   table runs, so 6635 is a constant of the parser (MPLS_UDP_PORT), and a packet to another port is plain IPv4.
 *
 * Encapsulation (control/sr.p4, SRCHAIN_WAN): sid_forward's action encap_mpls_in_udp, on the label whose next
 *   hop is across the WAN. One lookup on the label decides "next hop in the site" or "across the WAN": a table of
 *   its own would be a second exact lookup on the same label applied on sid_forward's miss, one more stage on the
 *   SR critical path of a Tofino 1 (and the decap must run before the label lookup while the encap runs after
 *   the pops: one control cannot hold both). So the planner writes its wan_encap rows into sid_forward
 *   (plan/wan.py).
 *   The outer header: Ethernet (the entry's MACs, ether type IPv4), IPv4 (version 4, IHL 5, DSCP/ECN 0, total
 *   length = inner bytes + 28, identification 0, DF, TTL from the entry, protocol UDP, checksum by the ingress
 *   deparser), UDP (source port udp_src_min + 14 bits of the inner 5-tuple's CRC-32: RFC 7510 3's entropy, one
 *   port per flow; destination udp_dst_port; length = inner bytes + 8; checksum 0, RFC 7510 3 for IPv4). The
 *   inner bytes are counted, not measured (a Tofino ingress has no packet length): 4 per label left on the
 *   packet (the parser counts the labels it took, a push adds, a pop takes off) + the inner IPv4 total length;
 *   a stack with no IPv4 below it cannot be sized and is dropped (not_ipv4).
 * MPLS-in-GRE (RFC 4023) the same way: IPv4 protocol 47 with GRE protocol 0x8847 is parsed as outer IPv4 + GRE
 *   (no checksum, key or sequence number: a GRE header with any is not taken further, wan_malformed if ours);
 *   decap_mpls_in_gre strips it; sid_forward's encap_mpls_in_gre pushes IPv4 (total length = inner bytes + 24)
 *   + GRE (flags 0, the entry's gre_protocol).
 * Not built: the feature report copy's encapsulation on a border switch (egress). */
#ifndef _SRCHAIN_WAN_P4_
#define _SRCHAIN_WAN_P4_

control Wan(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md) {
    DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) decap_counter;

    /* The outer IPv4 header and whichever of UDP / GRE the parser found: the row's action names the link's
       encapsulation as planned; from a configured far border either is taken. */
#define WAN_DECAP() \
        hdr.wan_ipv4.setInvalid(); \
        hdr.wan_udp.setInvalid(); \
        hdr.wan_gre.setInvalid(); \
        hdr.ethernet.ether_type = ETHERTYPE_MPLS; \
        ig_md.wan.decapped = true; \
        ig_md.wan.route_dst = hdr.ipv4.dst_addr; \
        ig_md.wan.route_ttl = hdr.ipv4.ttl; \
        decap_counter.count();

    action decap_mpls_in_udp() {
        WAN_DECAP()
    }

    action decap_mpls_in_gre() {
        WAN_DECAP()
    }

    action not_ours() {
        ig_md.wan.transit = true;
        ig_md.wan.inner_ttl_dec = 0;
        ig_md.wan.route_dst = hdr.wan_ipv4.dst_addr;
        ig_md.wan.route_ttl = hdr.wan_ipv4.ttl;
    }

    table decap {
        key = {
            hdr.wan_ipv4.src_addr : exact @name("src_addr");
            hdr.wan_ipv4.dst_addr : exact @name("dst_addr");
        }
        actions = { decap_mpls_in_udp; decap_mpls_in_gre; @defaultonly not_ours; }
        const default_action = not_ours;
        counters = decap_counter;
        size = WAN_DECAP_SIZE;
    }

    action lengths() {
        ig_md.wan.len_diff = hdr.wan_ipv4.total_len - hdr.wan_udp.length;
    }

    /* Called for a packet the parser took as MPLS-in-UDP (hdr.wan_ipv4 valid). */
    apply {
        if (hdr.wan_udp.isValid()) {
            lengths();
        }
        decap.apply();
    }
}

#endif

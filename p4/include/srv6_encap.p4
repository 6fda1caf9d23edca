/* srchain SR node: writing an outer IPv6 header + SRH (H.Encaps, RFC 8986 5.1; used by the classifier and, in
 * profile srv6, the report encap). The action's parameters: hop_limit, src_addr, sid_0 (first) .. sid_<n-1>.
 * DA = sid_0; flow label 0; the SRH lists sid_<n-1> .. sid_0 as Segment List[0] .. [n-1], SL = n - 1, flags and
 * tag 0. H.Encaps.Red (5.2) leaves Segment List[n-1] (sid_0, the DA) out of the SRH, and the SRH itself out for
 * one segment: SRV6_SRH(n - 1, n - 1) and the segments below n - 1. */
#ifndef _SRCHAIN_SRV6_ENCAP_P4_
#define _SRCHAIN_SRV6_ENCAP_P4_

#define SRV6_OUTER(plen_, next_, tc_) \
    hdr.ipv6.setValid(); hdr.ipv6.version = 6; hdr.ipv6.traffic_class = tc_; hdr.ipv6.flow_label = 0; \
    hdr.ipv6.payload_len = plen_; hdr.ipv6.next_hdr = next_; hdr.ipv6.hop_limit = hop_limit; \
    hdr.ipv6.src_addr = src_addr; hdr.ipv6.dst_addr = sid_0; hdr.ethernet.ether_type = ETHERTYPE_IPV6;
#define SRV6_SRH(n, sl) \
    hdr.srh.setValid(); hdr.srh.next_hdr = IP_PROTO_IPV4; hdr.srh.hdr_ext_len = 2 * n; \
    hdr.srh.routing_type = ROUTING_TYPE_SRH; hdr.srh.segments_left = sl; hdr.srh.last_entry = n - 1; \
    hdr.srh.flags = 0; hdr.srh.tag = 0;
#define SRV6_SEGMENT(i, s) hdr.srh_segments[i].setValid(); hdr.srh_segments[i].sid = s;

#endif

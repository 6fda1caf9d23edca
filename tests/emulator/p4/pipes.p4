/* srchain emulator test program: per-pipe state (tests/emulator/test_pipes.py). A packet leaves on port data.oport.
 * Ingress: `seen` cell data.idx counts the packets (the old count into data.old_ig), Counter `ig_cnt` cell
 * data.idx counts them too, Meter `ig_mtr` cell data.idx colours them (into data.color). Egress: `eg_seen` cell
 * data.idx counts the packets leaving (the old count into data.old_eg). A packet that came back through a
 * pipe's recirculation port (68 + 128 * pipe) leaves on port 2. Tofino keeps all of these once per pipe:
 * ingress uses the ingress port's pipe, egress the egress port's. */
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
header data_h { bit<16> oport; bit<8> idx; bit<32> old_ig; bit<32> old_eg; bit<8> color; }
struct headers_t { ethernet_h ethernet; data_h data; }
struct metadata_t { }

parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.data);
        transition accept;
    }
}

control Ig(inout headers_t hdr, inout metadata_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Register<bit<32>, bit<8>>(16, 0) seen;
    RegisterAction<bit<32>, bit<8>, bit<32>>(seen) see = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            value = value + 1;
        }
    };
    Counter<bit<32>, bit<8>>(16, CounterType_t.PACKETS_AND_BYTES) ig_cnt;
    Meter<bit<8>>(16, MeterType_t.PACKETS) ig_mtr;
    apply {
        hdr.data.old_ig = see.execute(hdr.data.idx);
        ig_cnt.count(hdr.data.idx);
        hdr.data.color = ig_mtr.execute(hdr.data.idx);
        ig_tm_md.ucast_egress_port = (PortId_t)hdr.data.oport;
        if (ig_intr_md.ingress_port[6:0] == 68) {
            ig_tm_md.ucast_egress_port = 2;  /* a recirculated packet leaves on port 2 */
        }
    }
}

control IgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply { pkt.emit(hdr); }
}

parser EgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out egress_intrinsic_metadata_t eg_intr_md) {
    state start {
        pkt.extract(eg_intr_md);
        pkt.extract(hdr.ethernet);
        pkt.extract(hdr.data);
        transition accept;
    }
}

control Eg(inout headers_t hdr, inout metadata_t md, in egress_intrinsic_metadata_t eg_intr_md,
           in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
           inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    Register<bit<32>, bit<8>>(16, 0) eg_seen;
    RegisterAction<bit<32>, bit<8>, bit<32>>(eg_seen) eg_see = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            value = value + 1;
        }
    };
    apply { hdr.data.old_eg = eg_see.execute(hdr.data.idx); }
}

control EgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}

Pipeline(IgParser(), Ig(), IgDeparser(), EgParser(), Eg(), EgDeparser()) pipe;
Switch(pipe) main;

/* srchain emulator test program: the TNA externs added for issue 16, each driven through BF Runtime by
 * tests/emulator/test_tna_externs.py.
 *   data.a == 1: indirect Meter (cell data.b), colour into data.c
 *   data.a == 2: table `dm` (key data.b) with a DirectMeter, colour into data.c
 *   data.a == 3: table `sel` (key data.b, selector keys data.d + ethernet.src) through an ActionSelector:
 *                the member's port goes to ucast_egress_port and into data.c
 *   data.a == 4: table `prof` (key data.b) through a plain ActionProfile: the member's value into data.c
 *   data.a == 5: Random<bit<16>> into data.c
 *   data.a == 6: colour-aware Meter (pre-colour from data.b[1:0]) with adjust_byte_count = data.d
 */
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
header data_h { bit<8> a; bit<8> b; bit<16> c; bit<32> d; }
struct headers_t { ethernet_h ethernet; data_h data; }
struct metadata_t { }

parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    state start {
        pkt.extract(ig_intr_md);
        pkt.advance(PORT_METADATA_SIZE);
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x88b5: parse_data; default: accept; }
    }
    state parse_data { pkt.extract(hdr.data); transition accept; }
}

control Ig(inout headers_t hdr, inout metadata_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Meter<bit<8>>(size = 16, type = MeterType_t.BYTES) meter;
    Meter<bit<8>>(4, MeterType_t.PACKETS, 8w30, 8w20, 8w10) pmeter;
    DirectMeter(MeterType_t.BYTES) dmeter;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) sel_hash;
    ActionProfile(64) sel_ap;
    ActionSelector(sel_ap, sel_hash, SelectorMode_t.FAIR, 8, 4) selector;
    ActionProfile(16) plain_ap;
    Random<bit<16>>() rnd;

    action colour_direct() { hdr.data.c = (bit<16>)dmeter.execute(); }
    table dm {
        key = { hdr.data.b : exact; }
        actions = { colour_direct; NoAction; }
        meters = dmeter;
        size = 64;
    }

    action to_port(PortId_t port) { ig_tm_md.ucast_egress_port = port; hdr.data.c = (bit<16>)port; }
    action drop() { ig_dprsr_md.drop_ctl = 1; }
    table sel {
        key = {
            hdr.data.b : exact;
            hdr.data.d : selector;
            hdr.ethernet.src : selector;
        }
        actions = { to_port; drop; }
        const default_action = drop;
        implementation = selector;
        size = 32;
    }

    action set_c(bit<16> v) { hdr.data.c = v; }
    table prof {
        key = { hdr.data.b : exact; }
        actions = { set_c; }
        implementation = plain_ap;
        size = 32;
    }

    apply {
        ig_tm_md.ucast_egress_port = 1;
        if (hdr.data.a == 1) {
            hdr.data.c = (bit<16>)meter.execute(hdr.data.b);
        } else if (hdr.data.a == 2) {
            dm.apply();
        } else if (hdr.data.a == 3) {
            sel.apply();
        } else if (hdr.data.a == 4) {
            prof.apply();
        } else if (hdr.data.a == 5) {
            hdr.data.c = rnd.get();
        } else if (hdr.data.a == 6) {
            hdr.data.c = (bit<16>)meter.execute(8w15, (MeterColor_t)hdr.data.b, hdr.data.d);
        } else if (hdr.data.a == 7) {
            hdr.data.c = (bit<16>)pmeter.execute(hdr.data.b);
        }
    }
}

control IgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    apply { pkt.emit(hdr); }
}

parser EgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out egress_intrinsic_metadata_t eg_intr_md) {
    state start { pkt.extract(eg_intr_md); transition accept; }
}

control Eg(inout headers_t hdr, inout metadata_t md, in egress_intrinsic_metadata_t eg_intr_md,
           in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
           inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md,
           inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {
    apply { }
}

control EgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    apply { pkt.emit(hdr); }
}

Pipeline(IgParser(), Ig(), IgDeparser(), EgParser(), Eg(), EgDeparser()) pipe;
Switch(pipe) main;

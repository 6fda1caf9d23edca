/* srchain emulator test program: the second part of issue 16's TNA constructs, each driven through BF Runtime
 * by tests/emulator/test_tna_externs2.py.  Every packet goes to port 1.
 *   data.a == 1: the port's phase-0 data (port_metadata_unpack) into data.e
 *   data.a == 2: RegisterAction on `reg` cell data.b: first += param `add`, second += 100 while below param `cap`;
 *                the old second into data.d
 *   data.a == 3: table `dtab` (key data.b) with a DirectRegister: first += 1, second += 100, old second into data.d
 *   data.a == 4: Register.write(data.b, data.d) when data.b is even, else data.d = Register.read(data.b - 1)
 *   data.a == 5: table `alpm_t` (Alpm: data.b exact, data.d lpm) sets data.c
 *   data.a == 6: table `atcam_t` (Atcam: partition index data.b, data.d ternary) sets data.c
 *   data.a == 7: data.c = Lpf cell data.b filtering data.c;  8: the same through table `dlpf_t` (DirectLpf)
 *   data.a == 9: data.d = Wred cell data.b on data.c (1: drop, 0: keep); 10: through table `dwred_t` (DirectWred)
 *   data.a == 11..15: CRCs of the 9 bytes {data.e, data.b}: 11: CRC-32C into data.d; 12: CRC-16/CCITT-FALSE into
 *                data.c; 13: CCITT extended to 32 bits into data.d; 14: CCITT's msb byte into data.c; 15: CRC8 into
 *                data.c (one Hash.get per branch: the immediate pathway takes 32 bits of hash per action)
 *   data.a == 16: first pass: data.c = 0xBAD (lost), resubmit (type 1) with {7, data.b * 3}; second pass:
 *                data.c = the resubmitted v, data.d = resubmit_flag, data.e = the phase-0 data (none: 0)
 *   data.a == 17: resubmit type 3 on every pass (Resubmit(3).emit()): only once; data.d = resubmit_flag
 *   data.a == 18: resubmit_type 2 (no Resubmit for it): no resubmit; data.d = resubmit_flag
 *   data.a == 20: table `proxy_t` (key data.d, an 8-bit CRC16 proxy hash) sets data.c
 *   data.a == 19: data.d = vs_ether (the ether type was in value set `etypes`) ++ vs_pair ({data.a, data.b} was in
 *                value set `pairs`)
 */
#include <core.p4>
#include <tna.p4>

header ethernet_h { bit<48> dst; bit<48> src; bit<16> ether_type; }
header data_h { bit<8> a; bit<8> b; bit<16> c; bit<32> d; bit<64> e; }
struct headers_t { ethernet_h ethernet; data_h data; }
struct port_md_t { bit<16> f1; bit<24> f2; bit<16> f3; bit<8> f4; }
header resub_h { bit<8> kind; bit<16> v; }
struct ab_t { bit<8> a; bit<8> b; }
struct metadata_t { port_md_t pm; resub_h rs; bit<1> vs_ether; bit<1> vs_pair; }
struct pair { bit<32> first; bit<32> second; }

parser IgParser(packet_in pkt, out headers_t hdr, out metadata_t md, out ingress_intrinsic_metadata_t ig_intr_md) {
    value_set<bit<16>>(4) etypes;
    value_set<ab_t>(2) pairs;
    state start {
        pkt.extract(ig_intr_md);
        transition select(ig_intr_md.resubmit_flag) { 1: parse_resubmit; default: parse_port_metadata; }
    }
    state parse_resubmit {
        pkt.extract(md.rs);
        pkt.advance(40);
        transition parse_ethernet;
    }
    state parse_port_metadata {
        md.pm = port_metadata_unpack<port_md_t>(pkt);
        transition parse_ethernet;
    }
    state parse_ethernet {
        pkt.extract(hdr.ethernet);
        transition select(hdr.ethernet.ether_type) { 0x88b5: parse_data; etypes: parse_data_vs; default: accept; }
    }
    state parse_data_vs { md.vs_ether = 1; transition parse_data; }
    state parse_data {
        pkt.extract(hdr.data);
        transition select(hdr.data.a, hdr.data.b) { pairs: mark_pair; default: accept; }
    }
    state mark_pair { md.vs_pair = 1; transition accept; }
}

control Ig(inout headers_t hdr, inout metadata_t md, in ingress_intrinsic_metadata_t ig_intr_md,
           in ingress_intrinsic_metadata_from_parser_t ig_prsr_md,
           inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md,
           inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Register<pair, bit<8>>(size = 16, initial_value = {5, 7}) reg;
    RegisterParam<bit<32>>(1) add;
    RegisterParam<bit<32>>(1000) cap;
    RegisterAction<pair, bit<8>, bit<32>>(reg) reg_step = {
        void apply(inout pair value, out bit<32> rv) {
            rv = value.second;
            value.first = value.first + add.read();
            if (value.second < cap.read()) {
                value.second = value.second + 100;
            }
        }
    };

    DirectRegister<pair>({1, 2}) dreg;
    DirectRegisterAction<pair, bit<32>>(dreg) dreg_step = {
        void apply(inout pair value, out bit<32> rv) {
            rv = value.second;
            value.first = value.first + 1;
            value.second = value.second + 100;
        }
    };
    action dcount() { hdr.data.d = dreg_step.execute(); }
    action dcount_p(bit<16> v, bit<8> w) { hdr.data.d = dreg_step.execute(); hdr.data.c = v + (bit<16>)w; }
    table dtab {
        key = { hdr.data.b : exact; }
        actions = { dcount; dcount_p; }
        registers = dreg;
        size = 64;
    }

    Register<bit<32>, bit<8>>(16) plain;

    action set_c(bit<16> v) { hdr.data.c = v; }
    Alpm(number_partitions = 16, subtrees_per_partition = 2) alpm;
    table alpm_t {
        key = { hdr.data.b : exact; hdr.data.d : lpm; }
        actions = { set_c; NoAction; }
        size = 1024;
        implementation = alpm;
    }
    Lpf<bit<16>, bit<8>>(8) lpf;
    DirectLpf<bit<16>>() dlpf;
    action dl() { hdr.data.c = dlpf.execute(hdr.data.c); }
    table dlpf_t {
        key = { hdr.data.b : exact; }
        actions = { dl; }
        filters = dlpf;
        size = 16;
    }
    Wred<bit<16>, bit<8>>(8, 1, 0) wred;
    DirectWred<bit<16>>(1, 0) dwred;
    action dw() { hdr.data.d = (bit<32>)dwred.execute(hdr.data.c); }
    table dwred_t {
        key = { hdr.data.b : exact; }
        actions = { dw; }
        filters = dwred;
        size = 16;
    }

    CRCPolynomial<bit<32>>(32w0x1EDC6F41, true, false, false, 32w0xFFFFFFFF, 32w0xFFFFFFFF) crc32c_poly;
    Hash<bit<32>>(HashAlgorithm_t.CUSTOM, crc32c_poly) crc32c;
    CRCPolynomial<bit<16>>(16w0x1021, false, false, false, 16w0xFFFF, 16w0) ccitt_poly;
    Hash<bit<16>>(HashAlgorithm_t.CUSTOM, ccitt_poly) ccitt;
    CRCPolynomial<bit<16>>(coeff = 16w0x1021, reversed = false, msb = false, extended = true, init = 16w0xFFFF,
                           xor = 16w0) ccitt_ext_poly;
    Hash<bit<32>>(HashAlgorithm_t.CUSTOM, ccitt_ext_poly) ccitt_ext;
    CRCPolynomial<bit<16>>(16w0x1021, false, true, false, 16w0xFFFF, 16w0) ccitt_msb_poly;
    Hash<bit<8>>(HashAlgorithm_t.CUSTOM, ccitt_msb_poly) ccitt_msb;
    Hash<bit<8>>(HashAlgorithm_t.CRC8) crc8;

    table proxy_t {
        key = { hdr.data.d : exact; }
        actions = { set_c; NoAction; }
        size = 64;
        proxy_hash = Hash<bit<8>>(HashAlgorithm_t.CRC16);
    }

    Atcam(16) atcam;
    table atcam_t {
        key = { hdr.data.b : atcam_partition_index; hdr.data.d : ternary; }
        actions = { set_c; NoAction; }
        size = 1024;
        atcam = atcam;
    }

    apply {
        ig_tm_md.ucast_egress_port = 1;
        if (hdr.data.a == 1) {
            hdr.data.e = md.pm.f1 ++ md.pm.f2 ++ md.pm.f3 ++ md.pm.f4;
        } else if (hdr.data.a == 2) {
            hdr.data.d = reg_step.execute(hdr.data.b);
        } else if (hdr.data.a == 3) {
            dtab.apply();
        } else if (hdr.data.a == 4) {
            if (hdr.data.b[0:0] == 0) {
                plain.write(hdr.data.b, hdr.data.d);
            } else {
                hdr.data.d = plain.read(hdr.data.b - 1);
            }
        } else if (hdr.data.a == 5) {
            alpm_t.apply();
        } else if (hdr.data.a == 6) {
            atcam_t.apply();
        } else if (hdr.data.a == 7) {
            hdr.data.c = lpf.execute(hdr.data.c, hdr.data.b);
        } else if (hdr.data.a == 8) {
            dlpf_t.apply();
        } else if (hdr.data.a == 9) {
            hdr.data.d = (bit<32>)wred.execute(hdr.data.c, hdr.data.b);
        } else if (hdr.data.a == 10) {
            dwred_t.apply();
        } else if (hdr.data.a == 11) {
            hdr.data.d = crc32c.get({hdr.data.e, hdr.data.b});
        } else if (hdr.data.a == 12) {
            hdr.data.c = ccitt.get({hdr.data.e, hdr.data.b});
        } else if (hdr.data.a == 13) {
            hdr.data.d = ccitt_ext.get({hdr.data.e, hdr.data.b});
        } else if (hdr.data.a == 14) {
            hdr.data.c = (bit<16>)ccitt_msb.get({hdr.data.e, hdr.data.b});
        } else if (hdr.data.a == 15) {
            hdr.data.c = (bit<16>)crc8.get({hdr.data.e, hdr.data.b});
        } else if (hdr.data.a == 16) {
            if (ig_intr_md.resubmit_flag == 0) {
                hdr.data.c = 0xBAD;
                md.rs.kind = 7;
                md.rs.v = (bit<16>)hdr.data.b * 3;
                ig_dprsr_md.resubmit_type = 1;
            } else {
                hdr.data.c = md.rs.v;
                hdr.data.d = (bit<32>)ig_intr_md.resubmit_flag;
                hdr.data.e = md.pm.f1 ++ md.pm.f2 ++ md.pm.f3 ++ md.pm.f4;
            }
        } else if (hdr.data.a == 17) {
            ig_dprsr_md.resubmit_type = 3;
            hdr.data.d = hdr.data.d + 1 + (bit<32>)ig_intr_md.resubmit_flag;
        } else if (hdr.data.a == 18) {
            ig_dprsr_md.resubmit_type = 2;
            hdr.data.d = (bit<32>)ig_intr_md.resubmit_flag;
        } else if (hdr.data.a == 20) {
            proxy_t.apply();
        } else if (hdr.data.a == 19) {
            hdr.data.d = (bit<32>)(md.vs_ether ++ md.vs_pair);
        }
    }
}

control IgDeparser(packet_out pkt, inout headers_t hdr, in metadata_t md,
                   in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {
    Resubmit() resubmit;
    Resubmit(3) resubmit3;
    apply {
        if (ig_dprsr_md.resubmit_type == 1) {
            resubmit.emit(md.rs);
        }
        resubmit3.emit();
        pkt.emit(hdr);
    }
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

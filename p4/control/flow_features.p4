/* flow-features module: per flow-direction statistics in hash-indexed registers, and a feature report
 * (docs/records.md) every `report_every` packets of a slot.
 *
 * Slot = low 16 bits of CRC-32(key bytes ++ direction byte) (srchain.records.flow_slot with 2^16 slots).
 * A 32-bit tag per slot (CRC-32 high half ++ CRC-16, lowest bit forced to 1 so 0 means "empty") tells the
 * slot's owner from another flow hashing to it: a new owner restarts the statistics and its next report
 * carries the collision flag. Each register is read and written by exactly one RegisterAction per
 * packet, as a Tofino stage allows.
 *
 * Every RegisterAction fits a Tofino 1 stateful ALU (`srchain p4 check`, target model tofino1): at most two
 * PHV inputs per register, two comparisons, each value assigned once per condition. What does not fit is
 * computed before the access in ordinary control code: the window limit, the IAT each statistic folds in
 * (IAT_NONE or 0 on a fresh slot), and the choice between restarting and counting the window.
 *
 * The report: the record's fields go straight into hdr.report, which the ingress deparser emits in front of
 * the packet with the report's key (SID, load-balancing bucket); report_session (keyed by both) names the
 * multicast group whose node ($pre.node, RID REPORT_RID) is the report port. The PRE makes that copy besides
 * the unicast one; SwitchEgress.report turns it into IPv4/UDP with the record and the remaining chain's
 * label stack. (A mirror could not carry it: bf-p4c caps a Tofino 1 mirror field list at 48 bytes, the
 * record is 69; a multicast copy carries bridged headers of any size.) */
#ifndef _SRCHAIN_FLOW_FEATURES_P4_
#define _SRCHAIN_FLOW_FEATURES_P4_

control FlowFeatures(
        inout headers_t hdr,
        inout ingress_metadata_t ig_md,
        in ingress_intrinsic_metadata_t ig_intr_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Hash<bit<32>>(HashAlgorithm_t.CRC32) slot_hash;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) tag_hash;
    /* Counter index 0: reports emitted; 1: report due but no report group for (SID, bucket). */
    Counter<bit<32>, bit<1>>(2, CounterType_t.PACKETS) reports;

    flow_slot_t slot;
    bit<32> tag;
    bit<8> owner;        /* 0 same flow, 1 empty slot taken, 2 slot taken over from another flow */
    bool fresh;          /* statistics restart with this packet */
    bool takeover;
    bit<16> win;
    bit<16> win_limit;   /* report_every - 1, saturating: the count before the window's last packet */
    bool window_start;
    bool report_due;
    bit<32> iat;
    bit<32> iat_for_min; /* the IAT the minimum folds in: IAT_NONE on a fresh slot */
    bit<32> iat_for_max; /* the IAT the maximum and sum fold in: 0 on a fresh slot */
    bit<48> ts;
    bit<16> len;

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) owner_tag;
    RegisterAction<bit<32>, flow_slot_t, bit<8>>(owner_tag) claim = {
        void apply(inout bit<32> value, out bit<8> rv) {
            if (value == tag) {
                rv = 0;
            } else if (value == 0) {
                rv = 1;
                value = tag;
            } else {
                rv = 2;
                value = tag;
            }
        }
    };

    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) win_pkts;
    /* A fresh slot: this packet is the window's first (and its last when report_every <= 1). */
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(win_pkts) restart_window = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (win_limit == 0) {
                value = 0;
            } else {
                value = 1;
            }
            rv = 1;
        }
    };
    /* The same flow: one more packet; the window closes when the count before it reached win_limit. */
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(win_pkts) count_window = {
        void apply(inout bit<16> value, out bit<16> rv) {
            rv = value + 1;
            if (value >= win_limit) {
                value = 0;
            } else {
                value = value + 1;
            }
        }
    };

    Register<bit<8>, flow_slot_t>(FLOW_SLOTS, 0) collision;
    /* Returns the flag before this packet; the control ORs in this packet's takeover. */
    RegisterAction<bit<8>, flow_slot_t, bit<8>>(collision) track_collision = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
            if (report_due) {
                value = 0;
            } else if (takeover) {
                value = 1;
            }
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) pkt_count;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(pkt_count) count_packet = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (fresh) {
                value = 1;
            } else {
                value = value + 1;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) byte_count;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(byte_count) count_bytes = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (fresh) {
                value = (bit<32>)len;
            } else {
                value = value + (bit<32>)len;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) size_sum;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(size_sum) add_size = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (window_start) {
                value = (bit<32>)len;
            } else {
                value = value + (bit<32>)len;
            }
            rv = value;
        }
    };

    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) size_min;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_min) min_size = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (window_start || len < value) {
                value = len;
            }
            rv = value;
        }
    };

    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) size_max;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_max) max_size = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (window_start || len > value) {
                value = len;
            }
            rv = value;
        }
    };

    /* 48-bit timestamps as a 16-bit high and a 32-bit low register. */
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) first_seen_lo;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(first_seen_lo) first_lo = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (fresh) {
                value = ts[31:0];
            }
            rv = value;
        }
    };
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) first_seen_hi;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(first_seen_hi) first_hi = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (fresh) {
                value = ts[47:32];
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) last_seen_lo;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(last_seen_lo) swap_last_lo = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            value = ts[31:0];
        }
    };
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) last_seen_hi;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(last_seen_hi) swap_last_hi = {
        void apply(inout bit<16> value, out bit<16> rv) {
            rv = value;
            value = ts[47:32];
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_min;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_min) min_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (window_start || iat_for_min < value) {  /* a fresh slot starts a window */
                value = iat_for_min;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_max;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_max) max_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (window_start || iat_for_max > value) {
                value = iat_for_max;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_sum;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_sum) add_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (window_start) {
                value = iat_for_max;
            } else {
                value = value |+| iat_for_max;
            }
            rv = value;
        }
    };

    /* Report sequence number of this switch. */
    Register<bit<32>, bit<1>>(1, 0) report_seq;
    RegisterAction<bit<32>, bit<1>, bit<32>>(report_seq) next_seq = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            value = value + 1;
        }
    };

    /* Each Hash.get in its own action: an action takes at most 32 bits of hash/immediate data (bf-p4c
       mau/action_format.cpp, the immediate pathway). */
    bit<32> h;
    bit<16> h16;
    action hash_slot() {
        h = slot_hash.get({ig_md.key.ip_a, ig_md.key.ip_b, ig_md.key.port_a, ig_md.key.port_b,
                           ig_md.key.protocol, ig_md.key.direction});
    }
    action hash_tag() {
        h16 = tag_hash.get({ig_md.key.ip_a, ig_md.key.ip_b, ig_md.key.port_a, ig_md.key.port_b,
                            ig_md.key.protocol, ig_md.key.direction});
    }

    bit<16> shortfall;   /* report_every - win, saturating: 0 once the window is full */
    action window_shortfall() {
        shortfall = ig_md.report_every |-| win;
    }

    bit<16> last_hi;
    bit<32> last_lo;
    bit<16> hi_gap;
    bit<32> lo_gap;
    bit<32> lo_low;      /* min(lo_gap, ts_lo) */
    bit<32> borrowed;    /* non-zero when the low half borrowed */
    action gap_halves() {
        hi_gap = ts[47:32] - last_hi;
        lo_gap = ts[31:0] - last_lo;
    }
    action gap_borrow_low() {
        lo_low = min(lo_gap, ts[31:0]);
    }
    action gap_borrow() {
        borrowed = lo_low ^ lo_gap;
    }

    action set_report_group(MulticastGroupId_t group) {
        ig_tm_md.mcast_grp_a = group;
        hdr.bridged.kind = PKT_REPORT;
        hdr.report_key.setValid();
        hdr.report_key.sid = ig_md.ff_sid;
        hdr.report_key.lb_bucket = ig_md.lb_bucket;
        hdr.report.setValid();
    }

    action no_report_group() {}

    table report_session {
        key = {
            ig_md.ff_sid : exact @name("sid");
            ig_md.lb_bucket : ternary @name("lb_bucket");
        }
        actions = { set_report_group; @defaultonly no_report_group; }
        const default_action = no_report_group;
        size = REPORT_SESSIONS;
    }

    apply {
        hash_slot();
        hash_tag();
        slot = h[15:0];
        tag = h[31:16] ++ h16[15:1] ++ 1w1;
        ts = ig_intr_md.ingress_mac_tstamp;
        len = ig_md.ip_len;

        owner = claim.execute(slot);
        /* bool locals from if/else: bf-p4c has no ALU move of a comparison result ("source of modify_field
           invalid", instruction selection); a gateway sets them instead */
        if (owner != 0) { fresh = true; } else { fresh = false; }
        if (owner == 2) { takeover = true; } else { takeover = false; }
        win_limit = ig_md.report_every |-| 1;
        if (fresh) {
            win = restart_window.execute(slot);
        } else {
            win = count_window.execute(slot);
        }
        if (win == 1) { window_start = true; } else { window_start = false; }
        window_shortfall();  /* a gateway compares with a constant only: win >= report_every as 0 shortfall */
        if (shortfall == 0) { report_due = true; } else { report_due = false; }

        bit<32> last_lo_now = swap_last_lo.execute(slot);
        bit<16> last_hi_now = swap_last_hi.execute(slot);
        /* the 48-bit gap ts - last in 32-bit halves: bf-p4c cannot allocate 48-bit arithmetic on a copy of
           the intrinsic timestamp. The gap fits 32 bits when the high halves are equal, or one apart with a
           borrow out of the low half (ts_lo < last_lo, i.e. lo_gap > ts_lo: min(lo_gap, ts_lo) != lo_gap). */
        last_hi = last_hi_now;
        last_lo = last_lo_now;
        gap_halves();
        gap_borrow_low();
        gap_borrow();
        if (hi_gap == 0) {
            iat = lo_gap;
        } else if (hi_gap == 1) {
            if (borrowed != 0) {
                iat = lo_gap;
            } else {
                iat = 0xFFFFFFFF;
            }
        } else {
            iat = 0xFFFFFFFF;
        }
        if (fresh) {
            iat_for_min = IAT_NONE;
            iat_for_max = 0;
        } else {
            iat_for_min = iat;
            iat_for_max = iat;
        }

        hdr.report.flags = 7w0 ++ ig_md.key.direction[0:0];
        bit<8> collided = track_collision.execute(slot);
        if (takeover || collided != 0) {
            hdr.report.flags = hdr.report.flags | 2;
        }
        hdr.report.pkt_count = count_packet.execute(slot);
        hdr.report.byte_count = count_bytes.execute(slot);
        hdr.report.size_sum = add_size.execute(slot);
        hdr.report.size_min = min_size.execute(slot);
        hdr.report.size_max = max_size.execute(slot);
        bit<32> first_l = first_lo.execute(slot);
        bit<16> first_h = first_hi.execute(slot);
        hdr.report.iat_min = min_iat.execute(slot);
        hdr.report.iat_max = max_iat.execute(slot);
        hdr.report.iat_sum = add_iat.execute(slot);

        if (report_due) {
            if (report_session.apply().hit) {
                reports.count(0);
                hdr.report.protocol = ig_md.key.protocol;
                hdr.report.ip_a = ig_md.key.ip_a;
                hdr.report.ip_b = ig_md.key.ip_b;
                hdr.report.port_a = ig_md.key.port_a;
                hdr.report.port_b = ig_md.key.port_b;
                hdr.report.slot = 16w0 ++ slot;
                hdr.report.seq = next_seq.execute(0);
                hdr.report.win_pkts = win;
                hdr.report.first_seen_ns = first_h ++ first_l;
                hdr.report.last_seen_ns = ts;
            } else {
                reports.count(1);
            }
        }
    }
}

#endif

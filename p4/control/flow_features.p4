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
 * PHV inputs per register, two comparisons, each value assigned once per condition. A statistic that restarts
 * (fresh slot, new window) or folds the packet in has one RegisterAction per case, chosen by a gateway on the
 * step before; the IAT each statistic folds in (IAT_NONE or 0 on a fresh slot) is chosen the same way.
 * The steps (claim -> window -> statistics -> report) are each gated by run_flow_features on their own, so the
 * priority module's steps share their stages (control/sr.p4 on Tofino 1's next-table chains).
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
    bit<8> due;          /* 1: this packet closes its window (a report is due) */
    bit<32> iat;         /* this packet's inter-arrival time, clamped to 2^32 - 1 (not on a fresh slot) */
    bit<32> lo_gap;      /* ts[31:0] - last[31:0], mod 2^32 */
    bit<8> borrowed;     /* 1 when that subtraction borrowed (ts[31:0] < last[31:0]) */
    bit<16> hi_gap;      /* ts[47:32] - last[47:32], mod 2^16 */
    bit<8> collided;

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

    /* Window packet count. A fresh slot: this packet is the window's first (and its last when
       report_every <= 1). The same flow: one more; the window closes when the count before it reaches
       report_every - 1. Returns the count with this packet. */
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) win_pkts;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(win_pkts) restart_window = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (ig_md.report_every <= 1) {
                value = 0;
            } else {
                value = 1;
            }
            rv = 1;
        }
    };
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(win_pkts) count_window = {
        void apply(inout bit<16> value, out bit<16> rv) {
            rv = value + 1;
            if (value + 1 >= ig_md.report_every) {
                value = 0;
            } else {
                value = value + 1;
            }
        }
    };

    /* The same count again, returning whether this packet closes the window (1) instead of the count: a
       stateful ALU returns one value, and the report decision cannot wait for a comparison of the count. */
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) win_pkts_due;
    RegisterAction<bit<16>, flow_slot_t, bit<8>>(win_pkts_due) restart_window_due = {
        void apply(inout bit<16> value, out bit<8> rv) {
            if (ig_md.report_every <= 1) {
                value = 0;
                rv = 1;
            } else {
                value = 1;
                rv = 0;
            }
        }
    };
    RegisterAction<bit<16>, flow_slot_t, bit<8>>(win_pkts_due) count_window_due = {
        void apply(inout bit<16> value, out bit<8> rv) {
            if (value + 1 >= ig_md.report_every) {
                value = 0;
                rv = 1;
            } else {
                value = value + 1;
                rv = 0;
            }
        }
    };

    /* The collision flag, stored as the record's flag bit (FLAG_COLLISION = 2): returns it as it stands for
       this packet's report; a report clears it, a takeover sets it. */
    Register<bit<8>, flow_slot_t>(FLOW_SLOTS, 0) collision;
    RegisterAction<bit<8>, flow_slot_t, bit<8>>(collision) read_clear_collision = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
            value = 0;
        }
    };
    RegisterAction<bit<8>, flow_slot_t, bit<8>>(collision) takeover_clear_collision = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = 2;
            value = 0;
        }
    };
    RegisterAction<bit<8>, flow_slot_t, bit<8>>(collision) set_collision = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = 2;
            value = 2;
        }
    };
    RegisterAction<bit<8>, flow_slot_t, bit<8>>(collision) read_collision = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
        }
    };

    /* Each statistic restarts (a fresh slot, or a new window) or folds this packet in: one RegisterAction per
       case, chosen by a gateway, so none needs the choice as an input. */
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) pkt_count;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(pkt_count) restart_packets = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = 1;
            rv = 1;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(pkt_count) count_packet = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value + 1;
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) byte_count;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(byte_count) restart_bytes = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = (bit<32>)hdr.ipv4.total_len;
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(byte_count) count_bytes = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value + (bit<32>)hdr.ipv4.total_len;
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) size_sum;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(size_sum) restart_size_sum = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = (bit<32>)hdr.ipv4.total_len;
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(size_sum) add_size = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value + (bit<32>)hdr.ipv4.total_len;
            rv = value;
        }
    };

    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) size_min;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_min) restart_size_min = {
        void apply(inout bit<16> value, out bit<16> rv) {
            value = hdr.ipv4.total_len;
            rv = value;
        }
    };
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_min) min_size = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (hdr.ipv4.total_len < value) {
                value = hdr.ipv4.total_len;
            }
            rv = value;
        }
    };

    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) size_max;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_max) restart_size_max = {
        void apply(inout bit<16> value, out bit<16> rv) {
            value = hdr.ipv4.total_len;
            rv = value;
        }
    };
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(size_max) max_size = {
        void apply(inout bit<16> value, out bit<16> rv) {
            if (hdr.ipv4.total_len > value) {
                value = hdr.ipv4.total_len;
            }
            rv = value;
        }
    };

    /* 48-bit timestamps as a 16-bit high and a 32-bit low register. */
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) first_seen_lo;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(first_seen_lo) restart_first_lo = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = ig_intr_md.ingress_mac_tstamp[31:0];
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(first_seen_lo) read_first_lo = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
        }
    };
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) first_seen_hi;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(first_seen_hi) restart_first_hi = {
        void apply(inout bit<16> value, out bit<16> rv) {
            value = ig_intr_md.ingress_mac_tstamp[47:32];
            rv = value;
        }
    };
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(first_seen_hi) read_first_hi = {
        void apply(inout bit<16> value, out bit<16> rv) {
            rv = value;
        }
    };

    /* The last arrival: each register returns this packet's gap to it and keeps this packet's time. The low
       half is held twice, once for the gap and once for its borrow: a stateful ALU returns one value. */
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) last_seen_lo;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(last_seen_lo) gap_lo = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = ig_intr_md.ingress_mac_tstamp[31:0] - value;
            value = ig_intr_md.ingress_mac_tstamp[31:0];
        }
    };
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) last_seen_lo_borrow;
    RegisterAction<bit<32>, flow_slot_t, bit<8>>(last_seen_lo_borrow) gap_borrow = {
        void apply(inout bit<32> value, out bit<8> rv) {
            if (ig_intr_md.ingress_mac_tstamp[31:0] < value) {
                rv = 1;
            } else {
                rv = 0;
            }
            value = ig_intr_md.ingress_mac_tstamp[31:0];
        }
    };
    Register<bit<16>, flow_slot_t>(FLOW_SLOTS, 0) last_seen_hi;
    RegisterAction<bit<16>, flow_slot_t, bit<16>>(last_seen_hi) gap_hi = {
        void apply(inout bit<16> value, out bit<16> rv) {
            rv = ig_intr_md.ingress_mac_tstamp[47:32] - value;
            value = ig_intr_md.ingress_mac_tstamp[47:32];
        }
    };

    /* The window's IATs: a fresh slot restarts them empty (min IAT_NONE, max and sum 0), a new window with
       this packet's IAT, any other packet folds its IAT in. */
    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_min;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_min) empty_iat_min = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = IAT_NONE;
            rv = IAT_NONE;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_min) restart_iat_min = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = iat;
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_min) min_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (iat < value) {
                value = iat;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_max;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_max) empty_iat_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = 0;
            rv = 0;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_max) restart_iat_max = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = iat;
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_max) max_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            if (iat > value) {
                value = iat;
            }
            rv = value;
        }
    };

    Register<bit<32>, flow_slot_t>(FLOW_SLOTS, 0) iat_sum;
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_sum) empty_iat_sum = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = 0;
            rv = 0;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_sum) restart_iat_sum = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = iat;
            rv = value;
        }
    };
    RegisterAction<bit<32>, flow_slot_t, bit<32>>(iat_sum) add_iat = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value |+| iat;
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

    /* The IAT: the 48-bit gap ts - last when it fits 32 bits ((hi_gap - borrow) mod 2^16 == 0), else 2^32 - 1
       (docs/records.md). */
    action iat_gap() {
        iat = lo_gap;
    }
    action iat_saturated() {
        iat = 0xFFFFFFFF;
    }

    action set_report_group(MulticastGroupId_t group) {
        ig_tm_md.mcast_grp_a = group;
        hdr.bridged.kind = PKT_REPORT;
        hdr.report_key.setValid();
        hdr.report_key.sid = ig_md.ff_sid;
        hdr.report_key.lb_bucket = ig_md.lb_bucket;
        hdr.report.setValid();
        reports.count(0);
        hdr.report.seq = next_seq.execute(0);
    }

    action no_report_group() {
        reports.count(1);
    }

    /* The flags as constants by a gateway: an OR would need its own instruction in a container the record's
       other fields share (bf-p4c: one instruction type per container and action). */
    action flags_b_to_a() { hdr.report.flags = 0; }
    action flags_a_to_b() { hdr.report.flags = FLAG_DIRECTION; }
    action flags_b_to_a_collided() { hdr.report.flags = FLAG_COLLISION; }
    action flags_a_to_b_collided() { hdr.report.flags = FLAG_DIRECTION | FLAG_COLLISION; }

    /* The record's other fields, in the stage after (harmless when no group made the record valid). */
    action report_fields() {
        hdr.report.protocol = ig_md.key.protocol;
        hdr.report.ip_a = ig_md.key.ip_a;
        hdr.report.ip_b = ig_md.key.ip_b;
        hdr.report.port_a = ig_md.key.port_a;
        hdr.report.port_b = ig_md.key.port_b;
        hdr.report.slot = 17w0 ++ slot;
        hdr.report.last_seen_ns = ig_intr_md.ingress_mac_tstamp;
    }

    table report_session {
        key = {
            ig_md.ff_sid : exact @name("sid");
            ig_md.lb_bucket : ternary @name("lb_bucket");
        }
        actions = { set_report_group; @defaultonly no_report_group; }
        const default_action = no_report_group;
        size = REPORT_SESSIONS;
    }

    /* Each step gated by run_flow_features on its own (control/sr.p4: no long gated block on Tofino 1). */
    apply {
        /* step 0: the slot and tag, as soon as the key is known and a local SID was found (the module's own flag
           comes a stage later; the emulator skips the hashes for every other packet) */
        if (ig_md.ls0.module != LOCAL_NONE) {
            hash_slot();
            hash_tag();
        }
        slot = h[14:0];
        tag = h[31:16] ++ h16[15:1] ++ 1w1;

        /* step 1: the slot's owner; the gaps to the last arrival */
        if (ig_md.run_flow_features) {
            owner = claim.execute(slot);
        }
        if (ig_md.run_flow_features) {
            lo_gap = gap_lo.execute(slot);
        }
        if (ig_md.run_flow_features) {
            borrowed = gap_borrow.execute(slot);
        }
        if (ig_md.run_flow_features) {
            hi_gap = gap_hi.execute(slot);
        }
        /* step 2: restart or count, by owner */
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.win_pkts = restart_window.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.win_pkts = count_window.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            due = restart_window_due.execute(slot);
        } else if (ig_md.run_flow_features) {
            due = count_window_due.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.pkt_count = restart_packets.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.pkt_count = count_packet.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.byte_count = restart_bytes.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.byte_count = count_bytes.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.first_seen_ns[31:0] = restart_first_lo.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.first_seen_ns[31:0] = read_first_lo.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.first_seen_ns[47:32] = restart_first_hi.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.first_seen_ns[47:32] = read_first_hi.execute(slot);
        }
        if (hi_gap == 0 && borrowed == 0) {
            iat_gap();
        } else if (hi_gap == 1 && borrowed == 1) {
            iat_gap();
        } else {
            iat_saturated();
        }
        /* step 3: the window's statistics, restarted on its first packet */
        if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.size_sum = restart_size_sum.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.size_sum = add_size.execute(slot);
        }
        if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.size_min = restart_size_min.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.size_min = min_size.execute(slot);
        }
        if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.size_max = restart_size_max.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.size_max = max_size.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.iat_min = empty_iat_min.execute(slot);
        } else if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.iat_min = restart_iat_min.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.iat_min = min_iat.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.iat_max = empty_iat_max.execute(slot);
        } else if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.iat_max = restart_iat_max.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.iat_max = max_iat.execute(slot);
        }
        if (ig_md.run_flow_features && owner != 0) {
            hdr.report.iat_sum = empty_iat_sum.execute(slot);
        } else if (ig_md.run_flow_features && hdr.report.win_pkts == 1) {
            hdr.report.iat_sum = restart_iat_sum.execute(slot);
        } else if (ig_md.run_flow_features) {
            hdr.report.iat_sum = add_iat.execute(slot);
        }
        /* step 4: a full window reports; the collision flag goes with it */
        if (ig_md.run_flow_features && due == 1 && owner == 2) {
            collided = takeover_clear_collision.execute(slot);
        } else if (ig_md.run_flow_features && due == 1) {
            collided = read_clear_collision.execute(slot);
        } else if (ig_md.run_flow_features && owner == 2) {
            collided = set_collision.execute(slot);
        }
        if (ig_md.run_flow_features && due == 1) {
            report_session.apply();
        }
        /* step 5: the record's other fields */
        if (ig_md.run_flow_features && due == 1) {
            report_fields();
        }
        if (ig_md.run_flow_features && due == 1 && ig_md.key.direction == 1 && collided != 0) {
            flags_a_to_b_collided();
        } else if (ig_md.run_flow_features && due == 1 && collided != 0) {
            flags_b_to_a_collided();
        } else if (ig_md.run_flow_features && due == 1 && ig_md.key.direction == 1) {
            flags_a_to_b();
        } else if (ig_md.run_flow_features && due == 1) {
            flags_b_to_a();
        }
    }
}

#endif

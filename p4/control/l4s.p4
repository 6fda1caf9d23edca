/* l4s module: the IETF L4S dual-queue coupled AQM (RFC 9330/9331/9332, DualPI2) on the switch's own egress port.
 *
 * Ingress (L4sClassify, on a packet that popped an l4s SID): SwitchIngress.l4s.queue_map (SID, ECN codepoint)
 *   -> the queue: the planner maps ECT(1) and CE to the L4S queue and Not-ECT and ECT(0) to the classic one. The
 *   SID rides to egress in the bridged header (bridged.l4s_sid), which makes the egress parser read the IPv4
 *   header below the labels left.
 * Egress (L4sAqm, per packet of a classified SID):
 *   qdelay = egress global timestamp - ingress MAC timestamp (ns, low 32 bits; deq_timedelta is 18 bits on a
 *     Tofino 1, 262 us at most: too short for a 15 ms target).
 *   PI2 (RFC 9332 A.1): p' += alpha_U (qdelay - target) + beta_U (qdelay - qdelay_prev) once per Tupdate, by the
 *     first classic packet past the deadline. No multiply in a stateful ALU, so the two products come from a
 *     table on the quantised delay (SwitchEgress.l4s.pi_terms, per SID and bucket of 262.144 us: now_term =
 *     (alpha_U + beta_U) q - alpha_U target, prev_term = beta_U q, both scaled to p' = 2^32), and the register
 *     keeps prev_term of the last update instead of the delay: delta = now_term - prev_term(last).
 *   Registers per egress port: deadline (1.024 us units), last prev_term, p' (32 bits: 2^32 = 1); each touched by
 *     one RegisterAction per packet, chosen by a gateway (raise / lower / read p').
 *   Classic: drop (Not-ECT) or CE-mark (ECT(0), RFC 9332 s2.5.1.1) when two 16-bit random draws are both below
 *     p' (p_C = p'^2). L4S: CE-mark when qdelay > the step threshold and the L queue holds another packet
 *     (deq_qdepth > 0: A.2's Th_len of one packet), or a draw is below k p' (k = 2^k_log2, p_L = max(k p', step)).
 *   SwitchEgress.l4s.decisions[0..3]: marked L4S, marked classic, dropped classic, forwarded unmarked.
 * Every step is gated on its own (control/sr.p4 on Tofino 1's next-table chains). */
#ifndef _SRCHAIN_L4S_P4_
#define _SRCHAIN_L4S_P4_

control L4sClassify(
        inout headers_t hdr,
        in ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    bit<2> ecn;

    action set_queue(QueueId_t qid) {
        ig_tm_md.qid = qid;
        hdr.bridged.l4s_sid = ig_md.l4s_sid;
    }

    action unclassified() {}

    table queue_map {
        key = {
            ig_md.l4s_sid : exact @name("sid");
            ecn : exact @name("ecn");
        }
        actions = { set_queue; @defaultonly unclassified; }
        const default_action = unclassified;
        size = L4S_QUEUE_MAP_SIZE;
    }

    apply {
        if (ig_md.run_l4s && hdr.ipv4.isValid()) {
            ecn = hdr.ipv4.diffserv[1:0];
        }
        if (ig_md.run_l4s && hdr.ipv4.isValid()) {
            queue_map.apply();
        }
    }
}

/* p' is 32 bits (2^32 = probability 1); the decisions compare 16-bit draws with its high half. */
control L4sAqm(
        inout headers_t hdr,
        in egress_intrinsic_metadata_t eg_intr_md,
        in egress_intrinsic_metadata_from_parser_t eg_prsr_md,
        inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {
    /* Index 0: CE-marked L4S; 1: CE-marked classic (ECT(0)); 2: dropped classic; 3: forwarded unmarked. */
    Counter<bit<32>, bit<2>>(4, CounterType_t.PACKETS) decisions;
    Random<bit<16>>() rnd_c1;
    Random<bit<16>>() rnd_c2;
    Random<bit<16>>() rnd_l;
    /* ns >> 10 without a shifter (as QueueStats): the deadline's clock, which wraps after 73 minutes */
    Hash<bit<32>>(HashAlgorithm_t.IDENTITY) now_us_hash;

    bit<32> qdelay;
    bit<32> now_us;
    bit<32> step_ns;
    bit<32> interval_ticks;  /* Tupdate in ticks of the deadline clock (1.024 us) */
    bit<8> k_log2;
    bool configured;
    bit<1> ect1;        /* ECT(1) or CE: the L4S treatment */
    bit<8> bucket;
    bit<32> deadline;
    bit<8> due;
    bit<32> now_term;
    bit<32> prev_term;
    bit<32> old_prev_term;
    bit<32> up;
    bit<32> down;
    bit<32> p;
    bit<32> p_cl;
    bit<32> r1;
    bit<32> r2;
    bit<32> r3;
    bit<32> step_over;
    bit<32> d1;
    bit<32> d2;
    bit<32> d3;

    action set_config(bit<32> step_threshold_ns, bit<32> interval_1024ns, bit<8> coupling_log2) {
        configured = true;
        step_ns = step_threshold_ns;
        interval_ticks = interval_1024ns;
        k_log2 = coupling_log2;
    }

    action unconfigured() {
        configured = false;
    }

    table config {
        key = { hdr.bridged.l4s_sid : exact @name("sid"); }
        actions = { set_config; @defaultonly unconfigured; }
        const default_action = unconfigured;
        size = L4S_CONFIG_SIZE;
    }

    /* now_term = (alpha_U + beta_U) q - alpha_U target and prev_term = beta_U q for the bucket's delay q */
    action set_terms(bit<32> now, bit<32> prev) {
        now_term = now;
        prev_term = prev;
    }

    action no_terms() {
        now_term = 0;
        prev_term = 0;
    }

    table pi_terms {
        key = {
            hdr.bridged.l4s_sid : exact @name("sid");
            bucket : exact @name("bucket");
        }
        actions = { set_terms; @defaultonly no_terms; }
        const default_action = no_terms;
        size = L4S_PI_SIZE;
    }

    Register<bit<32>, bit<9>>(L4S_PORTS, 0) next_update;
    /* the deadline passed (now - deadline < 2^31 modulo 2^32): the next one, and report "due" */
    /* due: the deadline passed (now - deadline < 2^31, modulo 2^32), or it lies further ahead than the next
       one would (deadline' - deadline >= 2^31: a register never written, or a clock that wrapped) */
    RegisterAction<bit<32>, bit<9>, bit<8>>(next_update) take_update = {
        void apply(inout bit<32> value, out bit<8> rv) {
            rv = 0;
            if (now_us - value < 0x80000000 || deadline - value >= 0x80000000) {
                value = deadline;
                rv = 1;
            }
        }
    };

    Register<bit<32>, bit<9>>(L4S_PORTS, 0) last_prev_term;
    RegisterAction<bit<32>, bit<9>, bit<32>>(last_prev_term) swap_prev_term = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
            value = prev_term;
        }
    };

    Register<bit<32>, bit<9>>(L4S_PORTS, 0) prob;
    RegisterAction<bit<32>, bit<9>, bit<32>>(prob) raise_p = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value |+| up;
            rv = value;
        }
    };
    RegisterAction<bit<32>, bit<9>, bit<32>>(prob) lower_p = {
        void apply(inout bit<32> value, out bit<32> rv) {
            value = value |-| down;
            rv = value;
        }
    };
    RegisterAction<bit<32>, bit<9>, bit<32>>(prob) read_p = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
        }
    };

    action measure() {
        qdelay = eg_prsr_md.global_tstamp[31:0] - hdr.bridged.ingress_tstamp[31:0];
        now_us = now_us_hash.get({eg_prsr_md.global_tstamp[41:10]});
        ect1 = hdr.ipv4.diffserv[0:0];
    }
    /* one Random per action, as the SDE's tna_random does */
    action draw_c1() { r1 = (bit<32>)rnd_c1.get(); }
    action draw_c2() { r2 = (bit<32>)rnd_c2.get(); }
    action draw_l() { r3 = (bit<32>)rnd_l.get(); }
    action bucket_of_delay() {
        bucket = qdelay[25:18];
        step_over = step_ns - qdelay;
    }
    /* RFC 9332 A.2, Th_len = 1 packet: no step marking while the L queue holds this packet alone. At a low link
       rate one packet ahead of it in the port (an MTU at 12 Mbit/s: 1 ms) already exceeds the step threshold. */
    action no_step() {
        step_over = 0;
    }
    action bucket_saturated() {
        bucket = 255;
        step_over = step_ns - qdelay;
    }
    action next_deadline() {
        deadline = now_us + interval_ticks;
    }
    action delta() {
        up = now_term - old_prev_term;
        down = old_prev_term - now_term;
    }
    /* p_CL = k p' (high half); r < p as the borrow of r - p: a gateway compares a field with a constant only
       (bf-p4c mau/gateway.cpp) */
    action couple_1() { p_cl = (bit<32>)p[31:16]; d1 = r1 - (bit<32>)p[31:16]; d2 = r2 - (bit<32>)p[31:16]; }
    action couple_2() { p_cl = ((bit<32>)p[31:16]) << 1; d1 = r1 - (bit<32>)p[31:16]; d2 = r2 - (bit<32>)p[31:16]; }
    action couple_4() { p_cl = ((bit<32>)p[31:16]) << 2; d1 = r1 - (bit<32>)p[31:16]; d2 = r2 - (bit<32>)p[31:16]; }
    action couple_8() { p_cl = ((bit<32>)p[31:16]) << 3; d1 = r1 - (bit<32>)p[31:16]; d2 = r2 - (bit<32>)p[31:16]; }
    action couple_16() { p_cl = ((bit<32>)p[31:16]) << 4; d1 = r1 - (bit<32>)p[31:16]; d2 = r2 - (bit<32>)p[31:16]; }
    action compare_l4s() {
        d3 = r3 - p_cl;
    }
    /* one count per action of an else-if chain: the Counter's users are mutually exclusive (bf-p4c) */
    action mark_l4s() {
        hdr.ipv4.diffserv = hdr.ipv4.diffserv | 3;
        decisions.count(0);
    }
    action mark_classic() {
        hdr.ipv4.diffserv = hdr.ipv4.diffserv | 3;
        decisions.count(1);
    }
    action drop_classic() {
        eg_dprsr_md.drop_ctl = 1;
        decisions.count(2);
    }
    action pass() {
        decisions.count(3);
    }

    apply {
        due = 0;
        measure();
        draw_c1();
        draw_c2();
        draw_l();
        configured = false;
        if (hdr.ipv4.isValid()) {  /* parsed in egress only for packets an l4s SID classified */
            config.apply();
        }
        if (qdelay[31:26] != 0) {  /* beyond the 256 buckets of 2^18 ns (67 ms) */
            bucket_saturated();
        } else {
            bucket_of_delay();
        }
        if (eg_intr_md.deq_qdepth == 0) {
            no_step();
        }
        if (configured) {
            next_deadline();
        }
        if (configured && ect1 == 0) {
            pi_terms.apply();
        }
        /* the update: by classic packets, whose delay is the classic queue's (RFC 9332 A.1: curq = cq.time()) */
        if (configured && ect1 == 0) {
            due = take_update.execute(eg_intr_md.egress_port);
        }
        if (due == 1) {
            old_prev_term = swap_prev_term.execute(eg_intr_md.egress_port);
        }
        if (due == 1) {
            delta();
        }
        if (due == 1 && up[31:31] == 0) {
            p = raise_p.execute(eg_intr_md.egress_port);
        } else if (due == 1) {
            p = lower_p.execute(eg_intr_md.egress_port);
        } else if (configured) {
            p = read_p.execute(eg_intr_md.egress_port);
        }
        if (configured && k_log2 == 0) {
            couple_1();
        } else if (configured && k_log2 == 1) {
            couple_2();
        } else if (configured && k_log2 == 2) {
            couple_4();
        } else if (configured && k_log2 == 3) {
            couple_8();
        } else if (configured) {
            couple_16();
        }
        if (configured) {
            compare_l4s();
        }
        /* L4S: qdelay > step threshold, k p' >= 1, or a draw below k p'; classic: two draws below p' */
        if (configured && ect1 == 1 && (step_over[31:31] == 1 || p_cl[31:16] != 0 || d3[31:31] == 1)) {
            mark_l4s();
        } else if (configured && ect1 == 0 && d1[31:31] == 1 && d2[31:31] == 1 && hdr.ipv4.diffserv[1:0] == 2) {
            mark_classic();
        } else if (configured && ect1 == 0 && d1[31:31] == 1 && d2[31:31] == 1) {
            drop_classic();
        } else if (configured) {
            pass();
        }
    }
}

#endif

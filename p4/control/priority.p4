/* priority module: a decision record (docs/records.md) arriving on its SID writes the session's class
 * into a register (slot = low 16 bits of CRC-32 of the key bytes, srchain.records.session_slot, with a
 * tag as in flow-features) and is consumed; data packets of a session with a class get the queue that
 * SwitchIngress.priority.queue_map gives for (SID, class). No control-plane round trip.
 * The registers are per pipe on a Tofino: a valid decision is replicated to every pipe's recirculation port
 * (defines.p4 DECISION_MGID) and each copy writes the registers of the pipe it comes back into. */
#ifndef _SRCHAIN_PRIORITY_P4_
#define _SRCHAIN_PRIORITY_P4_

control Priority(
        in headers_t hdr,
        inout ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Hash<bit<32>>(HashAlgorithm_t.CRC32) decision_hash;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) decision_tag_hash;
    Hash<bit<32>>(HashAlgorithm_t.CRC32) session_hash;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) session_tag_hash;
    /* Index 0: decisions accepted; 1: data packets that found their session's class. */
    Counter<bit<32>, bit<1>>(2, CounterType_t.PACKETS) events;

    bit<32> tag;
    class_id_t class_id;

    Register<bit<32>, bit<16>>(SESSION_SLOTS, 0) session_tag;
    RegisterAction<bit<32>, bit<16>, bit<32>>(session_tag) write_tag = {
        void apply(inout bit<32> value) {
            value = tag;
        }
    };
    RegisterAction<bit<32>, bit<16>, bit<32>>(session_tag) read_tag = {
        void apply(inout bit<32> value, out bit<32> rv) {
            rv = value;
        }
    };

    Register<bit<8>, bit<16>>(SESSION_SLOTS, 0) session_class;
    RegisterAction<bit<8>, bit<16>, bit<8>>(session_class) write_class = {
        void apply(inout bit<8> value) {
            value = hdr.decision.class_id;
        }
    };
    RegisterAction<bit<8>, bit<16>, bit<8>>(session_class) read_class = {
        void apply(inout bit<8> value, out bit<8> rv) {
            rv = value;
        }
    };

    action set_qid(QueueId_t qid) {
        ig_tm_md.qid = qid;
    }

    action default_queue() {}

    table queue_map {
        key = {
            ig_md.prio_sid : exact @name("sid");
            class_id : exact @name("class_id");
        }
        actions = { set_qid; @defaultonly default_queue; }
        const default_action = default_queue;
        size = QUEUE_MAP_SIZE;
    }

    /* One Hash.get per action: an action takes at most 32 bits of hash/immediate data (bf-p4c). */
    bit<32> h;
    bit<16> h16;
    action hash_decision() {
        h = decision_hash.get({hdr.decision.ip_a, hdr.decision.ip_b, hdr.decision.port_a, hdr.decision.port_b,
                               hdr.decision.protocol});
    }
    action hash_decision_tag() {
        h16 = decision_tag_hash.get({hdr.decision.ip_a, hdr.decision.ip_b, hdr.decision.port_a,
                                     hdr.decision.port_b, hdr.decision.protocol});
    }
    /* One counting site: bf-p4c refuses a Counter used by tables it cannot prove mutually exclusive. */
    bit<1> event;
    bit<1> counted;
    /* The data packet's session: its canonical key (SwitchIngress), hashed as the decision's is. */
    bit<32> sh;
    bit<16> sh16;
    action hash_session() {
        sh = session_hash.get({ig_md.key.ip_a, ig_md.key.ip_b, ig_md.key.port_a, ig_md.key.port_b,
                               ig_md.key.protocol});
    }
    action hash_session_tag() {
        sh16 = session_tag_hash.get({ig_md.key.ip_a, ig_md.key.ip_b, ig_md.key.port_a, ig_md.key.port_b,
                                     ig_md.key.protocol});
    }

    action decision_taken() {
        event = 0;
        counted = 1;
        ig_md.drop_reason = DROP_DECISION;
    }
    action class_found() {
        event = 1;
        counted = 1;
    }
    action bad_decision() {
        ig_md.drop_reason = DROP_BAD_DECISION;
    }
    action fan_out() {
        ig_tm_md.mcast_grp_b = DECISION_MGID;  /* grp_a is the report copy's (flow_features): no write conflict */
        ig_md.decision_fanout = true;
    }

    bit<32> owner;

    /* Each step gated on its own (control/sr.p4: no long gated block on Tofino 1). */
    apply {
        counted = 0;
        if (ig_md.ls0.module != LOCAL_NONE && hdr.ipv4.isValid()) {  /* a local SID was found (see flow_features) */
            hash_session();
            hash_session_tag();
        }
        if (ig_md.decision_copy) {
            hash_decision();
            hash_decision_tag();
        }
        if (ig_md.decision_copy) {  /* replicated from a valid decision (SwitchIngress stage 0) */
            tag = h[31:16] ++ h16[15:1] ++ 1w1;
            write_tag.execute(h[15:0]);
            write_class.execute(h[15:0]);
            decision_taken();
        } else if (ig_md.run_priority && hdr.decision.isValid() && hdr.decision.magic == RECORD_MAGIC &&
                hdr.decision.version == RECORD_VERSION && hdr.decision.rtype == RECORD_DECISION) {
            fan_out();
        } else if (ig_md.run_priority && hdr.decision.isValid()) {
            bad_decision();
        } else if (ig_md.run_priority && hdr.ipv4.isValid()) {
            tag = sh[31:16] ++ sh16[15:1] ++ 1w1;
            owner = read_tag.execute(sh[15:0]);
            class_id = read_class.execute(sh[15:0]);
        }
        if (ig_md.run_priority && !hdr.decision.isValid() && hdr.ipv4.isValid() && owner == tag) {
            class_found();
            queue_map.apply();
        }
        if (counted == 1) {
            events.count(event);
        }
    }
}

#endif

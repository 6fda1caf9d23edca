/* priority module: a decision record (docs/records.md) arriving on its SID writes the session's class
 * into a register (slot = low 16 bits of CRC-32 of the key bytes, srchain.records.session_slot, with a
 * tag as in flow-features) and is consumed; data packets of a session with a class get the queue that
 * SwitchIngress.priority.queue_map gives for (SID, class). No control-plane round trip. */
#ifndef _SRCHAIN_PRIORITY_P4_
#define _SRCHAIN_PRIORITY_P4_

control Priority(
        in headers_t hdr,
        inout ingress_metadata_t ig_md,
        inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {
    Hash<bit<32>>(HashAlgorithm_t.CRC32) decision_hash;
    Hash<bit<16>>(HashAlgorithm_t.CRC16) decision_tag_hash;
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
    action hash_session_tag() {
        h16 = session_tag_hash.get({ig_md.key.ip_a, ig_md.key.ip_b, ig_md.key.port_a, ig_md.key.port_b,
                                    ig_md.key.protocol});
    }

    apply {
        if (hdr.decision.isValid()) {
            if (hdr.decision.magic == RECORD_MAGIC && hdr.decision.version == RECORD_VERSION &&
                    hdr.decision.rtype == RECORD_DECISION) {
                hash_decision();
                hash_decision_tag();
                tag = h[31:16] ++ h16[15:1] ++ 1w1;
                write_tag.execute(h[15:0]);
                write_class.execute(h[15:0]);
                events.count(0);
                ig_md.drop_reason = DROP_DECISION;
            } else {
                ig_md.drop_reason = DROP_BAD_DECISION;
            }
        } else if (hdr.ipv4.isValid()) {
            hash_session_tag();
            bit<16> slot = ig_md.session_hash[15:0];
            tag = ig_md.session_hash[31:16] ++ h16[15:1] ++ 1w1;
            bit<32> owner = read_tag.execute(slot);
            class_id = read_class.execute(slot);
            if (owner == tag) {
                events.count(1);
                queue_map.apply();
            }
        }
    }
}

#endif

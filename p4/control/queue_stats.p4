/* Egress queueing delay per (port, queue): what the priority module buys, measured by the switch.
 * delay = egress global timestamp - ingress MAC timestamp (bridged).
 * Registers SwitchEgress.queue_stats.{packets, delay_sum_us, delay_max}, index = egress_port ++ qid (9 + 5 bits):
 * delay_sum_us adds the delay in 1.024 us units (egress us - ingress us, each ns >> 10, so the sum lasts
 * hours, saturating); delay_max is in ns (32-bit difference of the timestamps' low halves). */
#ifndef _SRCHAIN_QUEUE_STATS_P4_
#define _SRCHAIN_QUEUE_STATS_P4_

control QueueStats(
        in headers_t hdr,
        in egress_intrinsic_metadata_t eg_intr_md,
        in egress_intrinsic_metadata_from_parser_t eg_prsr_md) {
    bit<32> delay;      /* ns, clamped */
    bit<32> delay_us;   /* 1.024 us units */
    /* ns >> 10 without a shifter: a hash unit in IDENTITY mode selects bits 41..10 of a timestamp */
    Hash<bit<32>>(HashAlgorithm_t.IDENTITY) now_us;
    Hash<bit<32>>(HashAlgorithm_t.IDENTITY) ingress_us;
    bit<32> ingress_us_value;
    action ingress_in_us() {
        ingress_us_value = ingress_us.get({hdr.bridged.ingress_tstamp[41:10]});
    }
    action delay_in_us() {
        delay_us = now_us.get({eg_prsr_md.global_tstamp[41:10]}) - ingress_us_value;
    }

    Register<bit<32>, queue_index_t>(QUEUE_STATS_SIZE, 0) packets;
    RegisterAction<bit<32>, queue_index_t, bit<32>>(packets) count_packet = {
        void apply(inout bit<32> value) {
            value = value + 1;
        }
    };
    Register<bit<32>, queue_index_t>(QUEUE_STATS_SIZE, 0) delay_sum_us;
    RegisterAction<bit<32>, queue_index_t, bit<32>>(delay_sum_us) add_delay = {
        void apply(inout bit<32> value) {
            value = value |+| delay_us;
        }
    };
    Register<bit<32>, queue_index_t>(QUEUE_STATS_SIZE, 0) delay_max;
    RegisterAction<bit<32>, queue_index_t, bit<32>>(delay_max) max_delay = {
        void apply(inout bit<32> value) {
            if (delay > value) {
                value = delay;
            }
        }
    };

    apply {
        /* 32-bit: bf-p4c cannot allocate 48-bit arithmetic on the intrinsic timestamps, nor shift a computed
           value in the action that computes it; a TM holds a packet for milliseconds, far below 2^32 ns */
        delay = eg_prsr_md.global_tstamp[31:0] - hdr.bridged.ingress_tstamp[31:0];
        ingress_in_us();
        delay_in_us();
        /* the whole device port: a real Tofino's ports are 0-71, 128-199, 256-327, 384-455 (4 pipes) */
        queue_index_t index = eg_intr_md.egress_port ++ eg_intr_md.egress_qid;
        count_packet.execute(index);
        add_delay.execute(index);
        max_delay.execute(index);
    }
}

#endif

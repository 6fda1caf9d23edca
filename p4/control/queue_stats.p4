/* Egress queueing delay per (port, queue): what the priority module buys, measured by the switch.
 * delay = egress global timestamp - ingress MAC timestamp (bridged).
 * Registers SwitchEgress.queue_stats.{packets, delay_sum_us, delay_max}, index = egress_port[3:0] ++ qid:
 * delay_sum_us adds the delay in 1.024 us units (ns >> 10, so the sum lasts hours, saturating);
 * delay_max is in ns, clamped to 32 bits. */
#ifndef _SRCHAIN_QUEUE_STATS_P4_
#define _SRCHAIN_QUEUE_STATS_P4_

control QueueStats(
        in headers_t hdr,
        in egress_intrinsic_metadata_t eg_intr_md,
        in egress_intrinsic_metadata_from_parser_t eg_prsr_md) {
    bit<32> delay;      /* ns, clamped */
    bit<32> delay_us;   /* 1.024 us units */

    Register<bit<32>, bit<9>>(512, 0) packets;
    RegisterAction<bit<32>, bit<9>, bit<32>>(packets) count_packet = {
        void apply(inout bit<32> value) {
            value = value + 1;
        }
    };
    Register<bit<32>, bit<9>>(512, 0) delay_sum_us;
    RegisterAction<bit<32>, bit<9>, bit<32>>(delay_sum_us) add_delay = {
        void apply(inout bit<32> value) {
            value = value |+| delay_us;
        }
    };
    Register<bit<32>, bit<9>>(512, 0) delay_max;
    RegisterAction<bit<32>, bit<9>, bit<32>>(delay_max) max_delay = {
        void apply(inout bit<32> value) {
            if (delay > value) {
                value = delay;
            }
        }
    };

    apply {
        bit<48> d = eg_prsr_md.global_tstamp - hdr.bridged.ingress_tstamp;
        if (d[47:32] != 0) {
            delay = 0xFFFFFFFF;
        } else {
            delay = d[31:0];
        }
        delay_us = d[41:10];
        bit<9> index = eg_intr_md.egress_port[3:0] ++ eg_intr_md.egress_qid;
        count_packet.execute(index);
        add_delay.execute(index);
        max_delay.execute(index);
    }
}

#endif

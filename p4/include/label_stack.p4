/* srchain SR node: writing label stack entries (used by the classifier and the report encap). */
#ifndef _SRCHAIN_LABEL_STACK_P4_
#define _SRCHAIN_LABEL_STACK_P4_

/* Label i of a pushed stack: traffic class 0, bottom-of-stack bit b, the action's `ttl`. */
#define MPLS_LABEL(i, l, b) \
    hdr.mpls[i].setValid(); hdr.mpls[i].label = l; hdr.mpls[i].tc = 0; hdr.mpls[i].bos = b; hdr.mpls[i].ttl = ttl;

#endif

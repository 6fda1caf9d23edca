"""VNF micro-services of the reference chain (formatter, classifier, aggregator, attack mitigation) and the traffic generator."""

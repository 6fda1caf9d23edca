"""VNF micro-services of the reference chain and the traffic generator.

Services: formatter, classifier, aggregator, attack mitigation; record layouts live in `srchain_contracts.records`.
"""

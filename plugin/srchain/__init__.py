"""srchain: service chaining with SR-MPLS across P4 switches and VNFs, operated through ETSI OSM."""

__version__ = "0.1.0"

"""`srchain demo --via-osm`: the demo's testbed deployed through the NBI, LCM and unit-agent stand-ins (docs/demo.md
"Through OSM's stand-ins"). The VMs OSM would boot are network namespaces with a management SSH server each
(`vmssh`), their services run under a supervisor the VM's `systemctl` stand-in restarts (`supervise`)."""

"""A Juju unit-agent stand-in and a small LCM stand-in, for tests and local trials (NOT Juju, NOT OSM).

`hooktools`: the hook tools a charm's code calls (`config-get`, `action-get`, `status-set`, `juju-log`,
`secret-*` on a Juju that has them, `relation-*`, ...) as one stdlib-only module launched under each tool's name
from a unit's `bin/`, backed by the unit's JSON state file. `relations`: the relations of one model (a store the
units' hook tools read; `juju integrate` / `remove-relation` and the relation hooks in the uniter's order).
`unit`: one unit of a built charm directory: its own copy of
the charm, `dispatch` run with the `JUJU_*` environment Juju gives a hook or an action, application config set as
Juju sets it (unknown keys and wrong types refused, nothing half-applied). `lcm`: the order in which OSM's LCM and
N2VC drive a proxy charm or the NS charm through day 1 (relations first) and day 2 (docs/osm.md, "The unit-agent and LCM
stand-ins").
"""

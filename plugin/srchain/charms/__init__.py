"""The logic behind the OSM charms in charms/: one module per charm, called by its thin `src/charm.py`.

Every action function takes the action's parameters as OSM passes them (strings and integers) and
returns a JSON-serialisable result; it raises `ActionError` with a message naming the parameter and the
reason, which the charm turns into `ops_glue.fail_action` (the message as the results' `output`, which N2VC shows,
and `event.fail`: OSM marks the operation FAILED with it)."""

from srchain.remote import RemoteError

# An action that cannot be done; the message is shown to the OSM user as is. The transports' failures
# (srchain.remote) are of the same kind and already phrased for the operator, so one class serves both.
ActionError = RemoteError

"""The logic behind the OSM charms in charms/: one module per charm, called by its thin `src/charm.py`.

Every action function takes the action's parameters as OSM passes them (strings and integers) and
returns a JSON-serialisable result; it raises `ActionError` with a message naming the parameter and the
reason, which the charm turns into `event.fail(...)` (OSM marks the operation FAILED)."""


class ActionError(Exception):
    """An action that cannot be done; the message is shown to the OSM user as is."""

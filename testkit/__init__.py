"""StarPunk's test support: running sites, the owner, ports, settings, waiting, limits and the pytest plugin.

Import the module you need (`from testkit.site import Lab`); this package file
imports nothing, so a session without the docker SDK can still use the parts
that do not need it (waiting, ports, env, web, owner, limits).
"""
